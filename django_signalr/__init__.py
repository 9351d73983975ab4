"""django_signalr: an ASP.NET Core SignalR server in a Django project.

The names below are the public API (see API.md). They are imported lazily so that listing
``django_signalr`` in ``INSTALLED_APPS`` imports nothing that needs the app registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import get_hub_context
    from .exceptions import HubException
    from .hub import Hub, HubCallerContext, hub_method
    from .routing import hub_path

__all__ = ["Hub", "HubCallerContext", "HubException", "get_hub_context", "hub_method", "hub_path"]

_EXPORTS = {
    "Hub": ".hub",
    "HubCallerContext": ".hub",
    "hub_method": ".hub",
    "HubException": ".exceptions",
    "get_hub_context": ".context",
    "hub_path": ".routing",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'django_signalr' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module, __name__), name)
