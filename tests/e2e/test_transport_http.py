"""Server-Sent Events, Long Polling, sends and deletes over raw HTTP against the live daphne:
every status code, body and header of PROTOCOL.md section 2.

Every request has a socket timeout; concurrent polls run in threads whose results are awaited
with a timeout too.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgpack
import pytest
from websockets.asyncio.client import connect as ws_connect

TIMEOUT = 5.0
RS = b"\x1e"
JSON_HANDSHAKE = b'{"protocol":"json","version":1}\x1e'
MESSAGEPACK_HANDSHAKE = b'{"protocol":"messagepack","version":1}\x1e'
HANDSHAKE_OK = b"{}\x1e"
TEXT_PLAIN = "text/plain"
OCTET_STREAM = "application/octet-stream"
NO_CACHE = {
    "cache-control": "no-cache, no-store",
    "pragma": "no-cache",
    "expires": "Thu, 01 Jan 1970 00:00:00 GMT",
}
SSE_HEADERS = {
    "content-type": "text/event-stream",
    "cache-control": "no-cache,no-store",
    "pragma": "no-cache",
    "content-encoding": "identity",
}
SSE_ACCEPT = {"Accept": "text/event-stream"}
NOT_FOUND = b"No Connection with that ID"


# -- HTTP helpers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def _connection(base_url: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(base_url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)


def request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> Reply:
    connection = _connection(base_url, timeout)
    try:
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        headers_ = {name.lower(): value for name, value in response.getheaders()}
        return Reply(response.status, headers_, response.read())
    finally:
        connection.close()


@dataclass(frozen=True)
class Negotiated:
    hub: str
    connection_id: str
    token: str

    @property
    def path(self) -> str:
        return f"/hubs/{self.hub}?id={self.token}"


def negotiate(base_url: str, hub: str = "echo") -> Negotiated:
    reply = request(base_url, "POST", f"/hubs/{hub}/negotiate?negotiateVersion=1")
    assert reply.status == 200, reply
    body = json.loads(reply.body)
    return Negotiated(hub, body["connectionId"], body["connectionToken"])


def poll(
    base_url: str, connection: Negotiated, timeout: float = TIMEOUT, headers: dict[str, str] | None = None
) -> Reply:
    return request(base_url, "GET", f"{connection.path}&_={int(time.time() * 1000)}", headers=headers, timeout=timeout)


def send(base_url: str, connection: Negotiated, body: bytes) -> Reply:
    return request(base_url, "POST", connection.path, body, {"Content-Type": "text/plain;charset=UTF-8"})


def delete(base_url: str, connection: Negotiated) -> Reply:
    return request(base_url, "DELETE", connection.path)


def assert_text(reply: Reply, status: int, body: bytes = b"") -> None:
    assert (reply.status, reply.body) == (status, body), reply
    assert reply.content_type == TEXT_PLAIN, reply


def assert_no_cache(reply: Reply) -> None:
    assert {name: reply.headers.get(name) for name in NO_CACHE} == NO_CACHE, reply.headers


def invocation(target: str, *args: Any, invocation_id: str | None = None) -> bytes:
    message: dict[str, Any] = {"type": 1, "target": target, "arguments": list(args)}
    if invocation_id is not None:
        message["invocationId"] = invocation_id
    return json.dumps(message).encode() + RS


def records(data: bytes) -> list[dict[str, Any]]:
    """The JSON records of a poll body or an event's data, pings left out."""
    assert data.endswith(RS), data
    parsed = [json.loads(record) for record in data.split(RS)[:-1]]
    return [record for record in parsed if record.get("type") != 6]


def completion(invocation_id: str, result: Any) -> dict[str, Any]:
    return {"type": 3, "invocationId": invocation_id, "result": result}


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    """Threads for requests that must wait while others are made."""
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


def background(pool: ThreadPoolExecutor, function: Callable[..., Reply], *args: Any, **kwargs: Any) -> Future[Reply]:
    future = pool.submit(function, *args, **kwargs)
    time.sleep(0.5)  # let it reach the server and wait there
    assert not future.done(), future.result()
    return future


# -- Server-Sent Events stream -----------------------------------------------------------------


