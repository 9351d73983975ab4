"""The backplane spec, run unchanged on every Channels layer (``cluster`` in conftest.py).

Like ASP.NET Core's ``ScaleoutHubLifetimeManagerTests``: whatever carries messages between
server processes, a hub behaves as if all connections were in one process. Six official JS
clients are spread over the cluster's three process slots (two each; alice on two processes,
bob on a third; JSON and MessagePack; WebSockets, SSE and long polling), and every test
proves, from senders on each process:

* each ``clients`` proxy reaches exactly its connections, once each (a fence sent to all
  afterwards must be the next message everywhere, and nothing may be left after it);
* one sender's messages to a group spanning processes arrive in the order sent;
* ``groups.add``/``groups.discard`` of a connection, run by a hub method on another
  process, hold everywhere at once;
* ``manage.py signalr_send`` (``get_hub_context`` in a process that serves nothing) reaches
  connections on every process;
* client results (``clients.client(id).invoke``) cross processes, errors as ``HubException``;
* cluster-wide queries (``self.connections``) give the same exact answer on every process.

On the in-memory layer the three slots are one process, so the same tests prove the local
paths; ``signalr_send`` is refused there by design (no other process can reach them), which
its tests check instead.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from ...servers import ROOT
from ..jsclient import JsConnection, JsDriver, JsError
from ..pairs import unique
from ..server import Users
from .conftest import PROCESSES, Cluster
from .hubs import dotted_path

pytestmark = pytest.mark.asyncio(loop_scope="module")

RECEIVE_TIMEOUT = 5.0
SETTLE_TIMEOUT = 5.0
COMMAND_TIMEOUT = 60.0
ORDERED_COUNT = 50


@dataclass(frozen=True)
class Client:
    """Where and how one of the spec's six clients connects."""

    slot: int
    transport: str
    protocol: str
    user: str | None = None


# Two clients per process slot; alice on slots 0 and 1, bob on slot 2, three anonymous.
CLIENTS = (
    Client(0, "WebSockets", "json", "alice"),
    Client(0, "WebSockets", "messagepack"),
    Client(1, "WebSockets", "json"),
    Client(1, "ServerSentEvents", "json", "alice"),
    Client(2, "WebSockets", "json", "bob"),
    Client(2, "LongPolling", "messagepack"),
)
EVERYONE = list(range(len(CLIENTS)))


@dataclass(frozen=True)
class Member:
    """A connected client of the spec."""

    index: int
    connection: JsConnection
    id: str
    slot: int
    pid: int


async def spread(js: JsDriver, cluster: Cluster, users: Users, hub: str) -> list[Member]:
    """Connect ``CLIENTS`` to the hub ``hub`` (each test has its own: see hubs.py) and check
    they landed on the processes they were meant for."""

    async def connect(index: int, client: Client) -> Member:
        options: dict[str, Any] = {"transport": client.transport, "protocol": client.protocol}
        if client.user is not None:
            options["accessToken"] = users[client.user].token
        connection = await js.connect(
            unique(f"bp-{cluster.layer.name}-{index}"), cluster.hub_url(client.slot, hub), **options
        )
        connection_id = await connection.connection_id()
        assert connection_id
        return Member(index, connection, connection_id, client.slot, await connection.invoke("ProcessId"))

    members = list(await asyncio.gather(*(connect(i, client) for i, client in enumerate(CLIENTS))))
    pids = {slot: {m.pid for m in members if m.slot == slot} for slot in range(PROCESSES)}
    assert all(len(found) == 1 for found in pids.values()), pids
    distinct = len({pid for found in pids.values() for pid in found})
    assert distinct == (PROCESSES if cluster.layer.spans_processes else 1), pids
    return members


def one_per_process(members: list[Member]) -> list[Member]:
    """The first member of each slot: a sender (or asker) on each process."""
    return [next(m for m in members if m.slot == slot) for slot in range(PROCESSES)]


async def nothing_else(members: list[Member], fencer: Member) -> None:
    """A send to all from ``fencer`` must be the next message of every member, and nothing may
    be left after it: no member got a copy or a stray message before the fence, or with it."""
    fence = unique("fence")
    await fencer.connection.invoke("Deliver", "all", None, fence)
    for member in members:
        assert await member.connection.next(timeout=RECEIVE_TIMEOUT) == [fence], f"member {member.index}"
    for member in members:
        assert await member.connection.drain() == [], f"member {member.index}"


async def reaches_exactly(
    members: list[Member], receivers: list[int], arguments: list[Any], fencer: Member, what: str
) -> None:
    """``arguments`` reached each of ``receivers`` (once, proven by the fence) and no one else."""
    for index in receivers:
        received = await members[index].connection.next(timeout=RECEIVE_TIMEOUT)
        assert received == arguments, f"{what}: member {index}"
    await nothing_else(members, fencer)


