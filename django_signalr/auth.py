"""Who is connecting: session cookies, bearer tokens, user ids and authorization checks.

Session cookies work as everywhere in Channels (``AuthMiddlewareStack``). Bearer tokens come
from ``Authorization: Bearer <t>`` or, for browsers that cannot set headers on WebSocket and
EventSource, the ``access_token`` query parameter. A request that presents a token is judged by
the token alone: an invalid token means an anonymous user, never a fall back to the session.

The built-in tokens are Django-signed (``django.core.signing``, keyed by ``SECRET_KEY``) and
carry the user's session hash, so changing the password revokes them as it ends sessions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import aget_user, get_user_model
from django.contrib.sessions.backends.base import SessionBase
from django.core import signing
from django.http.cookie import parse_cookie
from django.utils.crypto import constant_time_compare

from .asgi_types import ASGIApp, Scope
from .conf import load_callable, resolve_options

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    User = AbstractBaseUser | AnonymousUser


_TOKEN_SALT = "django_signalr.auth.access_token"
_SESSION_HASH_LENGTH = 16


def create_access_token(user: AbstractBaseUser, expires_in: float = 3600) -> str:
    """A signed token for ``user``, valid ``expires_in`` seconds, that the default
    ``TOKEN_AUTHENTICATOR`` accepts. Give it to the client's ``accessTokenFactory``."""
    payload = {
        "u": str(user.pk),
        "e": int(time.time() + expires_in),
        "h": user.get_session_auth_hash()[:_SESSION_HASH_LENGTH],
    }
    return signing.dumps(payload, salt=_TOKEN_SALT)


async def authenticate_token(token: str) -> AbstractBaseUser | None:
    """The default ``TOKEN_AUTHENTICATOR``: the active user a valid, unexpired token names."""
    try:
        payload = signing.loads(token, salt=_TOKEN_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("e", 0) < time.time():
        return None
    model = get_user_model()
    try:
        user = await model._default_manager.aget(pk=str(payload.get("u")))
    except (model.DoesNotExist, ValueError, TypeError):
        return None
    if not getattr(user, "is_active", True):
        return None
    current = user.get_session_auth_hash()[:_SESSION_HASH_LENGTH]
    if not constant_time_compare(current, str(payload.get("h", ""))):
        return None
    return user


def default_user_id(user: User, scope: Scope) -> str | None:
    """The default ``USER_ID_PROVIDER``: the primary key as a string, ``None`` if anonymous."""
    return str(user.pk) if user.is_authenticated else None


def user_identifier(user: User, scope: Scope) -> str | None:
    """What ``clients.user(...)`` matches for this connection, from ``USER_ID_PROVIDER``."""
    provider = load_callable(resolve_options().user_id_provider)
    value: object = provider(user, scope)
    return None if value is None else str(value)


async def is_authorized(user: User, login_required: bool, permissions: Sequence[str]) -> bool:
    """Whether ``user`` meets a hub's or a method's requirement (permissions imply login)."""
    if not (login_required or permissions):
        return True
    if not user.is_authenticated:
        return False
    if not permissions:
        return True
    has_perms = getattr(user, "has_perms", None)  # user models without PermissionsMixin have none
    if has_perms is None:
        return False
    return bool(await database_sync_to_async(has_perms)(permissions))


def bearer_token(scope: Scope) -> str | None:
    """The token a request presents, from the Authorization header or ``access_token``."""
    header: bytes
    for name, header in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = header.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    query: bytes = scope.get("query_string", b"")
    if b"access_token=" in query:
        for key, value in parse_qsl(query.decode("latin-1")):
            if key == "access_token" and value:
                return value
    return None


class _SessionRequest:
    """What ``django.contrib.auth.aget_user`` reads of a request."""

    def __init__(self, session: SessionBase) -> None:
        self.session = session


def request_cookies(scope: Scope) -> dict[str, str]:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            return parse_cookie(value.decode("latin-1"))
    return {}


async def authenticate_scope(scope: Scope) -> Scope:
    """``scope`` with ``"user"`` set: from a bearer token when one is presented, else the user
    an outer middleware already set, else the session cookie.

    The session user is looked up once, with Django's own ``aget_user`` (session hash and key
    fallbacks included), and ``"cookies"``/``"session"`` are filled as Channels'
    ``AuthMiddlewareStack`` fills them.
    """
    token = bearer_token(scope)
    if token is not None:
        authenticator = load_callable(resolve_options().token_authenticator)
        user = await authenticator(token)
        return {**scope, "user": user or anonymous_user()}
    if "user" in scope:
        return scope
    cookies = request_cookies(scope)
    key = cookies.get(settings.SESSION_COOKIE_NAME)
    if not key:
        return {**scope, "cookies": cookies, "user": anonymous_user()}
    session: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(key)
    user = await aget_user(_SessionRequest(session))  # type: ignore[arg-type]
    return {**scope, "cookies": cookies, "session": session, "user": user}


class HubAuthMiddleware:
    """Authenticates hub requests (``authenticate_scope``). Unlike Channels'
    ``AuthMiddlewareStack`` it wraps nothing: a connection pays for authentication when it
    opens, not on every frame it sends."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.inner(await authenticate_scope(scope), receive, send)


def anonymous_user() -> AnonymousUser:
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser()