class EventStream:
    """``GET {hub}?id=`` with ``Accept: text/event-stream``, read as it comes."""

    def __init__(self, base_url: str, connection: Negotiated, **headers: str) -> None:
        self.connection = _connection(base_url, TIMEOUT)
        self.connection.request("GET", connection.path, headers={**SSE_ACCEPT, **headers})
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = {name.lower(): value for name, value in self.response.getheaders()}
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.response.read1(65536)
        self.buffer += chunk
        return bool(chunk)

    def read_exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            assert self._fill(), f"the stream ended after {self.buffer!r}"
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def next_event(self) -> bytes:
        """One raw event, its final empty line included."""
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"the stream ended after {self.buffer!r}"
        event, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return event + b"\r\n\r\n"

    def next_records(self) -> list[dict[str, Any]]:
        """The non-ping records of the next events with any (ping-only events are skipped)."""
        while True:
            event = self.next_event()
            lines = event[: -len(b"\r\n\r\n")].split(b"\r\n")
            assert all(line.startswith(b"data: ") for line in lines), event
            found = records(b"\n".join(line[len(b"data: ") :] for line in lines))
            if found:
                return found

    def ended(self) -> bool:
        return not self.buffer and not self._fill()

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def streams() -> Iterator[list[EventStream]]:
    opened: list[EventStream] = []
    yield opened
    for stream in opened:
        stream.close()


def open_stream(base_url: str, streams: list[EventStream], connection: Negotiated, **headers: str) -> EventStream:
    stream = EventStream(base_url, connection, **headers)
    streams.append(stream)
    assert stream.status == 200
    assert stream.read_exactly(3) == b":\r\n"
    return stream


def sse_connection(base_url: str, streams: list[EventStream], hub: str = "echo") -> tuple[Negotiated, EventStream]:
    """A connection on an SSE stream, after the handshake."""
    connection = negotiate(base_url, hub)
    stream = open_stream(base_url, streams, connection)
    assert_text(send(base_url, connection, JSON_HANDSHAKE), 200)
    assert stream.next_event() == b"data: {}\x1e\r\n\r\n"
    return connection, stream


def lp_connection(base_url: str, hub: str = "echo", handshake: bytes = JSON_HANDSHAKE) -> Negotiated:
    """A long-polling connection after its first poll and the handshake."""
    connection = negotiate(base_url, hub)
    assert poll(base_url, connection).status == 200
    assert_text(send(base_url, connection, handshake), 200)
    reply = poll(base_url, connection)
    assert (reply.status, reply.body) == (200, HANDSHAKE_OK)
    return connection


# -- requests the dispatcher refuses ---------------------------------------------------------

REQUESTS = {
    "sse": ("GET", SSE_ACCEPT),
    "poll": ("GET", {}),
    "send": ("POST", {}),
    "delete": ("DELETE", {}),
}


@pytest.mark.parametrize("query", ["", "?id=", "?other=1"], ids=["no-query", "empty-id", "other-key"])
@pytest.mark.parametrize("kind", list(REQUESTS))
def test_id_missing_is_400(base_url: str, kind: str, query: str) -> None:
    method, headers = REQUESTS[kind]
    assert_text(request(base_url, method, f"/hubs/echo{query}", headers=headers), 400, b"Connection ID required")


@pytest.mark.parametrize("token", ["unknown", "unknown.node", "a" * 22])
@pytest.mark.parametrize("kind", list(REQUESTS))
def test_unknown_id_is_404(base_url: str, kind: str, token: str) -> None:
    method, headers = REQUESTS[kind]
    assert_text(request(base_url, method, f"/hubs/echo?id={token}", headers=headers), 404, NOT_FOUND)


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("sse", b"ServerSentEvents transport not supported by this end point type"),
        ("poll", b"LongPolling transport not supported by this end point type"),
    ],
)
def test_transport_not_enabled_on_the_endpoint_is_404(base_url: str, kind: str, body: bytes) -> None:
    connection = negotiate(base_url, "echo-ws")
    method, headers = REQUESTS[kind]
    assert_text(request(base_url, method, connection.path, headers=headers), 404, body)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "OPTIONS"])
