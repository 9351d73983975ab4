"""The default ``HubLifetimeManager``: the Channels layer is the backplane.

A send serializes its message once per protocol, hands it to the local connections directly
and, unless the layer is in-memory, publishes one layer message per target layer group with
the bytes of every protocol the hub allows. Each other process receives it once (its node is
the group member, not its connections) and writes the bytes to its own connections.

A send to several groups (or users) publishes to each group's layer group and carries the
group's position in the list: a process delivers, for group ``i``, only to the members that
are in none of groups ``0..i-1`` -- those got it with the earlier group -- so a connection in
several of the groups gets the message once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from ..clients import GroupManager
from ..conf import HubOptions, resolve_options
from ..exceptions import ConnectionDisconnectedError, ConnectionNotFoundError, HubException
from ..presence import HubConnections
from ..protocol import InvocationMessage
from ..protocol.messagepack_protocol import packb, unpackb
from ..registry import RegistryWriter, live_nodes, registry_for
from . import names
from .base import HubLifetimeManager, QueryKind, SerializedMessage
from .node import HANDLERS, LocalHub, Node, describe, get_node, run_on_node

if TYPE_CHECKING:
    from ..hub import Hub
    from ..hub_connection import HubConnection

logger = logging.getLogger("django_signalr.lifetime")

# How long groups.add/discard wait for the process owning a remote connection to confirm.
GROUP_ACK_TIMEOUT = 5.0
# How long a cluster-wide query waits for each live process to answer.
QUERY_TIMEOUT = 2.0

_ALL, _GROUPS, _USERS, _CONNECTIONS = "all", "groups", "users", "connections"

_managers: dict[str, ChannelLayerHubLifetimeManager] = {}


class ChannelLayerHubLifetimeManager(HubLifetimeManager):
    """One per hub class and process; its state lives in the process's node."""

    def __init__(self, hub_class: type[Hub]) -> None:
        self.hub_class = hub_class
        self.path = f"{hub_class.__module__}.{hub_class.__qualname__}"
        self.key = names.hub_key(self.path)
        self.groups = GroupManager(self)
        self.connections = HubConnections(self)
        _managers[self.key] = self

    @property
    def options(self) -> HubOptions:
        return resolve_options(self.hub_class)

    def node(self, *, serving: bool = False) -> Node:
        return get_node(self.options.channel_layer, serving=serving)

    @staticmethod
    def _registry(node: Node) -> RegistryWriter:
        writer = registry_for(node)
        if writer.close not in node.closers:
            node.closers.append(writer.close)
        return writer

    def local_connections(self) -> dict[str, HubConnection]:
        """This process's connections of the hub (for tests and the admin registry)."""
        return self.node().hub(self.key).connections

    # -- connections -------------------------------------------------------------------------

    async def on_connected(self, connection: HubConnection) -> None:
        """Make the connection reachable from every process. The layer groups are joined
        first and the local maps filled last, so nothing is written to the connection before
        it is reachable everywhere -- the handshake answer, sent after this, comes first."""
        node = self.node(serving=True)
        connection_id = connection.connection_id
        user_id = connection.user_identifier
        steps = []
        if self.options.connection_registry:
            steps.append(self._registry(node).announce())
        if not node.local_only:
            layer_groups = [names.all_group(self.key), names.connection(self.key, connection_id)]
            if user_id is not None:
                layer_groups.append(names.user(self.key, user_id))
            steps.extend(node.join(group) for group in layer_groups)
        await asyncio.gather(*steps)
        local = node.hub(self.key)
        local.connections[connection_id] = connection
        if user_id is not None:
            local.users.setdefault(user_id, set()).add(connection_id)
        if self.options.connection_registry:
            self._registry(node).connected(connection)

    async def on_disconnected(self, connection: HubConnection) -> None:
        node = self.node(serving=True)
        local = node.hub(self.key)
        connection_id = connection.connection_id
        local.connections.pop(connection_id, None)
        if self.options.connection_registry:
            self._registry(node).disconnected(connection_id)
        for group in list(connection.group_names):
            self._forget_member(local.groups, group, connection_id)
        user_id = connection.user_identifier
        if user_id is not None:
            self._forget_member(local.users, user_id, connection_id)
        if node.local_only:
            return
        layer_groups = [names.group(self.key, group) for group in connection.group_names]
        layer_groups.append(names.all_group(self.key))
        layer_groups.append(names.connection(self.key, connection_id))
        if user_id is not None:
            layer_groups.append(names.user(self.key, user_id))
        results = await asyncio.gather(*(node.leave(g) for g in layer_groups), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                logger.warning("Leaving a layer group for %s failed: %s", connection_id, describe(result))

    @staticmethod
    def _forget_member(index: dict[str, set[str]], name: str, connection_id: str) -> None:
        members = index.get(name)
        if members is not None:
            members.discard(connection_id)
            if not members:
                del index[name]

    # -- sends -------------------------------------------------------------------------------

    async def send_all(self, method: str, args: Sequence[Any], excluded: Collection[str] = ()) -> None:
        await self._publish(method, args, _ALL, [], excluded)

    async def send_connections(self, connection_ids: Collection[str], method: str, args: Sequence[Any]) -> None:
        await self._publish(method, args, _CONNECTIONS, _unique(connection_ids), ())

    async def send_groups(
        self, group_names: Sequence[str], method: str, args: Sequence[Any], excluded: Collection[str] = ()
    ) -> None:
        await self._publish(method, args, _GROUPS, _unique(group_names), excluded)

    async def send_users(self, user_ids: Sequence[str], method: str, args: Sequence[Any]) -> None:
        await self._publish(method, args, _USERS, _unique(user_ids), ())

    async def _publish(
        self, method: str, args: Sequence[Any], kind: str, targets: list[str], excluded: Collection[str]
    ) -> None:
        message = SerializedMessage(InvocationMessage(method, list(args)))
        node = self.node()
        await run_on_node(node, self._publish_on_node(node, message, kind, targets, frozenset(excluded)))

    async def _publish_on_node(
        self, node: Node, message: SerializedMessage, kind: str, targets: list[str], excluded: frozenset[str]
    ) -> None:
        local = node.hubs.get(self.key) or LocalHub()
        receivers = _receivers(local, kind, targets, None, excluded)
        # Serialize before the first write, so an unserializable argument fails the send
        # instead of reaching some connections and not others.
        if node.local_only:
            used = {c.protocol.name for c in receivers if c.protocol is not None}
            message.for_protocols(used or self.options.protocols[:1])
            _deliver(node, receivers, message)
            return
        payload = message.for_protocols(self.options.protocols)
        _deliver(node, receivers, message)
        envelope = {
            "type": "signalr.send",
            "hub": self.key,
            "node": node.id,
            "kind": kind,
            "names": targets,
            "excluded": sorted(excluded),
            "payload": payload,
        }
        if kind == _ALL:
            await node.group_send(names.all_group(self.key), {**envelope, "index": None})
            return
        layer_name = {_GROUPS: names.group, _USERS: names.user, _CONNECTIONS: names.connection}[kind]
        for index, target in enumerate(targets):
            if kind == _CONNECTIONS and target in local.connections:
                continue  # delivered above
            await node.group_send(layer_name(self.key, target), {**envelope, "index": index})

    # -- client results ----------------------------------------------------------------------

    async def invoke_connection(
        self, connection_id: str, method: str, args: Sequence[Any], timeout: float | None
    ) -> Any:
        """Invoke ``method`` on one client and return its result, wherever the client is."""
        node = self.node()
        return await run_on_node(node, self._invoke_on_node(node, connection_id, method, args, timeout))

    async def _invoke_on_node(
        self, node: Node, connection_id: str, method: str, args: Sequence[Any], timeout: float | None
    ) -> Any:
        # Ids carry the node's id: unique in the cluster, and never a client's (digits only).
        invocation_id = "s" + node.new_id()
        message = SerializedMessage(InvocationMessage(method, list(args), invocation_id))
        connection = node.hub(self.key).connections.get(connection_id)
        if connection is not None:
            assert connection.protocol is not None
            return await connection.invoke_client(invocation_id, message.for_protocol(connection.protocol), timeout)
        if node.local_only:
            raise ConnectionNotFoundError(connection_id)
        result_ack = node.new_id()
        result = node.expect(result_ack)
        try:
            request = {
                "type": "signalr.invoke",
                "hub": self.key,
                "id": connection_id,
                "invocation": invocation_id,
                "payload": message.for_protocols(self.options.protocols),
                "timeout": timeout,
                "result_ack": result_ack,
            }
            answer = await node.request(request, GROUP_ACK_TIMEOUT, group=names.connection(self.key, connection_id))
            if answer is None or not answer.get("found"):
                raise ConnectionNotFoundError(connection_id)
            outcome = await asyncio.wait_for(result, timeout)
        finally:
            node.forget(result_ack)
        if "error" in outcome:
            raise HubException(outcome["error"])
        if outcome.get("disconnected"):
            raise ConnectionDisconnectedError(connection_id)
        if outcome.get("timeout"):
            raise TimeoutError(f"Connection '{connection_id}' did not answer within {timeout} s.")
        return unpackb(outcome["result"])

    # -- operating on connections anywhere ---------------------------------------------------

    async def abort_connection(self, connection_id: str) -> bool:
        """Close a connection wherever it is (a Close without reconnect, as ``context.abort()``);
        whether it was found."""
        node = self.node()
        return await run_on_node(node, self._abort_on_node(node, connection_id))

    async def _abort_on_node(self, node: Node, connection_id: str) -> bool:
        connection = node.hub(self.key).connections.get(connection_id)
        if connection is not None:
            connection.abort()
            return True
        if node.local_only:
            return False
        request = {"type": "signalr.abort", "hub": self.key, "id": connection_id}
        answer = await node.request(request, GROUP_ACK_TIMEOUT, group=names.connection(self.key, connection_id))
        return answer is not None and bool(answer.get("found"))

    async def query(self, kind: QueryKind, name: str | None) -> dict[str, str | None]:
        """The connections of the hub (``kind`` "all"), of a group or of a user on every live
        process, each with its user identifier. Processes are asked directly (the registry only
        says which are alive), so the answer is exact when it returns."""
        node = self.node()
        return await run_on_node(node, self._query_on_node(node, kind, name))

    async def _query_on_node(self, node: Node, kind: QueryKind, name: str | None) -> dict[str, str | None]:
        found = _local_answer(node.hubs.get(self.key) or LocalHub(), kind, name)
        for answer in await self._ask_others(node, {"type": "signalr.query", "kind": kind, "name": name}):
            found.update(answer["connections"])
        return found

    async def group_sizes(self) -> dict[str, int]:
        """Every group of the hub that has members on some live process, with its size."""
        node = self.node()
        return await run_on_node(node, self._group_sizes_on_node(node))

    async def _group_sizes_on_node(self, node: Node) -> dict[str, int]:
        sizes = _local_sizes(node.hubs.get(self.key) or LocalHub())
        for answer in await self._ask_others(node, {"type": "signalr.group_sizes"}):
            for group, size in answer["sizes"].items():
                sizes[group] = sizes.get(group, 0) + size  # a connection lives on one process
        return sizes

    async def _ask_others(self, node: Node, request: dict[str, Any]) -> list[dict[str, Any]]:
        """The answers of every other live process to ``request`` (about this hub)."""
        if node.local_only:
            return []
        if not self.options.connection_registry:
            raise ImproperlyConfigured(
                "Cluster-wide queries ask the live processes, which the connection registry lists: "
                "set SIGNALR['CONNECTION_REGISTRY'] to True (and run migrate)."
            )
        others = [node_id for node_id in await live_nodes() if node_id != node.id]
        request = {**request, "hub": self.key}
        answers = await asyncio.gather(*(node.request(request, QUERY_TIMEOUT, node=other) for other in others))
        for other, answer in zip(others, answers, strict=True):
            if answer is None:
                # A process killed within the last DEAD_AFTER seconds: its connections are gone.
                logger.warning("Server process %s did not answer a query: presumed dead", other)
        return [answer for answer in answers if answer is not None]

    # -- groups ------------------------------------------------------------------------------

    async def add_to_group(self, connection_id: str, group_name: str) -> None:
        await self._change_group("add", connection_id, group_name)

    async def remove_from_group(self, connection_id: str, group_name: str) -> None:
        await self._change_group("discard", connection_id, group_name)

    async def _change_group(self, operation: str, connection_id: str, group_name: str) -> None:
        node = self.node()
        await run_on_node(node, self._change_group_on_node(node, operation, connection_id, group_name))

    async def _change_group_on_node(self, node: Node, operation: str, connection_id: str, group_name: str) -> None:
        connection = node.hub(self.key).connections.get(connection_id)
        if connection is not None:
            await self._apply_group_change(node, operation, connection, group_name)
            return
        if node.local_only:
            return  # no such connection anywhere: nothing to do, as in ASP.NET Core
        request = {
            "type": "signalr.group",
            "hub": self.key,
            "op": operation,
            "id": connection_id,
            "group": group_name,
        }
        answer = await node.request(request, GROUP_ACK_TIMEOUT, group=names.connection(self.key, connection_id))
        if answer is None or not answer.get("found"):
            logger.warning(
                "groups.%s(%r, %r): connection not found on any server", operation, connection_id, group_name
            )

    async def _apply_group_change(self, node: Node, operation: str, connection: HubConnection, group_name: str) -> None:
        local = node.hub(self.key)
        connection_id = connection.connection_id
        if operation == "add":
            if group_name in connection.group_names:
                return
            connection.group_names.add(group_name)
            local.groups.setdefault(group_name, set()).add(connection_id)
            if self.options.connection_registry:
                self._registry(node).joined(connection_id, group_name)
            if not node.local_only:
                await node.join(names.group(self.key, group_name))
        else:
            if group_name not in connection.group_names:
                return
            connection.group_names.discard(group_name)
            self._forget_member(local.groups, group_name, connection_id)
            if self.options.connection_registry:
                self._registry(node).left(connection_id, group_name)
            if not node.local_only:
                await node.leave(names.group(self.key, group_name))


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _receivers(
    local: LocalHub, kind: str, targets: Sequence[str], index: int | None, excluded: Collection[str]
) -> list[HubConnection]:
    """The local connections a send reaches. ``index`` is the position of the layer group a
    message arrived through (``None`` for the sender itself, which serves every target)."""
    connections = local.connections
    if kind == _ALL:
        if not excluded:
            return list(connections.values())
        return [c for i, c in connections.items() if i not in excluded]
    if kind == _CONNECTIONS:
        ids: set[str] = set(targets) if index is None else {targets[index]}
    else:
        members = local.groups if kind == _GROUPS else local.users
        if index is None:
            ids = set().union(*(members.get(name, ()) for name in targets))
        else:
            ids = set(members.get(targets[index], ()))
            for earlier in targets[:index]:
                ids.difference_update(members.get(earlier, ()))
    return [connections[i] for i in ids if i in connections and i not in excluded]


def _deliver(node: Node, receivers: Collection[HubConnection], message: SerializedMessage) -> None:
    for connection in receivers:
        connection.write_serialized(message)
    node.flush_later(receivers)


async def _on_send(node: Node, envelope: dict[str, Any]) -> None:
    if envelope["node"] == node.id:
        return  # our own publication: delivered locally already
    manager = _managers.get(envelope["hub"])
    local = node.hubs.get(envelope["hub"])
    if manager is None or local is None:
        return
    receivers = _receivers(
        local, envelope["kind"], envelope["names"], envelope["index"], frozenset(envelope["excluded"])
    )
    _deliver(node, receivers, SerializedMessage(None, envelope["payload"]))


async def _on_invoke(node: Node, request: dict[str, Any]) -> None:
    """At the process owning the connection: invoke its client, answer the requester."""
    connection = node.hub(request["hub"]).connections.get(request["id"])
    await node.reply(request, found=connection is not None)
    if connection is not None:
        node.loop.create_task(_invoke_for(node, connection, request))


async def _invoke_for(node: Node, connection: HubConnection, request: dict[str, Any]) -> None:
    assert connection.protocol is not None
    try:
        data = request["payload"][connection.protocol.name]
        result = await connection.invoke_client(request["invocation"], data, request["timeout"])
        # The client's value may hold bytes or datetimes: it crosses the layer packed.
        outcome: dict[str, Any] = {"result": packb(result)}
    except HubException as error:
        outcome = {"error": str(error)}
    except ConnectionDisconnectedError:
        outcome = {"disconnected": True}
    except TimeoutError:
        outcome = {"timeout": True}
    await node.send_ack(request["reply"], request["result_ack"], **outcome)


def _local_answer(local: LocalHub, kind: str, name: str | None) -> dict[str, str | None]:
    if kind == _ALL:
        ids: Iterable[str] = local.connections
    else:
        ids = (local.groups if kind == _GROUPS else local.users).get(name or "", ())
    connections = local.connections
    return {cid: connections[cid].user_identifier for cid in ids if cid in connections}


def _local_sizes(local: LocalHub) -> dict[str, int]:
    return {group: len(members) for group, members in local.groups.items()}


async def _on_group_sizes(node: Node, request: dict[str, Any]) -> None:
    await node.reply(request, sizes=_local_sizes(node.hubs.get(request["hub"]) or LocalHub()))


async def _on_query(node: Node, request: dict[str, Any]) -> None:
    local = node.hubs.get(request["hub"]) or LocalHub()
    await node.reply(request, connections=_local_answer(local, request["kind"], request["name"]))


async def _on_abort(node: Node, request: dict[str, Any]) -> None:
    connection = node.hub(request["hub"]).connections.get(request["id"])
    if connection is not None:
        connection.abort()
    await node.reply(request, found=connection is not None)


async def _on_group_change(node: Node, request: dict[str, Any]) -> None:
    manager = _managers.get(request["hub"])
    connection = node.hub(request["hub"]).connections.get(request["id"]) if manager else None
    if manager is not None and connection is not None:
        await manager._apply_group_change(node, request["op"], connection, request["group"])
    await node.reply(request, found=connection is not None)


HANDLERS["signalr.send"] = _on_send
HANDLERS["signalr.invoke"] = _on_invoke
HANDLERS["signalr.query"] = _on_query
HANDLERS["signalr.group_sizes"] = _on_group_sizes
HANDLERS["signalr.abort"] = _on_abort
HANDLERS["signalr.group"] = _on_group_change
