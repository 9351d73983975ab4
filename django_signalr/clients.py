"""``clients`` and ``groups``: who a message goes to. Every call goes to the lifetime manager,
except ``caller``, which writes straight to the calling connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from .protocol import InvocationMessage

if TYPE_CHECKING:
    from .hub_connection import HubConnection
    from .lifetime.base import HubLifetimeManager

Deliver = Callable[[str, Sequence[Any]], Awaitable[None]]


def _names(values: Collection[str] | str, what: str) -> list[str]:
    """Accept a collection of names; a bare string would silently become its characters."""
    if isinstance(values, str):
        raise TypeError(f"Expected a collection of {what}, got the string {values!r}")
    names = list(values)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{what.capitalize()} must be strings, got {name!r}")
    return names


def check_name(value: str, what: str) -> str:
    """``value`` if it is a string; a ``TypeError`` naming ``what`` otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"A {what} must be a string, got {value!r}")
    return value


class ClientProxy:
    """Some set of connections; ``await proxy.send("Method", *args)`` calls ``Method`` on each
    (a non-blocking invocation: nothing comes back)."""

    __slots__ = ("_deliver",)

    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def send(self, method: str, *args: Any) -> None:
        await self._deliver(check_name(method, "method name"), args)


Invoke = Callable[[str, Sequence[Any], "float | None"], Awaitable[Any]]


class SingleClientProxy(ClientProxy):
    """One connection: ``send``, and ``invoke`` which returns the client's result (client
    results): ``HubException`` with the client's error text if it answers with an error,
    ``ConnectionNotFoundError``/``ConnectionDisconnectedError`` if there is no client to answer,
    ``TimeoutError`` after ``timeout`` seconds (``None``: no limit)."""

    __slots__ = ("_invoke",)

    def __init__(self, deliver: Deliver, invoke: Invoke) -> None:
        super().__init__(deliver)
        self._invoke = invoke

    async def invoke(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        return await self._invoke(check_name(method, "method name"), args, timeout)


class HubClients:
    """The ``clients`` of ``get_hub_context(Hub)``: every target except the caller-relative ones."""

    __slots__ = ("_manager",)

    def __init__(self, manager: HubLifetimeManager) -> None:
        self._manager = manager

    @property
    def all(self) -> ClientProxy:
        return ClientProxy(self._manager.send_all)

    def all_except(self, excluded_ids: Collection[str]) -> ClientProxy:
        excluded = frozenset(_names(excluded_ids, "connection ids"))
        return ClientProxy(lambda method, args: self._manager.send_all(method, args, excluded))

    def client(self, connection_id: str) -> SingleClientProxy:
        connection_id = check_name(connection_id, "connection id")
        manager = self._manager
        return SingleClientProxy(
            lambda method, args: manager.send_connections([connection_id], method, args),
            lambda method, args, timeout: manager.invoke_connection(connection_id, method, args, timeout),
        )

    def clients(self, connection_ids: Collection[str]) -> ClientProxy:
        ids = _names(connection_ids, "connection ids")
        return ClientProxy(lambda method, args: self._manager.send_connections(ids, method, args))

    def group(self, group_name: str) -> ClientProxy:
        return self.groups([check_name(group_name, "group name")])

    def groups(self, group_names: Collection[str]) -> ClientProxy:
        names = _names(group_names, "group names")
        return ClientProxy(lambda method, args: self._manager.send_groups(names, method, args))

    def group_except(self, group_name: str, excluded_ids: Collection[str]) -> ClientProxy:
        names = [check_name(group_name, "group name")]
        excluded = frozenset(_names(excluded_ids, "connection ids"))
        return ClientProxy(lambda method, args: self._manager.send_groups(names, method, args, excluded))

    def user(self, user_id: str) -> ClientProxy:
        return self.users([check_name(user_id, "user id")])

    def users(self, user_ids: Collection[str]) -> ClientProxy:
        ids = _names(user_ids, "user ids")
        return ClientProxy(lambda method, args: self._manager.send_users(ids, method, args))


class HubCallerClients(HubClients):
    """A hub's ``self.clients``: adds ``caller``, ``others`` and ``others_in_group``, and
    applies ASP.NET Core's rules to client results asked from inside a hub."""

    __slots__ = ("_connection", "_invoke_allowed")

    def __init__(self, manager: HubLifetimeManager, connection: HubConnection, *, invoke_allowed: bool = True) -> None:
        super().__init__(manager)
        self._connection = connection
        self._invoke_allowed = invoke_allowed

    @property
    def caller(self) -> SingleClientProxy:
        connection = self._connection

        async def deliver(method: str, args: Sequence[Any]) -> None:
            connection.write_message(InvocationMessage(method, args))
            await connection.wait_writable()

        async def invoke(method: str, args: Sequence[Any], timeout: float | None) -> Any:
            connection.check_client_results(invoke_allowed=self._invoke_allowed)
            return await self._manager.invoke_connection(connection.connection_id, method, args, timeout)

        return SingleClientProxy(deliver, invoke)

    def client(self, connection_id: str) -> SingleClientProxy:
        proxy = super().client(connection_id)
        invoke = proxy._invoke
        connection = self._connection

        async def checked(method: str, args: Sequence[Any], timeout: float | None) -> Any:
            connection.check_client_results(invoke_allowed=self._invoke_allowed)
            return await invoke(method, args, timeout)

        proxy._invoke = checked
        return proxy

    @property
    def others(self) -> ClientProxy:
        return self.all_except([self._connection.connection_id])

    def others_in_group(self, group_name: str) -> ClientProxy:
        return self.group_except(group_name, [self._connection.connection_id])


class GroupManager:
    """``groups.add`` / ``groups.discard`` for any connection of the hub, wherever it is."""

    __slots__ = ("_manager",)

    def __init__(self, manager: HubLifetimeManager) -> None:
        self._manager = manager

    async def add(self, connection_id: str, group: str) -> None:
        await self._manager.add_to_group(check_name(connection_id, "connection id"), check_name(group, "group name"))

    async def discard(self, connection_id: str, group: str) -> None:
        await self._manager.remove_from_group(
            check_name(connection_id, "connection id"), check_name(group, "group name")
        )