def test_other_methods_are_405(base_url: str, method: str) -> None:
    connection = negotiate(base_url)
    reply = request(base_url, method, connection.path)
    assert reply.status == 405
    assert reply.content_type == TEXT_PLAIN


def test_sse_connection_then_poll_is_400(base_url: str, streams: list[EventStream]) -> None:
    connection, _ = sse_connection(base_url, streams)
    assert_text(poll(base_url, connection), 400, b"Cannot change transports mid-connection")


def test_polled_connection_then_sse_is_400(base_url: str) -> None:
    connection = lp_connection(base_url)
    reply = request(base_url, "GET", connection.path, headers=SSE_ACCEPT)
    assert_text(reply, 400, b"Cannot change transports mid-connection")


def test_second_sse_stream_is_409(base_url: str, streams: list[EventStream]) -> None:
    connection, stream = sse_connection(base_url, streams)
    reply = request(base_url, "GET", connection.path, headers=SSE_ACCEPT)
    assert (reply.status, reply.body) == (409, b"")
    assert_text(send(base_url, connection, invocation("Echo", "first", invocation_id="1")), 200)
    assert stream.next_records() == [completion("1", "first")]


def test_delete_on_an_sse_connection_is_400(base_url: str, streams: list[EventStream]) -> None:
    connection, stream = sse_connection(base_url, streams)
    assert_text(delete(base_url, connection), 400, b"Cannot terminate this connection using the DELETE endpoint.")
    assert_text(send(base_url, connection, invocation("Echo", "alive", invocation_id="1")), 200)
    assert stream.next_records() == [completion("1", "alive")]


@pytest.mark.parametrize(
    ("kind", "status", "body"),
    [
        ("send", 405, b"POST requests are not allowed for WebSocket connections."),
        ("delete", 400, b"Cannot terminate this connection using the DELETE endpoint."),
        ("sse", 400, b"Cannot change transports mid-connection"),
        ("poll", 400, b"Cannot change transports mid-connection"),
    ],
)
async def test_http_requests_on_a_websocket_connection(base_url: str, kind: str, status: int, body: bytes) -> None:
    connection = await asyncio.to_thread(negotiate, base_url)
    url = base_url.replace("http://", "ws://", 1) + connection.path
    async with ws_connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as socket:
        await socket.send(JSON_HANDSHAKE.decode())
        assert await asyncio.wait_for(socket.recv(), TIMEOUT) == HANDSHAKE_OK.decode()
        method, headers = REQUESTS[kind]
        message = invocation("Echo", "x", invocation_id="1") if kind == "send" else None
        reply = await asyncio.to_thread(request, base_url, method, connection.path, message, headers)
        assert_text(reply, status, body)
        await socket.send(invocation("Echo", "still open", invocation_id="1").decode())
        frame = await asyncio.wait_for(socket.recv(), TIMEOUT)
        assert isinstance(frame, str)
        assert records(frame.encode()) == [completion("1", "still open")]


# -- Server-Sent Events ------------------------------------------------------------------------


def test_sse_headers_preamble_and_handshake(base_url: str, streams: list[EventStream]) -> None:
    connection = negotiate(base_url)
    stream = EventStream(base_url, connection)
    streams.append(stream)
    assert stream.status == 200
    assert {name: stream.headers.get(name) for name in SSE_HEADERS} == SSE_HEADERS
    assert "content-length" not in stream.headers
    assert stream.read_exactly(3) == b":\r\n"
    reply = send(base_url, connection, JSON_HANDSHAKE)
    assert_text(reply, 200, b"")
    assert reply.headers.get("content-length") == "0"
    assert stream.next_event() == b"data: {}\x1e\r\n\r\n"


def test_sse_is_never_gzipped(base_url: str, streams: list[EventStream]) -> None:
    stream = open_stream(base_url, streams, negotiate(base_url), **{"Accept-Encoding": "gzip"})
    assert stream.headers.get("content-encoding") == "identity"
    assert "content-length" not in stream.headers