async def settle(ask: Callable[[], Awaitable[Any]], expected: Any) -> Any:
    """Ask until the answer is ``expected`` (a disconnect finishing on the server) or time runs out."""
    deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT
    answer = await ask()
    while answer != expected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
        answer = await ask()
    return answer


async def test_every_proxy_reaches_exactly_its_connections_once(js: JsDriver, cluster: Cluster, users: Users) -> None:
    """Each ``clients`` proxy, sent from a hub on one process, reaches exactly the right
    connections on all processes, once each: a connection in two of ``groups([...])`` gets one
    copy, exclusions and ``others*`` skip the right ids. Group and user names are Unicode."""
    members = await spread(js, cluster, users, "proxies")
    ids = [m.id for m in members]
    red, blue = unique("red-ü"), unique("blue-€")
    for index in (0, 2, 5):
        await members[index].connection.invoke("Join", red)
    for index in (2, 3):
        await members[index].connection.invoke("Join", blue)
    alice, bob = users["alice"].pk, users["bob"].pk
    cases: list[tuple[str, int, Any, list[int]]] = [
        ("all", 1, None, EVERYONE),
        ("caller", 3, None, [3]),
        ("others", 4, None, [0, 1, 2, 3, 5]),
        ("client", 0, ids[5], [5]),
        ("client", 5, ids[1], [1]),
        ("clients", 2, [ids[1], ids[3], ids[4], ids[1]], [1, 3, 4]),
        ("group", 3, red, [0, 2, 5]),
        ("groups", 1, [red, blue], [0, 2, 3, 5]),
        ("groups", 4, [blue, red, blue], [0, 2, 3, 5]),
        ("group_except", 4, [red, [ids[2], ids[3]]], [0, 5]),
        ("others_in_group", 5, red, [0, 2]),
        ("others_in_group", 1, blue, [2, 3]),
        ("user", 5, alice, [0, 3]),
        ("users", 2, [alice, bob], [0, 3, 4]),
        ("all_except", 3, [ids[0], ids[4]], [1, 2, 3, 5]),
        ("group", 0, unique("empty"), []),
    ]
    for proxy, sender, target, receivers in cases:
        message = unique(f"{proxy}-from-{sender}")
        await members[sender].connection.invoke("Deliver", proxy, target, message)
        await reaches_exactly(members, receivers, [message], members[sender], f"{proxy} from member {sender}")


async def test_one_senders_messages_to_a_group_across_processes_arrive_in_order(
    js: JsDriver, cluster: Cluster, users: Users
) -> None:
    """Two senders on different processes at once: one client sending ``ORDERED_COUNT``
    invocations in a row (each sends one numbered message to the group), one hub invocation
    sending ``ORDERED_COUNT`` numbered messages. Every member, on every process, gets all of
    both, each sender's in the order sent."""
    members = await spread(js, cluster, users, "order")
    group = unique("ordered-ö")
    receivers = [0, 2, 4, 5]
    for index in receivers:
        await members[index].connection.invoke("Join", group)

    await asyncio.gather(
        members[1].connection.send_many("NumberToGroup", 0, ORDERED_COUNT, group, "client"),
        members[3].connection.invoke("BurstToGroup", group, "hub", ORDERED_COUNT, timeout=30),
    )

    async def collect(member: Member) -> list[list[Any]]:
        return [await member.connection.next(timeout=RECEIVE_TIMEOUT) for _ in range(2 * ORDERED_COUNT)]

    received = await asyncio.gather(*(collect(members[index]) for index in receivers))
    for index, messages in zip(receivers, received, strict=True):
        for tag in ("client", "hub"):
            numbers = [number for sender, number in messages if sender == tag]
            assert numbers == list(range(ORDERED_COUNT)), f"member {index}, sender {tag}"
    await nothing_else(members, members[2])


async def test_group_changes_made_on_another_process_hold_everywhere(
    js: JsDriver, cluster: Cluster, users: Users
) -> None:
    """``groups.add`` of a connection on process 2, run by hub methods on processes 0 and 1
    (twice: membership is a set), makes group sends from every process reach it once;
    ``groups.discard`` run on process 1 stops them everywhere, while a member added by
    process 2 stays until process 1 discards it too."""
    members = await spread(js, cluster, users, "groups")
    ids = [m.id for m in members]
    group = unique("moved-ü")
    target, local = members[4], members[1]  # target on slot 2; local on slot 0
    await members[0].connection.invoke("AddToGroup", target.id, group)  # from slot 0
    await members[2].connection.invoke("AddToGroup", target.id, group)  # from slot 1, again
    await members[5].connection.invoke("AddToGroup", local.id, group)  # from slot 2
    senders = one_per_process(members)

    async def each_sender_reaches(receivers: list[int]) -> None:
        for sender in senders:
            message = unique(f"moved-from-{sender.slot}")
            await sender.connection.invoke("Deliver", "group", group, message)
            await reaches_exactly(members, receivers, [message], sender, f"group send from slot {sender.slot}")
            expected = sorted(ids[index] for index in receivers)
            assert await sender.connection.invoke("Query", "in_group", group) == expected

    await each_sender_reaches([1, 4])
    await members[3].connection.invoke("RemoveFromGroup", target.id, group)  # from slot 1
    await each_sender_reaches([1])
    await members[3].connection.invoke("RemoveFromGroup", local.id, group)  # from slot 1
    await each_sender_reaches([])


