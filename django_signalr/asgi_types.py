"""ASGI type names used across the package (asgiref's, and the Channels consumer scope)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable

if TYPE_CHECKING:
    from channels.consumer import _ChannelScope as ConsumerScope
else:
    ConsumerScope = dict

# The scope as django_signalr passes it along: a plain dict, with its own keys added.
Scope = dict[str, Any]
ASGIApp = Any

__all__ = ["ASGIApp", "ASGIReceiveCallable", "ASGISendCallable", "ConsumerScope", "Scope"]