def test_several_records_in_one_post(base_url: str, streams: list[EventStream]) -> None:
    connection, stream = sse_connection(base_url, streams)
    body = b"".join(invocation("Echo", f"record {n}", invocation_id=str(n)) for n in range(3))
    assert_text(send(base_url, connection, body + invocation("SendToCaller", "pushed")), 200)
    received: list[dict[str, Any]] = []
    while len(received) < 4:
        received += stream.next_records()
    assert received == [
        *(completion(str(n), f"record {n}") for n in range(3)),
        {"type": 1, "target": "Receive", "arguments": ["pushed"]},
    ]


@pytest.mark.parametrize(
    "split",
    [10, len(JSON_HANDSHAKE), len(JSON_HANDSHAKE) + 20],
    ids=["in-the-handshake", "between", "in-the-invocation"],
)
def test_records_split_over_two_posts(base_url: str, streams: list[EventStream], split: int) -> None:
    connection = negotiate(base_url)
    stream = open_stream(base_url, streams, connection)
    data = JSON_HANDSHAKE + invocation("Echo", "split ✓", invocation_id="1")
    assert_text(send(base_url, connection, data[:split]), 200)
    assert_text(send(base_url, connection, data[split:]), 200)
    received: list[dict[str, Any]] = []
    while len(received) < 2:
        event = stream.next_event()
        assert event.startswith(b"data: "), event
        assert event.count(b"\r\n") == 2, event
        received += [json.loads(record) for record in event[len(b"data: ") : -4].split(RS)[:-1]]
    assert received == [{}, completion("1", "split ✓")]


def test_sse_refuses_the_messagepack_handshake(base_url: str, streams: list[EventStream]) -> None:
    connection = negotiate(base_url)
    stream = open_stream(base_url, streams, connection)
    assert_text(send(base_url, connection, MESSAGEPACK_HANDSHAKE), 200)
    error = (
        "Cannot use the 'messagepack' protocol on the current transport. "
        "The transport does not support 'Binary' transfer format."
    )
    expected = json.dumps({"error": error}, separators=(",", ":")).encode()
    assert stream.next_event() == b"data: " + expected + b"\x1e\r\n\r\n"
    assert stream.ended()
    assert_text(send(base_url, connection, JSON_HANDSHAKE), 404, NOT_FOUND)


def test_sse_stream_ends_after_a_server_close(base_url: str, streams: list[EventStream]) -> None:
    connection, stream = sse_connection(base_url, streams)
    assert_text(send(base_url, connection, invocation("Abort")), 200)
    assert stream.next_records() == [{"type": 7}]
    assert stream.ended()
    assert_text(send(base_url, connection, invocation("Echo", "late")), 404, NOT_FOUND)


def test_closing_the_event_stream_disconnects(base_url: str, streams: list[EventStream]) -> None:
    """An SSE client goes away by closing its stream: on_disconnected runs, later sends get 404."""
    _, witness = sse_connection(base_url, streams, "presence")
    connection, stream = sse_connection(base_url, streams, "presence")
    stream.close()
    received = records_until(witness, lambda record: record.get("target") == "Left")
    assert received == [{"type": 1, "target": "Left", "arguments": [connection.connection_id, None]}]
    assert_text(send(base_url, connection, invocation("Echo", "late")), 404, NOT_FOUND)


# -- Long Polling ------------------------------------------------------------------------------


def test_first_poll_returns_at_once(base_url: str) -> None:
    connection = negotiate(base_url)
    started = time.monotonic()
    reply = poll(base_url, connection)
    assert time.monotonic() - started < 2
    assert (reply.status, reply.body) == (200, b"")
    assert reply.content_type == OCTET_STREAM
    assert reply.headers.get("content-length") == "0"
    assert_no_cache(reply)


def test_handshake_then_poll(base_url: str) -> None:
    connection = negotiate(base_url)
    assert poll(base_url, connection).status == 200
    reply = send(base_url, connection, JSON_HANDSHAKE)
    assert_text(reply, 200, b"")
    reply = poll(base_url, connection)
    assert (reply.status, reply.body, reply.content_type) == (200, HANDSHAKE_OK, OCTET_STREAM)
    assert_no_cache(reply)


def test_poll_takes_everything_pending(base_url: str) -> None:
    connection = lp_connection(base_url)
    body = b"".join(invocation("Echo", n, invocation_id=str(n)) for n in range(3))
    assert_text(send(base_url, connection, body), 200)
    received: list[dict[str, Any]] = []
    while len(received) < 3:
        reply = poll(base_url, connection)
        assert (reply.status, reply.content_type) == (200, OCTET_STREAM)
        received += records(reply.body)
    assert received == [completion(str(n), n) for n in range(3)]


