"""MessagePack hub protocol: the clients' short forms in, the .NET server's forms out."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import msgpack
import pytest

from django_signalr.protocol import (
    PING,
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    InvalidDataException,
    InvocationMessage,
    MessagePackHubProtocol,
    StreamInvocationMessage,
    StreamItemMessage,
)
from django_signalr.protocol.framing import read_varint, write_varint

protocol = MessagePackHubProtocol()


def record(*items: Any) -> bytes:
    body = msgpack.packb(list(items), use_bin_type=True, datetime=True)
    return write_varint(len(body)) + body


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        # Bytes written by @microsoft/signalr-protocol-msgpack 10.0.11 for invoke("Echo", "hi")
        (bytes.fromhex("0e950180a130a44563686f91a26869"), InvocationMessage("Echo", ["hi"], "0")),
        (record(1, {}, None, "Add", [1, 2]), InvocationMessage("Add", [1, 2])),
        (record(1, {}, "1", "Up", [], ["0"]), InvocationMessage("Up", [], "1", ["0"])),
        (record(4, {}, "2", "Counter", [3]), StreamInvocationMessage("2", "Counter", [3])),
        (record(2, {}, "0", b"\x00\x01"), StreamItemMessage("0", b"\x00\x01")),
        (record(3, {}, "s1", 1, "boom"), CompletionMessage("s1", error="boom")),
        (record(3, {}, "s1", 2), CompletionMessage("s1")),
        (record(3, {}, "s1", 3, None), CompletionMessage("s1", None, has_result=True)),
        (record(5, {}, "2"), CancelInvocationMessage("2")),
        (bytes.fromhex("029106"), PING),
        (bytes.fromhex("039207c0"), CloseMessage()),  # the JS client's two-element Close
        (record(7, "bye", True), CloseMessage("bye", True)),
        (record(1, {"a": "b"}, None, "T", []), InvocationMessage("T", [], None, None, {"a": "b"})),
    ],
)
def test_parses_what_clients_send(wire: bytes, message: Any) -> None:
    assert protocol.parse_messages(wire, None) == ([message], len(wire))


def test_timestamps_become_aware_datetimes_and_bins_bytes() -> None:
    when = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    [message], _ = protocol.parse_messages(record(1, {}, None, "T", [when, b"\x01"]), None)
    assert message.arguments == [when, b"\x01"]


@pytest.mark.parametrize(
    ("message", "items"),
    [
        (InvocationMessage("Receive", ["a"]), [1, {}, None, "Receive", ["a"], []]),
        (InvocationMessage("Get", [], "s0"), [1, {}, "s0", "Get", [], []]),
        (CompletionMessage.with_error("1", "bad"), [3, {}, "1", 1, "bad"]),
        (CompletionMessage.empty("1"), [3, {}, "1", 2]),
        (CompletionMessage.with_result("1", None), [3, {}, "1", 3, None]),
        (StreamItemMessage("1", 5), [2, {}, "1", 5]),
        (CancelInvocationMessage("1"), [5, {}, "1"]),
        (CloseMessage(), [7, None, False]),
        (CloseMessage("x", True), [7, "x", True]),
    ],
)
def test_writes_the_dotnet_layout(message: Any, items: list[Any]) -> None:
    assert protocol.write_message(message) == record(*items)


def test_ping_is_three_fixed_bytes() -> None:
    assert protocol.write_message(PING) == b"\x02\x91\x06"


def test_values() -> None:
    written = protocol.write_message(
        CompletionMessage.with_result(
            "1",
            [
                b"\x01",
                datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC),
                datetime.datetime(2000, 1, 1),  # naive: UTC
                uuid.UUID("00010203-0405-0607-0706-050403020100"),
            ],
        )
    )
    _, used = read_varint(written, 0) or (0, 0)
    result = msgpack.unpackb(written[used:], raw=False, timestamp=3)[4]
    assert result[0] == b"\x01"
    assert result[1] == result[2] == datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    assert result[3] == "00010203-0405-0607-0706-050403020100"
    assert b"\xd6\xff" in written  # timestamp 32 extension, type -1


@pytest.mark.parametrize(
    ("length", "encoded"),
    [(0, "00"), (127, "7f"), (128, "8001"), (5248, "8029"), (2**31 - 1, "ffffffff07")],
)
def test_varint(length: int, encoded: str) -> None:
    assert write_varint(length).hex() == encoded
    assert read_varint(bytes.fromhex(encoded), 0) == (length, len(encoded) // 2)


def test_varint_limits() -> None:
    assert read_varint(b"\x80", 0) is None  # cut short: wait for more
    with pytest.raises(InvalidDataException, match="over 2GB"):
        read_varint(b"\xff\xff\xff\xff\x0f", 0)
    with pytest.raises(InvalidDataException, match="over 2GB"):
        read_varint(b"\xff\xff\xff\xff\xff\x01", 0)


def test_partial_record_waits_for_more() -> None:
    data = record(6) + record(1, {}, None, "T", [])
    assert protocol.parse_messages(data[:-2], None) == ([PING], 3)


def test_size_limit() -> None:
    big = record(1, {}, None, "T", ["x" * 100])
    with pytest.raises(InvalidDataException, match="The maximum message size of 64B was exceeded"):
        protocol.parse_messages(big, 64)
    assert protocol.parse_messages(big, len(big))[0][0].arguments == ["x" * 100]


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        (b"\x01\xc1", "Error reading MessagePack data."),
        (record(), "expected a non-empty array"),
        (record("1"), "Reading 'messageType' as Int32 failed."),
        (record(1, {}, None), "too few elements"),
        (record(1, {}, None, 5, []), "Reading 'target' as String failed."),
        (record(3, {}, "1", 9), "Invalid invocation result kind."),
    ],
)
def test_invalid_messages(wire: bytes, error: str) -> None:
    with pytest.raises(InvalidDataException, match=error):
        protocol.parse_messages(wire, None)


def test_unknown_types_are_ignored() -> None:
    assert protocol.parse_messages(record(42, "future") + record(6), None)[0] == [PING]
