"""Bearer tokens, custom authenticators and user ids (sessions: see tests/e2e)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.test import override_settings

from django_signalr.auth import authenticate_token, create_access_token
from django_signalr.testing import HubCommunicator
from tests.hubs import EchoHub

pytestmark = pytest.mark.django_db(transaction=True)


async def test_token_round_trip_and_refusals() -> None:
    alice = await User.objects.acreate_user("alice", password="secret-1")
    token = create_access_token(alice)
    assert (await authenticate_token(token)) == alice
    assert await authenticate_token(token + "x") is None
    assert await authenticate_token("not-a-token") is None
    assert await authenticate_token(create_access_token(alice, expires_in=-1)) is None

    alice.set_password("secret-2")  # a new password revokes earlier tokens
    await alice.asave()
    assert await authenticate_token(token) is None
    fresh = create_access_token(alice)
    assert (await authenticate_token(fresh)) == alice

    alice.is_active = False
    await alice.asave()
    assert await authenticate_token(fresh) is None


async def whoami(**kwargs: Any) -> Any:
    communicator = HubCommunicator(EchoHub, **kwargs)
    await communicator.connect()
    try:
        return await communicator.invoke("Whoami")
    finally:
        await communicator.disconnect()


async def test_bearer_header_and_access_token_query() -> None:
    alice = await User.objects.acreate_user("alice")
    token = create_access_token(alice, expires_in=60)
    assert await whoami(headers=[(b"authorization", f"Bearer {token}".encode())]) == "alice"
    assert await whoami(query_string=f"access_token={token}") == "alice"
    assert await whoami(headers=[(b"authorization", b"Bearer forged")]) is None


async def find_user(token: str) -> User | None:
    """A custom TOKEN_AUTHENTICATOR: the token is a username (tests only!)."""
    return await User.objects.filter(username=token).afirst()


async def test_custom_token_authenticator() -> None:
    await User.objects.acreate_user("bob")
    with override_settings(SIGNALR={**settings.SIGNALR, "TOKEN_AUTHENTICATOR": "tests.consumers.test_auth.find_user"}):
        assert await whoami(headers=[(b"authorization", b"Bearer bob")]) == "bob"
        assert await whoami(headers=[(b"authorization", b"Bearer nobody")]) is None


def username_id(user: Any, scope: dict[str, Any]) -> str | None:
    return user.get_username() if user.is_authenticated else None


async def test_user_id_provider_decides_what_clients_user_matches() -> None:
    alice = await User.objects.acreate_user("alice")
    with override_settings(SIGNALR={**settings.SIGNALR, "USER_ID_PROVIDER": "tests.consumers.test_auth.username_id"}):
        receiver = HubCommunicator(EchoHub, user=alice)
        sender = HubCommunicator(EchoHub, user=AnonymousUser())
        await receiver.connect()
        await sender.connect()
        await sender.invoke("SendToUser", "alice", "by name")
        assert (await receiver.receive_invocation("Receive")).arguments == ["by name"]
        await sender.invoke("SendToUser", str(alice.pk), "by pk")
        assert await receiver.receive_nothing(0.2)
        await receiver.disconnect()
        await sender.disconnect()


async def test_anonymous_connections_have_no_user_identifier() -> None:
    communicator = HubCommunicator(EchoHub)
    await communicator.connect()
    assert await communicator.invoke("Whoami") is None
    await communicator.disconnect()


def test_tokens_carry_an_expiry() -> None:
    from django.core import signing

    user = User(pk=7, username="x", password="!")
    payload = signing.loads(create_access_token(user, expires_in=10), salt="django_signalr.auth.access_token")
    assert payload["u"] == "7"
    assert abs(payload["e"] - (time.time() + 10)) < 2
