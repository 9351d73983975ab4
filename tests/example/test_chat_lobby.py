"""The lobby's people-per-room counts: ChatHub's connection queries, called from a sync view."""

from __future__ import annotations

import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient, override_settings
from django.urls import path

from django_signalr.testing import HubCommunicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("chat_app")]

TIMEOUT = 5
# The test settings have no templates: the example's, found in the chat app.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]


def _urlpatterns() -> list[Any]:
    """The example's pages without its admin (``django.contrib.admin`` is not installed in
    the test settings, and ``{% url %}`` in the templates needs these names)."""
    from django.contrib.auth import views as auth_views

    from example_project.chat import views

    return [
        path("", views.lobby, name="lobby"),
        path("room/<slug:name>/", views.room, name="room"),
        path("accounts/login/", views.LoginView.as_view(), name="login"),
        path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    ]


def __getattr__(name: str) -> Any:
    # This module is the URLconf of its tests; built lazily, after the chat app is installed.
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


@sync_to_async
def make_users(*names: str) -> list[Any]:
    return [get_user_model().objects.create_user(name, password=name) for name in names]


async def connect(user: Any) -> HubCommunicator:
    from example_project.chat.hubs import ChatHub

    communicator = HubCommunicator(ChatHub, user=user)
    await communicator.connect(timeout=TIMEOUT)
    return communicator


async def lobby_counts(user: Any) -> dict[str, int]:
    client = AsyncClient()
    await client.aforce_login(user)
    with override_settings(ROOT_URLCONF=__name__, TEMPLATES=TEMPLATES):
        response = await client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    found = re.findall(r'href="/room/([-\w]+)/">#\1</a>\s*<span class="muted">(\d+) here', html)
    return {room: int(people) for room, people in found}


async def test_lobby_counts_people_not_tabs() -> None:
    alice, bob = await make_users("alice", "bob")
    assert await lobby_counts(alice) == {"general": 0, "random": 0}
    a, b1, b2 = await connect(alice), await connect(bob), await connect(bob)
    try:
        for communicator in (a, b1, b2):
            await communicator.invoke("JoinRoom", "general", timeout=TIMEOUT)
        await b1.invoke("JoinRoom", "random", timeout=TIMEOUT)
        assert await lobby_counts(alice) == {"general": 2, "random": 1}
        await b1.disconnect()
        assert await lobby_counts(alice) == {"general": 2, "random": 0}
        await b2.disconnect()
        assert await lobby_counts(alice) == {"general": 1, "random": 0}
    finally:
        await a.disconnect()


async def test_lobby_lists_other_rooms_only_while_someone_is_in_them() -> None:
    """Rooms in use come from ``connections.groups()``: a room is listed while someone is in it."""
    alice, bob = await make_users("alice", "bob")
    b = await connect(bob)
    try:
        await b.invoke("JoinRoom", "side", timeout=TIMEOUT)
        assert await lobby_counts(alice) == {"general": 0, "random": 0, "side": 1}
        await b.invoke("LeaveRoom", "side", timeout=TIMEOUT)
        assert await lobby_counts(alice) == {"general": 0, "random": 0}
        await b.invoke("JoinRoom", "side", timeout=TIMEOUT)
    finally:
        await b.disconnect()
    assert await lobby_counts(alice) == {"general": 0, "random": 0}
