"""This process's presence on the channel layer (DESIGN decision 2).

A process has one node. The node holds every local connection of every hub, listens on one
layer channel of its own, and is the only thing that joins layer groups: it joins a group
once when the group gets its first local member and leaves when the last one goes. A send to
all, a group or a user is thus one layer message per process, which the node fans out to its
local connections; never one layer message per connection.

With ``InMemoryChannelLayer`` there is no other process, so the node never touches the layer:
local delivery is complete, and the in-memory layer's silent drops (capacity 100, with
``group_send`` swallowing ``ChannelFull``) cannot lose anything.

All node state lives on the node's event loop. Code running on another loop (a thread that
called ``async_to_sync`` on its own) is sent over with ``run_on_node``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, channel_layers
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from . import names

if TYPE_CHECKING:
    from ..hub_connection import HubConnection

logger = logging.getLogger("django_signalr.lifetime")

T = TypeVar("T")

# A new node channel is probed every CHANNEL_PROBE_EVERY s until the layer delivers on it.
CHANNEL_PROBE_EVERY = 0.05
CHANNEL_READY_TIMEOUT = 10.0

# When fan-out writes come back to back while a send of this node is on its way through the
# layer, they wait as long as the last round of writes took (at most FLUSH_HOLD_MAX s), so
# that what the sender sends next joins them in the same frames. A sender awaits each layer
# send, and the writes ran in every such wait: each round carried one message per
# connection, one frame (one system call) per delivery, and a single process saturated near
# 55,000 deliveries/s on channels_redis. A round that comes long after the last one is not
# held: nothing is queuing up, and holding would only add latency.
FLUSH_HOLD_MAX = 0.05

# Sends to one layer group queued while earlier ones were on their way go out together, as one
# layer message of at most this many (channels_redis stores each message in one sorted-set entry).
BATCH_MAX = 100

# At most this many layer calls of a node at once. redis-py's connection pools (channels_redis
# keeps one per Redis host) hold at most 100 connections since redis-py 6 and raise "Too many
# connections" past that instead of waiting: 1,000 clients joining 100 groups at once made 100
# concurrent group_add calls, and joins failed.
LAYER_CALLS_MAX = 32

# Layer errors (Redis restarting, say) must not end the listener; retry with backoff.
_RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)

# channels_redis gives each channel a capacity (100 by default) and group_send silently skips
# a channel that is full. A node channel carries the whole process's fan-out, so it gets a
# capacity of its own; every other channel keeps the configured one.
NODE_CHANNEL_CAPACITY = 100_000
_NODE_CHANNEL_PATTERN = re.compile(r"^signalr\.node\.")


def _idle(error: Exception) -> bool:
    """A receive that timed out because nothing came: channels_redis blocks 5 s on its pop and
    redis-py's socket times out at 5 s too, so an idle channel raises redis's TimeoutError.
    Named, not imported: redis is an optional dependency."""
    return any(cls.__name__ == "TimeoutError" for cls in type(error).__mro__)


def _connection_error(error: Exception) -> bool:
    """The layer's server is unreachable or dropped the connection (redis's ConnectionError is
    not an OSError; named, not imported, as redis is optional)."""
    return isinstance(error, OSError) or any(cls.__name__ == "ConnectionError" for cls in type(error).__mro__)


def describe(error: Exception) -> str:
    """``ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.``: redis's
    own ``repr`` hides the message."""
    return f"{type(error).__name__}: {error}"


def _retry_delay(failures: int) -> float:
    return _RETRY_DELAYS[min(failures, len(_RETRY_DELAYS) - 1)]


def _refresh_interval(layer: BaseChannelLayer) -> float | None:
    """How often to re-join groups so the layer's group expiry never drops a live member
    (channels_redis forgets members after ``group_expiry``, 24 h by default)."""
    expiry = getattr(layer, "group_expiry", None)
    if isinstance(expiry, int | float) and expiry > 0:
        return max(0.1, min(expiry / 4, 3600.0))
    return None


def _raise_capacity(layer: BaseChannelLayer) -> None:
    capacities = getattr(layer, "channel_capacity", None)  # channels_redis's compiled patterns
    if isinstance(capacities, list) and not any(p is _NODE_CHANNEL_PATTERN for p, _ in capacities):
        capacities.insert(0, (_NODE_CHANNEL_PATTERN, NODE_CHANNEL_CAPACITY))


@dataclass(slots=True)
class LocalHub:
    """The connections of one hub on this process, and their groups and users."""

    connections: dict[str, HubConnection] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    users: dict[str, set[str]] = field(default_factory=dict)


@dataclass(slots=True)
class _GroupLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holding or waiting


MessageHandler = Callable[["Node", dict[str, Any]], Awaitable[None]]


class Node:
    """One per process (and channel-layer alias), bound to the loop that serves connections."""

    def __init__(self, layer: BaseChannelLayer, loop: asyncio.AbstractEventLoop) -> None:
        self.layer = layer
        self.loop = loop
        self.local_only = isinstance(layer, InMemoryChannelLayer)
        self.id = secrets.token_urlsafe(9)
        self.hubs: dict[str, LocalHub] = {}
        self._channel: str | None = None
        self._opening: asyncio.Task[str] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self.closers: list[Callable[[], None]] = []  # run when the node goes (a test's loop ended)
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ack_ids = itertools.count()
        self._memberships: dict[str, int] = {}
        self._membership_locks: dict[str, _GroupLock] = {}
        self._stale: set[str] = set()  # groups left while the layer failed: left again later
        self._to_flush: dict[HubConnection, None] = {}  # connections a fan-out wrote to, in order
        self._flusher: asyncio.Task[None] | None = None
        self._publishing = 0  # group_send calls under way (queued or sending)
        # group_send's queue: per layer group, its messages in order with their senders' futures.
        self._outgoing: dict[str, list[tuple[dict[str, Any], asyncio.Future[None]]]] = {}
        self._publisher: asyncio.Task[None] | None = None
        self._layer_calls = asyncio.Semaphore(LAYER_CALLS_MAX)
        self._last_flush = 0.0  # seconds the last round of fan-out writes took
        self._flush_ended = 0.0  # loop time it ended
        self._rejoining: asyncio.Task[None] | None = None

    def hub(self, key: str) -> LocalHub:
        local = self.hubs.get(key)
        if local is None:
            local = self.hubs[key] = LocalHub()
        return local

    async def channel(self) -> str:
        """This node's layer channel, delivered to from the moment this returns."""
        if self._channel is not None:
            return self._channel
        if self._opening is None:
            self._opening = self.loop.create_task(self._open_channel())
        try:
            return await asyncio.shield(self._opening)
        except Exception:
            self._opening = None  # the layer failed: the next call tries again
            raise

    async def _open_channel(self) -> str:
        channel = names.node(self.id)
        _raise_capacity(self.layer)
        if self._listener is None:
            self._listener = self.loop.create_task(self._listen(channel))
        if not self.local_only:
            await self._until_delivered(channel)
        refresh = _refresh_interval(self.layer)
        if refresh is not None:
            self._refresher = self.loop.create_task(self._refresh_every(refresh))
        self._channel = channel
        return channel

    async def _until_delivered(self, channel: str) -> None:
        """Send the node's own channel a probe until the listener sees one. A layer may start
        delivering a moment after the first receive: Redis pub/sub subscribes then, and
        channels_postgres LISTENs then; what is sent before is lost for good -- typically the
        answer to this process's first request (a ``signalr_send --invoke`` failing with
        "does not exist"). One round trip on a ready layer."""
        deadline = self.loop.time() + CHANNEL_READY_TIMEOUT
        while True:
            ack_id = self.new_id()
            delivered = self.expect(ack_id)
            try:
                await self.send(channel, {"type": "signalr.ack", "ack": ack_id})
                await asyncio.wait_for(delivered, CHANNEL_PROBE_EVERY)
                return
            except TimeoutError:
                if self.loop.time() >= deadline:
                    raise TimeoutError(
                        f"The channel layer did not deliver to {channel} within {CHANNEL_READY_TIMEOUT:.0f} s"
                    ) from None
            finally:
                self.forget(ack_id)

    # -- layer calls -------------------------------------------------------------------------

    async def _retrying(self, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """A layer call, made again once if it fails on a connection error: after the layer's
        server restarted, each pooled connection fails its first command and reconnects.
        At most ``LAYER_CALLS_MAX`` run at once; the others wait their turn."""
        async with self._layer_calls:
            try:
                return await call(*args)
            except Exception as error:
                if not _connection_error(error):
                    raise
                logger.debug("A layer call failed (%s); trying once more", describe(error))
                return await call(*args)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self._retrying(self.layer.send, channel, message)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send ``message`` to a layer group; returns once the layer took it (or raises its
        error). Sends made while others are on their way are queued, and each group's queue
        goes out as one layer message (``signalr.batch``), in order: under load a layer
        message, and its fixed cost in Redis commands, serves many sends."""
        sent: asyncio.Future[None] = self.loop.create_future()
        self._outgoing.setdefault(group, []).append((message, sent))
        if self._publisher is None:
            self._publisher = self.loop.create_task(self._publish_outgoing())
        self._publishing += 1
        try:
            await sent
        finally:
            self._publishing -= 1

    async def _publish_outgoing(self) -> None:
        try:
            while self._outgoing:
                outgoing, self._outgoing = self._outgoing, {}
                await asyncio.gather(*(self._publish(group, queued) for group, queued in outgoing.items()))
        finally:
            self._publisher = None

    async def _publish(self, group: str, queued: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        for start in range(0, len(queued), BATCH_MAX):
            batch = queued[start : start + BATCH_MAX]
            messages = [message for message, _ in batch]
            error: Exception | None = None
            try:
                message = messages[0] if len(messages) == 1 else {"type": "signalr.batch", "messages": messages}
                await self._retrying(self.layer.group_send, group, message)
            except Exception as failure:  # each sender gets it, as if it had sent alone
                error = failure
            for _, sent in batch:
                if sent.done():
                    continue  # its sender was cancelled: the message went anyway
                if error is None:
                    sent.set_result(None)
                else:
                    sent.set_exception(error)

    # -- layer groups --------------------------------------------------------------------------

    def rejoin(self) -> None:
        """Add this node to every layer group it belongs to again, in the background: after the
        layer lost them (a Redis restart keeps nothing), and before its group expiry forgets
        them. Retries until every one is back; groups left meanwhile are skipped."""
        if self._channel is not None and (self._rejoining is None or self._rejoining.done()):
            self._rejoining = self.loop.create_task(self._rejoin(self._channel))

    async def _rejoin(self, channel: str) -> None:
        pending = list(self._memberships)
        stale = list(self._stale)
        failures = 0
        while pending or stale:
            try:
                if stale:
                    group = stale[-1]
                    async with self._membership(group):
                        if group not in self._memberships:
                            await self._retrying(self.layer.group_discard, group, channel)
                    self._stale.discard(group)
                    stale.pop()
                else:
                    group = pending[-1]
                    async with self._membership(group):
                        if group in self._memberships:
                            await self._retrying(self.layer.group_add, group, channel)
                    pending.pop()
            except Exception as error:
                if failures == 0:
                    logger.error("Re-joining layer groups failed (%s); retrying", describe(error))
                await asyncio.sleep(_retry_delay(failures))
                failures += 1
        if failures:
            logger.warning("Re-joined every layer group after %d failed attempts", failures)

    async def _refresh_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.rejoin()

    async def join(self, group: str) -> None:
        """Count one more local member of a layer group; the first one joins the node."""
        async with self._membership(group):
            count = self._memberships.get(group, 0)
            if count == 0:
                channel = await self.channel()
                await self._retrying(self.layer.group_add, group, channel)
            self._memberships[group] = count + 1

    async def leave(self, group: str) -> None:
        """Count one local member less; the last one takes the node out of the group. If the
        layer fails, the group is left again once it answers (until then the node ignores
        what the group still sends it)."""
        async with self._membership(group):
            count = self._memberships.get(group, 0) - 1
            if count > 0:
                self._memberships[group] = count
                return
            self._memberships.pop(group, None)
            channel = self._channel
            if count == 0 and channel is not None:
                try:
                    await self._retrying(self.layer.group_discard, group, channel)
                except Exception as error:
                    logger.debug("Leaving layer group %s failed (%s); later", group, describe(error))
                    self._stale.add(group)

    @contextlib.asynccontextmanager
    async def _membership(self, group: str) -> AsyncIterator[None]:
        """One group's joins and leaves, one at a time, layer call included: a join that
        overtook a leave's ``group_discard`` would be undone by it (channels_postgres deletes in
        a thread, so its discard usually lands last). The lock goes when nobody holds or awaits it."""
        lock = self._membership_locks.get(group)
        if lock is None:
            lock = self._membership_locks[group] = _GroupLock()
        lock.users += 1
        try:
            async with lock.lock:
                yield
        finally:
            lock.users -= 1
            if lock.users == 0:
                del self._membership_locks[group]

    # -- fan-out --------------------------------------------------------------------------

    def flush_later(self, connections: Iterable[HubConnection]) -> None:
        """Send what a fan-out queued for ``connections`` from one task: one wake-up per
        fan-out instead of one writer task per connection (at 1,000 connections the wake-ups
        were a third of the server's time), and sends queued meanwhile go out together."""
        self._to_flush.update(dict.fromkeys(connections))
        if self._flusher is None and self._to_flush:
            self._flusher = self.loop.create_task(self._send_fan_outs())

    async def _send_fan_outs(self) -> None:
        try:
            while self._to_flush:
                if self._publishing and self.loop.time() - self._flush_ended < self._last_flush:
                    await asyncio.sleep(min(self._last_flush, FLUSH_HOLD_MAX))
                started = self.loop.time()
                connections, self._to_flush = self._to_flush, {}
                for connection in connections:
                    try:
                        await connection.flush_queued()
                    except Exception:  # one broken connection must not keep the others waiting
                        logger.exception("Flushing %s failed", connection.connection_id)
                self._flush_ended = self.loop.time()
                self._last_flush = self._flush_ended - started
        finally:
            self._flusher = None

    def new_id(self) -> str:
        """An id unique in the cluster (acks, client-result invocation ids)."""
        return f"{next(self._ack_ids)}.{self.id}"

    def expect(self, ack_id: str) -> asyncio.Future[dict[str, Any]]:
        """A future for a ``signalr.ack`` with ``ack_id`` sent later to this node's channel;
        the caller must ``forget`` it when done."""
        future: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self._acks[ack_id] = future
        return future

    def forget(self, ack_id: str) -> None:
        self._acks.pop(ack_id, None)

    async def request(
        self, message: dict[str, Any], timeout: float, *, group: str | None = None, node: str | None = None
    ) -> dict[str, Any] | None:
        """Send ``message`` to a layer group or to another node and wait for one answer;
        ``None`` on timeout (nobody owns what was asked for, or its process is gone)."""
        ack_id = self.new_id()
        future = self.expect(ack_id)
        request = {**message, "reply": await self.channel(), "ack": ack_id}
        try:
            if group is not None:
                await self.group_send(group, request)
            else:
                assert node is not None
                await self.send(names.node(node), request)
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            self.forget(ack_id)

    async def reply(self, request: dict[str, Any], **answer: Any) -> None:
        """Answer a ``request`` from another node."""
        await self.send_ack(request["reply"], request["ack"], **answer)

    async def send_ack(self, channel: str, ack_id: str, **answer: Any) -> None:
        await self.send(channel, {"type": "signalr.ack", "ack": ack_id, **answer})

    async def _listen(self, channel: str) -> None:
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not _idle(error):
                    await self._wait_for_layer(channel, error)
                continue
            for one in message["messages"] if message.get("type") == "signalr.batch" else (message,):
                try:
                    await self._handle(one)
                except Exception:  # the next one must still be handled
                    logger.exception("Handling a channel-layer message of type %r failed", one.get("type"))

    async def _wait_for_layer(self, channel: str, error: Exception) -> None:
        """Until the layer answers again, then re-join every group (a restarted Redis has
        none). A receive would not tell: once the server is back it just waits, for messages
        that nobody can send to the groups this node is no longer in. So the node sends itself
        a wake-up message instead, which also ends that wait."""
        logger.error(
            "The channel layer failed (%s): messages from other processes cannot arrive until it answers again",
            describe(error),
        )
        started, failures = self.loop.time(), 0
        while True:
            await asyncio.sleep(_retry_delay(failures))
            try:
                await self.layer.send(channel, {"type": "signalr.wake"})
            except Exception as again:
                failures += 1
                logger.debug("The channel layer still fails: %s", describe(again))
                continue
            logger.warning(
                "The channel layer answers again after %.1f s; re-joining %d layer groups",
                self.loop.time() - started,
                len(self._memberships),
            )
            self.rejoin()
            return

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "signalr.wake":
            return
        if kind == "signalr.ack":
            future = self._acks.get(message["ack"])
            if future is not None and not future.done():
                future.set_result(message)
            return
        handler = HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            logger.warning("Ignoring an unknown channel-layer message of type %r", kind)
            return
        await handler(self, message)

    def close(self) -> None:
        """Stop listening (the loop may already be gone)."""
        for task in (self._listener, self._refresher, self._rejoining, self._flusher, self._publisher):
            if task is not None and not self.loop.is_closed():
                self.loop.call_soon_threadsafe(task.cancel)
        for closer in self.closers:
            closer()


# Filled by the modules that own each message type (the lifetime manager, the transports).
HANDLERS: dict[str, MessageHandler] = {}

_nodes: dict[str, Node] = {}


def get_node(alias: str, *, serving: bool = False) -> Node:
    """The node for a channel-layer alias, bound to the running loop on first use.

    A node whose loop has closed (a finished test, a finished ``async_to_sync`` call in a
    command) is replaced. ``serving`` is passed by code that registers connections: if the node
    was first made by a short-lived loop on another thread and holds no connection yet, it moves
    to the serving loop, so connections always live on their node's loop.
    """
    node = _nodes.get(alias)
    running = asyncio.get_running_loop()
    stale = node is not None and (
        node.loop.is_closed()
        or (serving and node.loop is not running and not any(h.connections for h in node.hubs.values()))
    )
    if node is None or stale:
        if node is not None:
            node.close()
        node = _nodes[alias] = Node(_build_layer(alias), running)
    return node


def _build_layer(alias: str) -> BaseChannelLayer:
    """The layer of ``alias``. Channels' ``get_channel_layer`` answers ``None`` both when the
    alias is not configured and when building it raised a ``KeyError`` (channels_postgres does,
    for a ``CONFIG`` without a key Django fills in for ``DATABASES``): the second must show its
    own error, not send the reader to a setting that is there."""
    if alias not in getattr(settings, "CHANNEL_LAYERS", {}):
        raise ImproperlyConfigured(
            f"django_signalr needs a channel layer: CHANNEL_LAYERS[{alias!r}] is not set. "
            'For one process use {"BACKEND": "channels.layers.InMemoryChannelLayer"}.'
        )
    try:
        layer: BaseChannelLayer = channel_layers[alias]
    except KeyError as error:
        raise ImproperlyConfigured(f"CHANNEL_LAYERS[{alias!r}] could not be built: {error!r}") from error
    return layer


async def run_on_node(node: Node, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on the node's loop, from whatever loop is running now."""
    if asyncio.get_running_loop() is node.loop:
        return await coroutine
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, node.loop))


@receiver(setting_changed)
def _forget_nodes(*, setting: str, **kwargs: Any) -> None:
    """A test that swaps CHANNEL_LAYERS gets nodes on the new layers."""
    if setting == "CHANNEL_LAYERS":
        for node in _nodes.values():
            node.close()
        _nodes.clear()
