"""The hubs of the backplane spec: ``EchoHub`` plus one method per ``clients`` proxy, group
changes of any connection, client results from any connection and cluster-wide queries.

Every method works on whatever process runs it; the spec calls them from connections spread
over the cluster, so each call crosses the channel layer whenever its target lives elsewhere.

Each spec test has a hub class of its own (``SPEC_HUBS``), so the previous test's
connections, which may still be disconnecting when it starts, are not in its exact answers
(``all``, counts). The race of a layer group's last member leaving as a new one joins has its
own test in ``test_bugs.py``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from django_signalr import HubException, get_hub_context
from tests.hubs import EchoHub

if TYPE_CHECKING:
    from django_signalr.clients import ClientProxy

TARGET = "Receive"


class BackplaneHub(EchoHub):
    async def process_id(self) -> int:
        """Which server process runs this connection (the spec checks the spread)."""
        return os.getpid()

    def _proxy(self, proxy: str, target: Any) -> ClientProxy:
        clients = self.clients
        if proxy == "all":
            return clients.all
        if proxy == "caller":
            return clients.caller
        if proxy == "others":
            return clients.others
        if proxy == "client":
            return clients.client(target)
        if proxy == "clients":
            return clients.clients(target)
        if proxy == "group":
            return clients.group(target)
        if proxy == "groups":
            return clients.groups(target)
        if proxy == "group_except":
            group, excluded = target
            return clients.group_except(group, excluded)
        if proxy == "others_in_group":
            return clients.others_in_group(target)
        if proxy == "user":
            return clients.user(target)
        if proxy == "users":
            return clients.users(target)
        if proxy == "all_except":
            return clients.all_except(target)
        raise HubException(f"unknown proxy {proxy!r}")

    async def deliver(self, proxy: str, target: Any, message: str) -> None:
        """``self.clients.<proxy>(target).send("Receive", message)``."""
        await self._proxy(proxy, target).send(TARGET, message)

    async def number_to_group(self, number: int, group: str, tag: str) -> None:
        """One numbered message to a group (the client sends many of these in a row)."""
        await self.clients.group(group).send(TARGET, tag, number)

    async def burst_to_group(self, group: str, tag: str, count: int) -> None:
        """``count`` numbered messages to a group from one invocation, as fast as they go."""
        proxy = self.clients.group(group)
        for number in range(count):
            await proxy.send(TARGET, tag, number)

    async def add_to_group(self, connection_id: str, group: str) -> None:
        """``groups.add`` of any connection of the cluster, run on this process."""
        await self.groups.add(connection_id, group)

    async def remove_from_group(self, connection_id: str, group: str) -> None:
        """``groups.discard`` of any connection of the cluster, run on this process."""
        await self.groups.discard(connection_id, group)

    async def ask_client(self, connection_id: str, question: str) -> object:
        """A client result from any connection, through the hub context (the caller is not
        the one asked, so one invocation at a time is fine)."""
        clients = get_hub_context(type(self)).clients
        return await clients.client(connection_id).invoke("Answer", question, timeout=5)

    async def ask_client_failure(self, connection_id: str, question: str) -> list[str]:
        """What ``ask_client`` raised: the exception's class name and text."""
        try:
            result = await self.ask_client(connection_id, question)
        except Exception as error:
            return [type(error).__name__, str(error)]
        return ["no exception", repr(result)]

    async def query(self, question: str, name: str | None = None) -> object:
        """A cluster-wide query of ``self.connections`` (presence.py), by method name."""
        connections = self.connections
        if question == "all":
            return await connections.all()
        if question == "in_group":
            return await connections.in_group(name or "")
        if question == "of_user":
            return await connections.of_user(name or "")
        if question == "is_user_connected":
            return await connections.is_user_connected(name or "")
        if question == "count":
            return await connections.count(name)
        if question == "users":
            return await connections.users(name)
        raise HubException(f"unknown question {question!r}")


class ProxiesHub(BackplaneHub):
    pass


class OrderHub(BackplaneHub):
    pass


class GroupsHub(BackplaneHub):
    pass


class CommandHub(BackplaneHub):
    pass


class InvokeCommandHub(BackplaneHub):
    pass


class ResultsHub(BackplaneHub):
    pass


class QueriesHub(BackplaneHub):
    pass


# Served at ``hubs/<key>``.
SPEC_HUBS: dict[str, type[BackplaneHub]] = {
    "backplane": BackplaneHub,
    "proxies": ProxiesHub,
    "order": OrderHub,
    "groups": GroupsHub,
    "command": CommandHub,
    "invoke-command": InvokeCommandHub,
    "results": ResultsHub,
    "queries": QueriesHub,
}


def dotted_path(key: str) -> str:
    """The hub's class path, as ``signalr_send`` takes it."""
    hub = SPEC_HUBS[key]
    return f"{hub.__module__}.{hub.__qualname__}"
