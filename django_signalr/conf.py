"""``settings.SIGNALR`` merged over the defaults, and per-hub overrides.

A hub class may override any option with a class attribute of the same name in lower case
(``keep_alive_interval = 5``), as ``HubOptions<THub>`` overrides the global options in ASP.NET
Core. Options are resolved once per hub class and dropped when a test changes settings.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from .hub import Hub

TRANSPORT_NAMES = ("WebSockets", "ServerSentEvents", "LongPolling")

DEFAULTS: Mapping[str, Any] = {
    "KEEP_ALIVE_INTERVAL": 15.0,
    "CLIENT_TIMEOUT_INTERVAL": 30.0,
    "HANDSHAKE_TIMEOUT": 15.0,
    "MAXIMUM_RECEIVE_MESSAGE_SIZE": 32768,
    "ENABLE_DETAILED_ERRORS": False,
    "STREAM_BUFFER_CAPACITY": 10,
    "MAXIMUM_PARALLEL_INVOCATIONS_PER_CLIENT": 1,
    "ALLOW_STATEFUL_RECONNECTS": True,
    "STATEFUL_RECONNECT_BUFFER_SIZE": 100_000,
    "DISCONNECT_TIMEOUT": 15.0,
    "LONG_POLLING_POLL_TIMEOUT": 90.0,
    "TRANSPORTS": list(TRANSPORT_NAMES),
    "PROTOCOLS": ["json", "messagepack"],
    "TOKEN_AUTHENTICATOR": "django_signalr.auth.authenticate_token",
    "USER_ID_PROVIDER": "django_signalr.auth.default_user_id",
    # Not in ASP.NET Core, whose writes block the sender instead: a connection whose unsent
    # output grows past this many bytes (a client that stopped reading) is closed with an
    # error rather than buffered without bound or silently skipped.
    "MAXIMUM_SEND_BUFFER_SIZE": 4 * 1024 * 1024,
    # Which entry of CHANNEL_LAYERS carries groups and the backplane.
    "CHANNEL_LAYER": "default",
    # Hub filters for every hub (instances or dotted paths of classes); a hub's own
    # ``hub_filters`` attribute adds to these rather than replacing them.
    "HUB_FILTERS": [],
    # Keep the live connection registry (models.py) for the admin and for cluster-wide queries.
    "CONNECTION_REGISTRY": True,
}

_GLOBAL_ONLY = ("HUB_FILTERS", "CONNECTION_REGISTRY")

_SECONDS = (
    "KEEP_ALIVE_INTERVAL",
    "CLIENT_TIMEOUT_INTERVAL",
    "HANDSHAKE_TIMEOUT",
    "DISCONNECT_TIMEOUT",
    "LONG_POLLING_POLL_TIMEOUT",
)


def user_settings() -> dict[str, Any]:
    """The raw ``SIGNALR`` dict (``{}`` when unset)."""
    return dict(getattr(settings, "SIGNALR", None) or {})


def seconds(value: float | datetime.timedelta) -> float:
    """Options that are durations accept seconds or a ``timedelta``."""
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(value)


@dataclass(frozen=True, slots=True)
class HubOptions:
    """Every option, resolved for one hub class."""

    keep_alive_interval: float
    client_timeout_interval: float
    handshake_timeout: float
    maximum_receive_message_size: int | None
    enable_detailed_errors: bool
    stream_buffer_capacity: int
    maximum_parallel_invocations_per_client: int
    allow_stateful_reconnects: bool
    stateful_reconnect_buffer_size: int
    disconnect_timeout: float
    long_polling_poll_timeout: float
    transports: Sequence[str]
    protocols: Sequence[str]
    token_authenticator: str
    user_id_provider: str
    maximum_send_buffer_size: int
    channel_layer: str
    hub_filters: Sequence[Any]
    connection_registry: bool


_resolved: dict[type[Hub] | None, HubOptions] = {}


def resolve_options(hub_class: type[Hub] | None = None) -> HubOptions:
    """The options for ``hub_class`` (or the global ones), cached until settings change."""
    options = _resolved.get(hub_class)
    if options is None:
        options = _resolved[hub_class] = _resolve(hub_class)
    return options


def _resolve(hub_class: type[Hub] | None) -> HubOptions:
    merged = {**DEFAULTS, **user_settings()}
    values: dict[str, Any] = {}
    for key, default in merged.items():
        if key not in DEFAULTS:
            continue  # reported by the system check, not fatal here
        per_hub = hub_class is not None and key not in _GLOBAL_ONLY
        value = getattr(hub_class, key.lower(), default) if per_hub else default
        values[key.lower()] = seconds(value) if key in _SECONDS else value
    return HubOptions(**values)


@functools.cache
def load_callable(path: str) -> Callable[..., Any]:
    """Import a dotted-path option once (``TOKEN_AUTHENTICATOR``, ``USER_ID_PROVIDER``)."""
    return import_string(path)  # type: ignore[no-any-return]


@receiver(setting_changed)
def _clear_caches(*, setting: str, **kwargs: Any) -> None:
    if setting in ("SIGNALR", "CHANNEL_LAYERS"):
        _resolved.clear()
        load_callable.cache_clear()
