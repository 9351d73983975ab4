"""System checks: misconfiguration reported at startup with stable ids (``signalr.E001`` ...)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.utils.module_loading import import_string

from .conf import DEFAULTS, TRANSPORT_NAMES, resolve_options, user_settings
from .protocol import PROTOCOLS

_POSITIVE_SECONDS = (
    "keep_alive_interval",
    "client_timeout_interval",
    "handshake_timeout",
    "disconnect_timeout",
    "long_polling_poll_timeout",
)


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    raw = user_settings()
    for key in sorted(set(raw) - set(DEFAULTS)):
        messages.append(
            Warning(
                f"SIGNALR[{key!r}] is not a django_signalr option and is ignored.",
                hint=f"Known options: {', '.join(sorted(DEFAULTS))}.",
                id="signalr.W001",
            )
        )
    options = resolve_options()
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    if options.channel_layer not in layers:
        messages.append(
            Error(
                f"django_signalr needs a channel layer, and CHANNEL_LAYERS[{options.channel_layer!r}] is not set.",
                hint='For one process: CHANNEL_LAYERS = {"default": {"BACKEND": '
                '"channels.layers.InMemoryChannelLayer"}}; for several, channels_redis.',
                id="signalr.E001",
            )
        )
    messages.extend(_check_options("SIGNALR", raw, options))
    from .routing import iter_endpoints

    seen: set[type] = set()
    for endpoint in iter_endpoints():
        hub = endpoint.hub_class
        if hub in seen:
            continue
        seen.add(hub)
        overrides = {key: getattr(hub, key.lower()) for key in DEFAULTS if hasattr(hub, key.lower())}
        if overrides:
            messages.extend(_check_options(hub.__qualname__, overrides, resolve_options(hub)))
    return messages


def _check_options(where: str, raw: dict[str, Any], options: Any) -> Iterable[CheckMessage]:
    yield from _check_names(where, "TRANSPORTS", raw.get("TRANSPORTS"), TRANSPORT_NAMES, "signalr.E002")
    yield from _check_names(where, "PROTOCOLS", raw.get("PROTOCOLS"), tuple(PROTOCOLS), "signalr.E003")
    for key in ("TOKEN_AUTHENTICATOR", "USER_ID_PROVIDER"):
        if key in raw:
            try:
                import_string(raw[key])
            except ImportError as error:
                yield Error(f"{where}[{key!r}] cannot be imported: {error}", id="signalr.E004")
    for entry in raw.get("HUB_FILTERS", ()):
        yield from _check_filter(where, entry)
    for name in _POSITIVE_SECONDS:
        if getattr(options, name) <= 0:
            yield Error(f"{where}: {name.upper()} must be a positive duration.", id="signalr.E005")
    if options.maximum_parallel_invocations_per_client < 1:
        yield Error(f"{where}: MAXIMUM_PARALLEL_INVOCATIONS_PER_CLIENT must be at least 1.", id="signalr.E005")
    size = options.maximum_receive_message_size
    if size is not None and (not isinstance(size, int) or size <= 0):
        yield Error(f"{where}: MAXIMUM_RECEIVE_MESSAGE_SIZE must be a positive int or None.", id="signalr.E005")


def _check_filter(where: str, entry: Any) -> Iterable[CheckMessage]:
    from .filters import HubFilter

    if isinstance(entry, HubFilter):
        return
    try:
        filter_class = import_string(entry) if isinstance(entry, str) else None
    except ImportError as error:
        yield Error(f"{where}['HUB_FILTERS'] entry {entry!r} cannot be imported: {error}", id="signalr.E006")
        return
    if not (isinstance(filter_class, type) and issubclass(filter_class, HubFilter)):
        yield Error(
            f"{where}['HUB_FILTERS'] entry {entry!r} is not a HubFilter instance or the dotted path of a subclass.",
            id="signalr.E006",
        )


def _check_names(
    where: str, key: str, value: Sequence[str] | None, known: Sequence[str], check_id: str
) -> Iterable[CheckMessage]:
    if value is None:
        return
    if isinstance(value, str) or not value:
        yield Error(f"{where}[{key!r}] must be a non-empty list.", id=check_id)
        return
    unknown = [name for name in value if name not in known]
    if unknown:
        yield Error(
            f"{where}[{key!r}] has unknown names {unknown}.",
            hint=f"Use names exactly as the clients do: {', '.join(known)}.",
            id=check_id,
        )