def signalr_send(env: dict[str, str], hub: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m django signalr_send <hub's path> *args``."""
    return subprocess.run(
        [sys.executable, "-m", "django", "signalr_send", dotted_path(hub), *args],
        cwd=ROOT,
        env=env,
        timeout=COMMAND_TIMEOUT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


async def refused_in_memory(cluster: Cluster, hub: str) -> bool:
    """On the in-memory layer ``signalr_send`` must stop with its explanation (a process of its
    own cannot reach the server's connections); ``True`` there."""
    if cluster.layer.spans_processes:
        return False
    result = await asyncio.to_thread(signalr_send, cluster.env, hub, "Receive", "lost")
    assert result.returncode == 1
    assert result.stderr.startswith("CommandError: The channel layer is in-memory: this process cannot reach"), (
        result.stderr
    )
    return True


async def test_signalr_send_from_a_process_that_serves_nothing_reaches_every_process(
    js: JsDriver, cluster: Cluster, users: Users
) -> None:
    """``manage.py signalr_send`` (``get_hub_context`` in a process of its own, run with the
    layer's settings) reaches exactly the targeted connections on all three processes, for
    every target option. The commands run at once, so only each connection's set of
    messages is compared."""
    if await refused_in_memory(cluster, "command"):
        return
    members = await spread(js, cluster, users, "command")
    ids = [m.id for m in members]
    red, blue = unique("cmd-red-ü"), unique("cmd-blue")
    for index in (0, 2, 5):
        await members[index].connection.invoke("Join", red)
    for index in (2, 3):
        await members[index].connection.invoke("Join", blue)
    alice, bob = users["alice"].pk, users["bob"].pk
    runs: list[tuple[list[str], list[Any], list[int]]] = [
        (["42", '{"a": [1, true]}'], [42, {"a": [1, True]}], EVERYONE),
        (["--group", red, "--group", blue], [], [0, 2, 3, 5]),
        (["--group", red, "--except", ids[2]], [], [0, 5]),
        (["--user", alice, "--user", bob], [], [0, 3, 4]),
        (["--connection", ids[5], "--connection", ids[1]], [], [1, 5]),
        ([f"--except={ids[0]}", "--except", ids[4]], [], [1, 2, 3, 5]),
    ]
    commands = [["Receive", unique("cmd"), *options] for options, _, _ in runs]
    results = await asyncio.gather(*(asyncio.to_thread(signalr_send, cluster.env, "command", *c) for c in commands))
    for command, result in zip(commands, results, strict=True):
        assert result.returncode == 0, f"{command}: {result.stderr}"

    for member in members:
        expected = [
            [command[1], *extra] for command, (_, extra, receivers) in zip(commands, runs, strict=True)
            if member.index in receivers
        ]  # fmt: skip
        received = [await member.connection.next(timeout=RECEIVE_TIMEOUT) for _ in expected]
        assert sorted(received, key=json.dumps) == sorted(expected, key=json.dumps), f"member {member.index}"
    await nothing_else(members, members[0])


async def test_signalr_send_invoke_returns_the_result_of_a_client_on_another_process(
    js: JsDriver, cluster: Cluster, users: Users
) -> None:
    """``signalr_send ... --connection=<id> --invoke`` in a process of its own prints, as JSON,
    what a client on a server process answered; a client's error fails the command with the
    client's text. (The command's first request is answered on its node's brand-new channel:
    on channels_postgres that answer used to be lost, see ``test_bugs.py``.)"""
    if await refused_in_memory(cluster, "invoke-command"):
        return
    members = await spread(js, cluster, users, "invoke-command")
    answerer = members[3]  # SSE, on slot 1
    answer = {"from": "sse on slot 1", "items": [1, "é", None, True]}

    async def invoke(question: str) -> subprocess.CompletedProcess[str]:
        command = ["Answer", question, "--connection", answerer.id, "--invoke", "--timeout", "10"]
        return await asyncio.to_thread(signalr_send, cluster.env, "invoke-command", *command)

    await answerer.connection.handle("Answer", "value", value=answer)
    result = await invoke("cmd-question")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == answer
    assert await answerer.connection.next("Answer", timeout=RECEIVE_TIMEOUT) == ["cmd-question"]

    await answerer.connection.handle("Answer", "throw", message="no answer from slot 1")
    result = await invoke("cmd-failing")
    assert result.returncode == 1
    assert result.stderr.strip() == "CommandError: Error: no answer from slot 1"
    assert await answerer.connection.next("Answer", timeout=RECEIVE_TIMEOUT) == ["cmd-failing"]
    assert await answerer.connection.drain("Answer") == []
    await nothing_else(members, members[0])


async def js_error(awaitable: Awaitable[Any]) -> str:
    with pytest.raises(JsError) as raised:
        await awaitable
    return str(raised.value)


async def test_client_results_cross_processes(js: JsDriver, cluster: Cluster, users: Users) -> None:
    """A hub method on one process awaits ``get_hub_context(Hub).clients.client(id).invoke``
    of a client on another process (every protocol and transport answering): it gets the
    client's value; when the client throws, it gets ``HubException`` with the client's text,
    which reaches the asking client as a hub error."""
    members = await spread(js, cluster, users, "results")
    pairs = [(0, 4), (2, 5), (4, 1), (5, 3)]  # asker -> answerer: slot 0->2, 1->2, 2->0, 2->1
    for asker_index, answerer_index in pairs:
        asker, answerer = members[asker_index], members[answerer_index]
        value = {"answerer": answerer_index, "items": [1, "é", None, True, 2.5]}
        await answerer.connection.handle("Answer", "value", value=value)
        question = unique("question")
        assert await asker.connection.invoke("AskClient", answerer.id, question) == value
        assert await answerer.connection.next("Answer", timeout=RECEIVE_TIMEOUT) == [question]

        text = unique("no answer for you")
        await answerer.connection.handle("Answer", "throw", message=text)
        failure = await asker.connection.invoke("AskClientFailure", answerer.id, question)
        assert failure == ["HubException", f"Error: {text}"]
        assert await js_error(asker.connection.invoke("AskClient", answerer.id, question)) == (
            f"An unexpected error occurred invoking 'AskClient' on the server. HubException: Error: {text}"
        )
        assert len(await answerer.connection.drain("Answer")) == 2
    await nothing_else(members, members[0])


async def test_cluster_wide_queries_answer_the_same_on_every_process(
    js: JsDriver, cluster: Cluster, users: Users
) -> None:
    """``self.connections`` asked from each process gives one exact answer: all connections,
    counts, group members, users, a user's connections; and after a disconnect, the same
    answer without it, everywhere."""
    members = await spread(js, cluster, users, "queries")
    ids = [m.id for m in members]
    group = unique("room-ö")
    for index in (0, 3, 4, 5):
        await members[index].connection.invoke("Join", group)
    alice, bob, staff = users["alice"].pk, users["bob"].pk, users["staff"].pk
    askers = [members[1], members[2], members[5]]  # one per slot, none of them leaves
    assert [asker.slot for asker in askers] == list(range(PROCESSES))

    async def ask_all(question: str, name: str | None = None) -> Any:
        return await askers[0].connection.invoke("Query", question, name)

    # Connections of the previous test may still be closing on the server.
    assert await settle(lambda: ask_all("all"), sorted(ids)) == sorted(ids)

    async def every_process_answers(indexes: list[int], in_group: list[int], users_in_group: list[str]) -> None:
        alice_ids = sorted(ids[i] for i in indexes if CLIENTS[i].user == "alice")
        everyone = sorted({user for i in indexes if (user := CLIENTS[i].user) is not None})
        expected: list[tuple[str, str | None, Any]] = [
            ("all", None, sorted(ids[i] for i in indexes)),
            ("count", None, len(indexes)),
            ("count", group, len(in_group)),
            ("in_group", group, sorted(ids[i] for i in in_group)),
            ("users", group, sorted(users_in_group)),
            ("users", None, sorted(users[name].pk for name in everyone)),
            ("of_user", alice, alice_ids),
            ("is_user_connected", alice, True),
            ("is_user_connected", bob, 4 in indexes),
            ("is_user_connected", staff, False),
            ("of_user", staff, []),
            ("in_group", unique("nobody"), []),
        ]
        for asker in askers:
            for question, name, answer in expected:
                got = await asker.connection.invoke("Query", question, name)
                assert got == answer, f"{question}({name!r}) asked on slot {asker.slot}"

    await every_process_answers(EVERYONE, [0, 3, 4, 5], [alice, bob])
    await members[4].connection.stop()  # bob, on slot 2
    assert await settle(lambda: ask_all("is_user_connected", bob), False) is False
    await every_process_answers([0, 1, 2, 3, 5], [0, 3, 5], [alice])
