"""The connection state machine and its clocks, driven with explicit times (no sleeping)."""

from __future__ import annotations

import dataclasses

import pytest

from django_signalr.conf import resolve_options
from django_signalr.connection import Due, HubConnectionState, Phase
from django_signalr.protocol import PING, InvalidDataException, InvocationMessage, TransferFormat

TEXT_AND_BINARY = (TransferFormat.TEXT, TransferFormat.BINARY)
HANDSHAKE = b'{"protocol":"json","version":1}\x1e'


def state(formats: tuple[TransferFormat, ...] = TEXT_AND_BINARY, **options: object) -> HubConnectionState:
    return HubConnectionState(dataclasses.replace(resolve_options(), **options), formats, now=100.0)


def test_handshake_then_messages_in_the_same_read() -> None:
    s = state()
    outcome = s.receive_handshake(HANDSHAKE + b'{"type":6}\x1e{"type":1,"target":"A","arguments":[]}\x1e')
    assert outcome is not None
    assert outcome.error is None
    assert outcome.protocol is not None
    assert outcome.protocol.name == "json"
    assert outcome.messages == (PING, InvocationMessage("A", []))
    assert s.phase is Phase.OPEN


def test_handshake_split_over_reads() -> None:
    s = state()
    assert s.receive_handshake(HANDSHAKE[:10]) is None
    outcome = s.receive_handshake(HANDSHAKE[10:] + b'{"type":6}')
    assert outcome is not None
    assert outcome.messages == ()
    assert s.receive(b"\x1e") == [PING]


@pytest.mark.parametrize(
    ("request_bytes", "options", "formats", "error"),
    [
        (b'{"protocol":"xml","version":1}\x1e', {}, TEXT_AND_BINARY, "The protocol 'xml' is not supported."),
        (
            b'{"protocol":"json","version":3}\x1e',
            {},
            TEXT_AND_BINARY,
            "The server does not support version 3 of the 'json' protocol.",
        ),
        (
            b'{"protocol":"messagepack","version":1}\x1e',
            {"protocols": ["json"]},
            TEXT_AND_BINARY,
            "The protocol 'messagepack' is not supported.",
        ),
        (
            b'{"protocol":"messagepack","version":1}\x1e',
            {},
            (TransferFormat.TEXT,),
            "Cannot use the 'messagepack' protocol on the current transport. "
            "The transport does not support 'Binary' transfer format.",
        ),
        (b"{}\x1e", {}, TEXT_AND_BINARY, "An unexpected error occurred during connection handshake."),
        (
            b"{}\x1e",
            {"enable_detailed_errors": True},
            TEXT_AND_BINARY,
            "An unexpected error occurred during connection handshake. "
            "InvalidDataException: Missing required property 'protocol'.",
        ),
        (
            b'{"protocol":"json","version":1}',
            {"maximum_receive_message_size": 16},
            TEXT_AND_BINARY,
            "Handshake was canceled.",
        ),
    ],
)
def test_handshake_errors(
    request_bytes: bytes, options: dict[str, object], formats: tuple[TransferFormat, ...], error: str
) -> None:
    s = state(formats, **options)
    outcome = s.receive_handshake(request_bytes)
    assert outcome is not None
    assert outcome.error == error
    assert s.phase is Phase.CLOSED


@pytest.mark.parametrize("version", [0, 1, 2])
def test_versions_up_to_two_are_accepted(version: int) -> None:
    outcome = state().receive_handshake(f'{{"protocol":"json","version":{version}}}\x1e'.encode())
    assert outcome is not None
    assert outcome.error is None


def test_partial_records_are_kept_between_reads() -> None:
    s = state()
    s.receive_handshake(HANDSHAKE)
    assert s.receive(b'{"type":1,"target":"A",') == []
    assert s.receive(b'"arguments":[]}\x1e{"ty') == [InvocationMessage("A", [])]
    assert s.receive(b'pe":6}\x1e') == [PING]


def test_size_limit_raises() -> None:
    s = state(maximum_receive_message_size=40)
    s.receive_handshake(HANDSHAKE)
    with pytest.raises(InvalidDataException, match="The maximum message size of 40B was exceeded"):
        s.receive(b'{"type":1,"target":"A","arguments":["' + b"x" * 40)


def test_handshake_timeout() -> None:
    s = state(handshake_timeout=15)
    assert s.due(114.9) is None
    assert s.due(115.0) is Due.HANDSHAKE_TIMEOUT


def test_keep_alive_is_due_after_silence() -> None:
    s = state(keep_alive_interval=15)
    s.receive_handshake(HANDSHAKE)
    assert s.due(114.9) is None
    assert s.due(115.0) is Due.PING
    s.last_sent = 115.0
    assert s.due(120.0) is None


def test_client_timeout_is_armed_by_the_first_ping_and_paused_while_dispatching() -> None:
    s = state(client_timeout_interval=30, keep_alive_interval=1000)
    s.receive_handshake(HANDSHAKE)
    assert s.due(1000.0) is None  # never pinged: long polling clients are never timed out
    s.ping_received()
    s.dispatch_started(200.0)
    assert s.due(1000.0) is None  # a long invocation is running
    s.dispatch_finished(210.0)
    assert s.due(239.9) is None
    assert s.due(240.0) is Due.CLIENT_TIMEOUT
