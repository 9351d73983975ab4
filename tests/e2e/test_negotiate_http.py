"""``POST {hub}/negotiate`` over raw HTTP against the live server (PROTOCOL.md section 1)."""

from __future__ import annotations

import http.client
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from .server import Users

TIMEOUT = 10.0
URL_SAFE = re.compile(r"^[A-Za-z0-9_.~-]+$")
ALL_TRANSPORTS = [
    {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]},
    {"transport": "ServerSentEvents", "transferFormats": ["Text"]},
    {"transport": "LongPolling", "transferFormats": ["Text", "Binary"]},
]


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        assert self.content_type == "application/json", self.content_type
        return json.loads(self.body)


def request(base_url: str, method: str, path: str, headers: dict[str, str] | None = None) -> Response:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=TIMEOUT)
    try:
        connection.request(method, path, body=b"" if method == "POST" else None, headers=headers or {})
        response = connection.getresponse()
        return Response(response.status, response.getheader("Content-Type", ""), response.read())
    finally:
        connection.close()


def negotiate(base_url: str, query: str = "", hub: str = "echo", **headers: str) -> Response:
    return request(base_url, "POST", f"/hubs/{hub}/negotiate{query}", headers)


def test_version_0_has_no_connection_token(base_url: str) -> None:
    body = negotiate(base_url).json()
    assert list(body) == ["negotiateVersion", "connectionId", "availableTransports"]
    assert body["negotiateVersion"] == 0
    assert URL_SAFE.match(body["connectionId"])


@pytest.mark.parametrize("query", ["?negotiateVersion=1", "?negotiateVersion=5", "?NegotiateVersion=1"])
def test_version_1_has_a_separate_token(base_url: str, query: str) -> None:
    body = negotiate(base_url, query).json()
    assert list(body) == ["negotiateVersion", "connectionId", "connectionToken", "availableTransports"]
    assert body["negotiateVersion"] == 1
    assert re.match(r"^[A-Za-z0-9_-]{22}$", body["connectionId"]), body["connectionId"]
    assert URL_SAFE.match(body["connectionToken"])
    assert body["connectionToken"] != body["connectionId"]


def test_every_negotiate_mints_a_new_connection(base_url: str) -> None:
    first, second = (negotiate(base_url, "?negotiateVersion=1").json() for _ in range(2))
    assert first["connectionId"] != second["connectionId"]
    assert first["connectionToken"] != second["connectionToken"]


NON_INTEGER = "The client requested a non-integer protocol version."


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("abc", NON_INTEGER),
        ("1.5", NON_INTEGER),
        ("", NON_INTEGER),
        ("1_0", NON_INTEGER),
        ("-1", "The client requested version '-1', but the server does not support this version."),
    ],
    ids=["letters", "decimal", "empty", "underscore", "negative"],
)
def test_bad_versions_answer_200_with_an_error(base_url: str, value: str, error: str) -> None:
    response = negotiate(base_url, f"?negotiateVersion={value}")
    assert response.status == 200
    assert response.json() == {"error": error}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_than_post_are_405(base_url: str, method: str) -> None:
    response = request(base_url, method, "/hubs/echo/negotiate")
    assert response.status == 405
    assert response.content_type.startswith("text/plain")


@pytest.mark.parametrize("path", ["/hubs/echo/negotiate/", "/hubs/echo-ws/negotiate/"])
def test_trailing_slash(base_url: str, path: str) -> None:
    response = request(base_url, "POST", path)
    assert response.status == 200
    assert response.json()["negotiateVersion"] == 0


def test_transports_of_a_websockets_only_route(base_url: str) -> None:
    body = negotiate(base_url, "?negotiateVersion=1", hub="echo-ws").json()
    assert body["availableTransports"] == [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}]


def test_transports_are_exact_and_in_preference_order(base_url: str) -> None:
    """Each entry exactly ASP.NET Core's, in the order clients try them."""
    assert negotiate(base_url, "?negotiateVersion=1").json()["availableTransports"] == ALL_TRANSPORTS


def test_no_keys_that_break_clients(base_url: str) -> None:
    body = negotiate(base_url, "?negotiateVersion=1").json()
    assert "ProtocolVersion" not in body
    assert "useStatefulReconnect" not in body  # the client did not ask for it
    assert "error" not in body


def test_unauthorized_negotiate_is_401_with_an_empty_body(base_url: str) -> None:
    response = negotiate(base_url, "?negotiateVersion=1", hub="secret")
    assert (response.status, response.body) == (401, b"")


@pytest.mark.parametrize("how", ["cookie", "bearer", "query"])
def test_authorized_negotiate(base_url: str, users: Users, how: str) -> None:
    token = users["alice"].token
    if how == "cookie":
        response = negotiate(base_url, "?negotiateVersion=1", hub="secret", Cookie=users.cookie("alice"))
    elif how == "bearer":
        response = negotiate(base_url, "?negotiateVersion=1", hub="secret", Authorization=f"Bearer {token}")
    else:
        response = negotiate(base_url, f"?negotiateVersion=1&access_token={token}", hub="secret")
    assert response.status == 200
    assert response.json()["negotiateVersion"] == 1
