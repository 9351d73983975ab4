"""JSON hub protocol, byte for byte: what the official clients send, what .NET writes."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any

import pytest

from django_signalr.protocol import (
    PING,
    AckMessage,
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    InvalidDataException,
    InvocationMessage,
    JsonHubProtocol,
    SequenceMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)

protocol = JsonHubProtocol()


def parse(data: bytes, limit: int | None = None) -> list[Any]:
    messages, used = protocol.parse_messages(data, limit)
    assert used == len(data)
    return messages


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        # @microsoft/signalr's JSON.stringify order: arguments, invocationId, target, type
        (
            b'{"arguments":["hi"],"invocationId":"0","target":"Echo","type":1}\x1e',
            InvocationMessage("Echo", ["hi"], "0"),
        ),
        (b'{"arguments":[1,2],"target":"Add","type":1}\x1e', InvocationMessage("Add", [1, 2])),
        (
            b'{"arguments":[],"invocationId":"1","streamIds":["0"],"target":"Up","type":1}\x1e',
            InvocationMessage("Up", [], "1", ["0"]),
        ),
        (
            b'{"arguments":[3],"invocationId":"2","target":"Counter","type":4}\x1e',
            StreamInvocationMessage("2", "Counter", [3]),
        ),
        (b'{"invocationId":"0","item":"a","type":2}\x1e', StreamItemMessage("0", "a")),
        (b'{"invocationId":"0","item":null,"type":2}\x1e', StreamItemMessage("0", None)),
        (b'{"invocationId":"0","type":3}\x1e', CompletionMessage("0")),
        (
            b'{"invocationId":"s1","result":null,"type":3}\x1e',
            CompletionMessage("s1", None, has_result=True),
        ),
        (
            b'{"error":"Error: from callback","invocationId":"s2","type":3}\x1e',
            CompletionMessage("s2", error="Error: from callback"),
        ),
        (b'{"invocationId":"2","type":5}\x1e', CancelInvocationMessage("2")),
        (b'{"type":6}\x1e', PING),
        (b'{"type":7}\x1e', CloseMessage()),
        (b'{"type":7,"error":"bye","allowReconnect":true}\x1e', CloseMessage("bye", True)),
        (b'{"sequenceId":12,"type":8}\x1e', AckMessage(12)),
        (b'{"sequenceId":1,"type":9}\x1e', SequenceMessage(1)),
        # headers, unknown properties and any property order are accepted
        (
            b'{"type":1,"headers":{"a":"b"},"extra":[1,{"x":2}],"target":"T","arguments":[]}\x1e',
            InvocationMessage("T", [], None, None, {"a": "b"}),
        ),
    ],
)
def test_parses_what_clients_send(wire: bytes, message: Any) -> None:
    assert parse(wire) == [message]


def test_unknown_message_types_are_ignored() -> None:
    assert parse(b'{"type":99,"whatever":1}\x1e{"type":6}\x1e') == [PING]


def test_several_records_and_a_partial_one() -> None:
    data = b'{"type":6}\x1e{"arguments":[],"target":"A","type":1}\x1e{"type":'
    messages, used = protocol.parse_messages(data, None)
    assert messages == [PING, InvocationMessage("A", [])]
    assert data[used:] == b'{"type":'


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        (b"{nope}\x1e", "Error reading JSON."),
        (b"[1]\x1e", "Unexpected JSON Token Type. Expected a JSON Object."),
        (b'{"target":"A"}\x1e', "Missing required property 'type'."),
        (b'{"type":"1"}\x1e', "Expected 'type' to be of type Number."),
        (b'{"type":1,"arguments":[]}\x1e', "Missing required property 'target'."),
        (b'{"type":1,"target":"A"}\x1e', "Missing required property 'arguments'."),
        (b'{"type":1,"target":"A","arguments":{}}\x1e', "Expected 'arguments' to be of type Array."),
        (b'{"type":1,"target":5,"arguments":[]}\x1e', "Expected 'target' to be of type String."),
        (b'{"type":3}\x1e', "Missing required property 'invocationId'."),
        (
            b'{"type":3,"invocationId":"1","result":1,"error":"e"}\x1e',
            "The 'error' and 'result' properties are mutually exclusive.",
        ),
        (b'{"type":2,"invocationId":"1"}\x1e', "Missing required property 'item'."),
        (b'{"type":8}\x1e', "Missing required property 'sequenceId'."),
        (
            b'{"type":1,"target":"A","arguments":[],"headers":{"a":1}}\x1e',
            "Expected header 'a' to be of type String.",
        ),
    ],
)
def test_invalid_messages_raise_the_dotnet_texts(wire: bytes, error: str) -> None:
    with pytest.raises(InvalidDataException) as raised:
        parse(wire)
    assert str(raised.value) == error


SIZE_ERROR = "The maximum message size of 32B was exceeded. The message size can be configured in AddHubOptions."


def test_size_limit_counts_the_separator() -> None:
    record = b'{"type":1,"target":"A","arguments":[]}\x1e'
    assert protocol.parse_messages(record, len(record)) == ([InvocationMessage("A", [])], len(record))
    with pytest.raises(InvalidDataException, match="was exceeded"):
        protocol.parse_messages(record, len(record) - 1)


def test_an_unfinished_record_over_the_limit_fails_before_its_end() -> None:
    with pytest.raises(InvalidDataException) as raised:
        protocol.parse_messages(b'{"type":1,"target":"' + b"x" * 40, 32)
    assert str(raised.value) == SIZE_ERROR
    assert protocol.parse_messages(b'{"type":1,' + b"x" * 22, 32) == ([], 0)


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        (
            InvocationMessage("Receive", ["a", 1]),
            b'{"type":1,"target":"Receive","arguments":["a",1]}\x1e',
        ),
        (
            InvocationMessage("GetMessage", [], "s0"),
            b'{"type":1,"invocationId":"s0","target":"GetMessage","arguments":[]}\x1e',
        ),
        (CompletionMessage.with_result("1", 5), b'{"type":3,"invocationId":"1","result":5}\x1e'),
        (CompletionMessage.with_result("1", None), b'{"type":3,"invocationId":"1","result":null}\x1e'),
        (CompletionMessage.empty("1"), b'{"type":3,"invocationId":"1"}\x1e'),
        (CompletionMessage.with_error("1", "bad"), b'{"type":3,"invocationId":"1","error":"bad"}\x1e'),
        (StreamItemMessage("1", None), b'{"type":2,"invocationId":"1","item":null}\x1e'),
        (CancelInvocationMessage("1"), b'{"type":5,"invocationId":"1"}\x1e'),
        (PING, b'{"type":6}\x1e'),
        (CloseMessage(), b'{"type":7}\x1e'),
        (
            CloseMessage("Connection closed with an error.", True),
            b'{"type":7,"error":"Connection closed with an error.","allowReconnect":true}\x1e',
        ),
        (CloseMessage("x", False), b'{"type":7,"error":"x"}\x1e'),
        (AckMessage(3), b'{"type":8,"sequenceId":3}\x1e'),
        (SequenceMessage(4), b'{"type":9,"sequenceId":4}\x1e'),
        (
            InvocationMessage("T", [], headers={"k": "v"}),
            b'{"type":1,"headers":{"k":"v"},"target":"T","arguments":[]}\x1e',
        ),
    ],
)
def test_writes_the_dotnet_layout(message: Any, wire: bytes) -> None:
    assert protocol.write_message(message) == wire


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_values_are_written_as_dotnet_writes_them() -> None:
    value = [
        b"\x01\x02\x03",
        datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC),
        datetime.datetime(2000, 1, 1, 12, 30),  # naive means UTC, as with Django's USE_TZ
        uuid.UUID("00010203-0405-0607-0706-050403020100"),
        Point(1, 2),
        {1: "int keys become strings"},
        "é\x1e",
    ]
    assert protocol.write_message(CompletionMessage.with_result("1", value)) == (
        b'{"type":3,"invocationId":"1","result":["AQID","2000-01-01T00:00:00Z",'
        b'"2000-01-01T12:30:00Z","00010203-0405-0607-0706-050403020100",{"x":1,"y":2},'
        b'{"1":"int keys become strings"},"\xc3\xa9\\u001e"]}\x1e'
    )


def test_unserializable_values_raise_type_error() -> None:
    with pytest.raises(TypeError):
        protocol.write_message(InvocationMessage("T", [object()]))
