"""Fixtures of the example project's tests.

The suite's default settings (``tests.settings``, from pyproject) do not install the example's
chat app, and pytest-django has set Django up before this file is read, so the settings module
cannot be switched here. Instead the ``chat_app`` fixture installs ``example_project.chat`` for
one test with ``override_settings(INSTALLED_APPS=...)`` (which re-populates the app registry,
so its templates are found). The app has no models: who is in a room comes from ChatHub's
connection queries. Under ``--ds tests.example.settings`` the app is already installed and the
fixture does nothing.

Use it with ``@pytest.mark.django_db(transaction=True)``: hub methods use the async ORM, which
runs in another thread than the test, so the data must be committed to be seen there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import override_settings

CHAT_APP = "example_project.chat"


@pytest.fixture
def chat_app(transactional_db: None) -> Iterator[None]:
    if CHAT_APP in settings.INSTALLED_APPS:
        yield
        return
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, CHAT_APP]):
        yield