def test_poll_is_not_gzipped(base_url: str) -> None:
    connection = lp_connection(base_url)
    assert_text(send(base_url, connection, invocation("Echo", "z" * 2000, invocation_id="1")), 200)
    reply = poll(base_url, connection, headers={"Accept-Encoding": "gzip"})
    assert "gzip" not in reply.headers.get("content-encoding", "")
    assert records(reply.body) == [completion("1", "z" * 2000)]


def test_idle_poll_returns_empty_after_the_poll_timeout(base_url: str) -> None:
    connection = lp_connection(base_url, "short-poll")
    started = time.monotonic()
    reply = poll(base_url, connection)
    elapsed = time.monotonic() - started
    assert 0.8 < elapsed < 4, elapsed
    assert (reply.status, reply.body, reply.content_type) == (200, b"", OCTET_STREAM)
    assert reply.headers.get("content-length") == "0"
    assert_no_cache(reply)
    assert_text(send(base_url, connection, invocation("Echo", "after", invocation_id="1")), 200)
    assert records(poll(base_url, connection).body) == [completion("1", "after")]


def test_new_poll_completes_the_waiting_one_with_204(base_url: str, pool: ThreadPoolExecutor) -> None:
    connection = lp_connection(base_url)
    first = background(pool, poll, base_url, connection)
    second = pool.submit(poll, base_url, connection)
    superseded = first.result(TIMEOUT)
    assert (superseded.status, superseded.body) == (204, b"")
    assert_no_cache(superseded)
    assert not second.done()
    assert_text(delete(base_url, connection), 202)
    assert second.result(TIMEOUT).status == 204


def test_new_poll_gets_what_is_written_after_it_took_over(base_url: str, pool: ThreadPoolExecutor) -> None:
    """The poll that superseded another one is woken by new data, not only by its poll timeout
    (90 s by default)."""
    connection = lp_connection(base_url)
    first = background(pool, poll, base_url, connection)
    second = pool.submit(poll, base_url, connection, 4.0)
    assert first.result(TIMEOUT).status == 204
    assert_text(send(base_url, connection, invocation("Echo", "to the new poll", invocation_id="1")), 200)
    try:
        reply = second.result(2.5)
    except TimeoutError:
        pytest.fail("the poll that took over was not woken by the completion written after it")
    assert (reply.status, reply.content_type) == (200, OCTET_STREAM)
    assert records(reply.body) == [completion("1", "to the new poll")]


def test_data_for_an_abandoned_poll_goes_to_the_next_one(base_url: str) -> None:
    """A poll the client gives up (its HTTP request closed) takes nothing with it."""
    connection = lp_connection(base_url)
    with pytest.raises(TimeoutError):
        poll(base_url, connection, timeout=0.5)
    time.sleep(0.3)  # the server notices the closed request
    assert_text(send(base_url, connection, invocation("Echo", "kept", invocation_id="1")), 200)
    reply = poll(base_url, connection)
    assert (reply.status, records(reply.body)) == (200, [completion("1", "kept")])


def test_delete_is_202_and_ends_the_waiting_poll_with_204(base_url: str, pool: ThreadPoolExecutor) -> None:
    connection = lp_connection(base_url)
    waiting = background(pool, poll, base_url, connection)
    assert_text(delete(base_url, connection), 202, b"")
    ended = waiting.result(TIMEOUT)
    assert (ended.status, ended.body) == (204, b"")


@pytest.mark.parametrize("kind", list(REQUESTS))
def test_requests_after_delete_are_404(base_url: str, kind: str) -> None:
    connection = lp_connection(base_url)
    assert_text(delete(base_url, connection), 202, b"")
    method, headers = REQUESTS[kind]
    assert_text(request(base_url, method, connection.path, headers=headers), 404, NOT_FOUND)


