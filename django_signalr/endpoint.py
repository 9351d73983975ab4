"""A routed hub: its class, the transports its route allows, and its shared machinery.

The dispatcher (method table) and the lifetime manager exist once per hub class, however many
routes serve it, so groups and ``get_hub_context()`` are per hub as in ASP.NET Core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .conf import TRANSPORT_NAMES, HubOptions, resolve_options
from .dispatcher import HubDispatcher
from .hub import Hub
from .lifetime.layer import ChannelLayerHubLifetimeManager

_dispatchers: dict[type[Hub], HubDispatcher] = {}
_managers: dict[type[Hub], ChannelLayerHubLifetimeManager] = {}


def hub_dispatcher(hub_class: type[Hub]) -> HubDispatcher:
    dispatcher = _dispatchers.get(hub_class)
    if dispatcher is None:
        dispatcher = _dispatchers[hub_class] = HubDispatcher(hub_class)
    return dispatcher


def lifetime_manager(hub_class: type[Hub]) -> ChannelLayerHubLifetimeManager:
    manager = _managers.get(hub_class)
    if manager is None:
        manager = _managers[hub_class] = ChannelLayerHubLifetimeManager(hub_class)
    return manager


@dataclass(frozen=True, slots=True)
class HubEndpoint:
    hub_class: type[Hub]
    route_transports: Sequence[str] | None = None

    @property
    def options(self) -> HubOptions:
        return resolve_options(self.hub_class)

    @property
    def dispatcher(self) -> HubDispatcher:
        return hub_dispatcher(self.hub_class)

    @property
    def manager(self) -> ChannelLayerHubLifetimeManager:
        return lifetime_manager(self.hub_class)

    def transports(self) -> list[str]:
        """Enabled transports in the clients' order of preference."""
        enabled = set(self.options.transports)
        if self.route_transports is not None:
            enabled &= set(self.route_transports)
        return [name for name in TRANSPORT_NAMES if name in enabled]
