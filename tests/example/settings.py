"""The test settings plus the example chat app and URLs.

``pytest tests/example --ds tests.example.settings`` runs the example's tests with the chat app
installed from the start (its tables made by the normal test-database setup). The default
``tests.settings`` works too: ``tests/example/conftest.py`` then installs the app per test.
"""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "example_project.chat"]
ROOT_URLCONF = "example_project.urls"
