"""The backplane seam (ASP.NET Core's ``HubLifetimeManager``) and the encode-once message.

Everything that reaches more than the caller goes through a ``HubLifetimeManager``: the
``clients`` and ``groups`` proxies of a hub and of ``get_hub_context()`` only call it.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..protocol import PROTOCOLS, HubMessage, HubProtocol

if TYPE_CHECKING:
    from ..hub_connection import HubConnection


class SerializedMessage:
    """A message serialized at most once per protocol, however many connections receive it
    (ASP.NET Core's ``SerializedHubMessage``).

    Built from a message, it serializes lazily for each protocol asked for. Built from bytes
    that arrived through the channel layer, it only hands them out.
    """

    __slots__ = ("_serialized", "message")

    def __init__(self, message: HubMessage | None, serialized: Mapping[str, bytes] | None = None) -> None:
        self.message = message
        self._serialized: dict[str, bytes] = dict(serialized or {})

    def for_protocol(self, protocol: HubProtocol) -> bytes:
        data = self._serialized.get(protocol.name)
        if data is None:
            if self.message is None:
                raise LookupError(f"No {protocol.name} serialization was sent for this message")
            data = self._serialized[protocol.name] = protocol.write_message(self.message)
        return data

    def for_protocols(self, names: Iterable[str]) -> dict[str, bytes]:
        """Bytes for every named protocol, e.g. to send through the channel layer."""
        return {name: self.for_protocol(PROTOCOLS[name]) for name in names}


QueryKind = Literal["all", "groups", "users"]


class HubLifetimeManager(abc.ABC):
    """Tracks a hub's connections and groups and delivers messages to them, wherever they are.

    Sends are complete when the message is handed to every local connection's outbox and to
    the channel layer for the other processes; they never wait for slow clients.
    """

    @abc.abstractmethod
    async def on_connected(self, connection: HubConnection) -> None: ...

    @abc.abstractmethod
    async def on_disconnected(self, connection: HubConnection) -> None: ...

    @abc.abstractmethod
    async def send_all(self, method: str, args: Sequence[Any], excluded: Collection[str] = ()) -> None: ...

    @abc.abstractmethod
    async def send_connections(self, connection_ids: Collection[str], method: str, args: Sequence[Any]) -> None: ...

    @abc.abstractmethod
    async def send_groups(
        self,
        group_names: Sequence[str],
        method: str,
        args: Sequence[Any],
        excluded: Collection[str] = (),
    ) -> None: ...

    @abc.abstractmethod
    async def send_users(self, user_ids: Sequence[str], method: str, args: Sequence[Any]) -> None: ...

    @abc.abstractmethod
    async def invoke_connection(
        self, connection_id: str, method: str, args: Sequence[Any], timeout: float | None
    ) -> Any: ...

    @abc.abstractmethod
    async def add_to_group(self, connection_id: str, group_name: str) -> None: ...

    @abc.abstractmethod
    async def remove_from_group(self, connection_id: str, group_name: str) -> None: ...

    @abc.abstractmethod
    async def query(self, kind: QueryKind, name: str | None) -> dict[str, str | None]:
        """The live connections of the hub (``kind`` "all"), of a group ("groups") or of a user
        ("users") on every process, mapped to their user identifiers."""

    @abc.abstractmethod
    async def group_sizes(self) -> dict[str, int]:
        """Every group with members on some process, with its number of connections."""

    @abc.abstractmethod
    async def abort_connection(self, connection_id: str) -> bool:
        """Close a connection wherever it is, as ``context.abort()``; whether it was found."""
