"""``get_hub_context()``: a hub's ``clients``, ``groups`` and ``connections`` from anywhere.

Views, tasks and management commands use it; it works in any process that shares the channel
layer, because it only talks to the hub's lifetime manager, whose sends cross the layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from .clients import GroupManager, HubClients
from .endpoint import lifetime_manager
from .hub import Hub
from .presence import HubConnections


@dataclass(frozen=True, slots=True)
class HubContext:
    clients: HubClients
    groups: GroupManager
    connections: HubConnections


def get_hub_context(hub_class: type[Hub]) -> HubContext:
    """``clients`` (everything but ``caller``/``others``), ``groups`` and ``connections`` of
    ``hub_class``."""
    manager = lifetime_manager(hub_class)
    return HubContext(HubClients(manager), manager.groups, manager.connections)