@pytest.mark.parametrize("poll_waiting", [False, True], ids=["next-poll", "waiting-poll"])
def test_server_close_then_204_then_404(base_url: str, pool: ThreadPoolExecutor, poll_waiting: bool) -> None:
    """``context.abort()``: the Close message goes to the waiting or the next poll, then 204, then 404."""
    connection = lp_connection(base_url)
    waiting = background(pool, poll, base_url, connection) if poll_waiting else None
    assert_text(send(base_url, connection, invocation("Abort")), 200)
    reply = poll(base_url, connection) if waiting is None else waiting.result(TIMEOUT)
    assert (reply.status, reply.body) == (200, b'{"type":7}\x1e')
    reply = poll(base_url, connection)
    assert (reply.status, reply.body) == (204, b"")
    assert_no_cache(reply)
    assert_text(poll(base_url, connection), 404, NOT_FOUND)


def records_until(stream: EventStream, done: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Records up to the first one that is ``done`` (each read bounded by the socket timeout)."""
    received: list[dict[str, Any]] = []
    while not any(done(record) for record in received):
        received += stream.next_records()
    return received


def test_client_that_stops_polling_is_disposed(base_url: str, streams: list[EventStream]) -> None:
    """DISCONNECT_TIMEOUT (1 s on this hub) without a poll: on_disconnected runs once, then 404."""
    witness_connection, witness = sse_connection(base_url, streams, "quick-dispose")
    connection = lp_connection(base_url, "quick-dispose")
    started = time.monotonic()
    received = records_until(witness, lambda record: record.get("target") == "Left")
    # The exception on_disconnected gets (its class name, the second argument) is not checked:
    # PROTOCOL.md does not say which one a timed-out long-polling client gives.
    assert [(record["target"], record["arguments"][0]) for record in received] == [("Left", connection.connection_id)]
    assert 0.8 < time.monotonic() - started < 4
    time.sleep(0.5)  # a second on_disconnected would come now, before the fence
    assert_text(send(base_url, witness_connection, invocation("Echo", "fence", invocation_id="1")), 200)
    assert records_until(witness, lambda record: record.get("type") == 3) == [completion("1", "fence")]
    assert_text(poll(base_url, connection), 404, NOT_FOUND)


def test_negotiated_token_never_used_expires(base_url: str) -> None:
    used, unused = negotiate(base_url, "quick-dispose"), negotiate(base_url, "quick-dispose")
    assert poll(base_url, used).status == 200  # a fresh token is valid
    time.sleep(2.2)  # DISCONNECT_TIMEOUT is 1 s on this hub; the expiry timer is exact
    for kind in ("sse", "poll"):
        method, headers = REQUESTS[kind]
        assert_text(request(base_url, method, unused.path, headers=headers), 404, NOT_FOUND)


# -- MessagePack over long polling -------------------------------------------------------------


def frame(message: list[Any]) -> bytes:
    payload: bytes = msgpack.packb(message, use_bin_type=True)
    length, prefix = len(payload), bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        prefix.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(prefix) + payload


def unframe(data: bytes) -> list[list[Any]]:
    messages, position = [], 0
    while position < len(data):
        length = shift = 0
        while True:
            byte = data[position]
            position += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        messages.append(msgpack.unpackb(data[position : position + length], raw=False, timestamp=3))
        position += length
    assert position == len(data)
    return messages


def test_messagepack_over_long_polling_is_binary(base_url: str) -> None:
    connection = lp_connection(base_url, handshake=MESSAGEPACK_HANDSHAKE)
    body = frame([1, {}, "1", "Echo", [b"\x00\xff\x1e"]]) + frame([1, {}, "2", "Echo", ["x" * 300]])
    reply = request(base_url, "POST", connection.path, body, {"Content-Type": OCTET_STREAM})
    assert_text(reply, 200, b"")
    received: list[list[Any]] = []
    while len(received) < 2:
        reply = poll(base_url, connection)
        assert (reply.status, reply.content_type) == (200, OCTET_STREAM)
        received += [message for message in unframe(reply.body) if message != [6]]
    assert received == [[3, {}, "1", 3, b"\x00\xff\x1e"], [3, {}, "2", 3, "x" * 300]]
    assert_text(send(base_url, connection, frame([7, None])), 200)
    reply = poll(base_url, connection)
    assert unframe(reply.body) == [[7, None, False]]
