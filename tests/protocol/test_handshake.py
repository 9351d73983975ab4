"""The handshake request and response (always JSON records)."""

from __future__ import annotations

import pytest

from django_signalr.protocol import InvalidDataException
from django_signalr.protocol.handshake import (
    SUCCESS_RESPONSE,
    HandshakeRequest,
    HandshakeTooLarge,
    error_response,
    parse_handshake_request,
)


def test_parses_the_js_client_request_and_reports_what_follows() -> None:
    data = b'{"protocol":"messagepack","version":1}\x1e\x02\x91\x06'
    assert parse_handshake_request(data, None) == (HandshakeRequest("messagepack", 1), 39)


def test_waits_for_the_separator() -> None:
    assert parse_handshake_request(b'{"protocol":"json",', None) is None


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"not json\x1e", "Error reading JSON."),
        (b'{"version":1}\x1e', "Missing required property 'protocol'."),
        (b'{"protocol":"json"}\x1e', "Missing required property 'version'."),
        (b'{"protocol":"json","version":"1"}\x1e', "Expected 'version' to be of type Number."),
        (b'{"protocol":1,"version":1}\x1e', "Expected 'protocol' to be of type String."),
    ],
)
def test_invalid_requests(data: bytes, error: str) -> None:
    with pytest.raises(InvalidDataException) as raised:
        parse_handshake_request(data, None)
    assert str(raised.value) == error


def test_size_limit_applies_to_the_handshake() -> None:
    request = b'{"protocol":"json","version":1}\x1e'
    assert parse_handshake_request(request, len(request)) is not None
    with pytest.raises(HandshakeTooLarge):
        parse_handshake_request(request, len(request) - 1)
    with pytest.raises(HandshakeTooLarge):
        parse_handshake_request(b'{"protocol":"' + b"x" * 50, 32)


def test_responses() -> None:
    assert SUCCESS_RESPONSE == b"{}\x1e"
    assert error_response("The protocol 'x' is not supported.") == (
        b'{"error":"The protocol \'x\' is not supported."}\x1e'
    )
