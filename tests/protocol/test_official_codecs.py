"""Our codecs against the official JS client's own codecs (run in Node).

Bytes the official client writes must parse to the right messages here, and bytes we write
must parse, in the official client, to exactly what it expects (omitted keys, null results,
Dates, Uint8Arrays).
"""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from django_signalr.protocol import (
    PING,
    PROTOCOLS,
    CloseMessage,
    CompletionMessage,
    InvocationMessage,
    StreamItemMessage,
)

SCRIPT = Path(__file__).with_name("official_codecs.cjs")
NODE_TIMEOUT = 30

pytestmark = pytest.mark.usefixtures("js_modules")


def official(request: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run(
        ["node", str(SCRIPT)],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=NODE_TIMEOUT,
        check=True,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


OURS = [
    InvocationMessage("Receive", ["a", 1, None]),
    InvocationMessage("GetMessage", [], "s0"),
    CompletionMessage.with_result("1", None),
    CompletionMessage.with_result("2", {"n": [1, 2]}),
    CompletionMessage.empty("3"),
    CompletionMessage.with_error("4", "bad"),
    StreamItemMessage("5", "item"),
    PING,
    CloseMessage(),
    CloseMessage("Connection closed with an error.", True),
]

EXPECTED_BY_OFFICIAL_CLIENT = [
    {"type": 1, "target": "Receive", "arguments": ["a", 1, None]},
    {"type": 1, "invocationId": "s0", "target": "GetMessage", "arguments": []},
    {"type": 3, "invocationId": "1", "result": None},
    {"type": 3, "invocationId": "2", "result": {"n": [1, 2]}},
    {"type": 3, "invocationId": "3"},
    {"type": 3, "invocationId": "4", "error": "bad"},
    {"type": 2, "invocationId": "5", "item": "item"},
    {"type": 6},
    {"type": 7},
    {"type": 7, "error": "Connection closed with an error.", "allowReconnect": True},
]


def _normalize(message: dict[str, Any]) -> dict[str, Any]:
    """The msgpack client reader sets every field it knows (headers {}, streamIds []...);
    keep the ones that carry meaning so both protocols compare to one expectation."""
    out = {k: v for k, v in message.items() if v is not None or k in ("result", "item")}
    out.pop("headers", None)
    if out.get("streamIds") == []:
        del out["streamIds"]
    if out.get("type") == 7 and out.get("allowReconnect") is False:
        del out["allowReconnect"]
    if out.get("type") == 1 and "invocationId" in out and not out["invocationId"]:
        del out["invocationId"]
    return out


@pytest.mark.parametrize("name", ["json", "messagepack"])
def test_the_official_client_parses_what_we_write(name: str) -> None:
    data = b"".join(PROTOCOLS[name].write_message(m) for m in OURS)
    parsed = official({"parse": [{"protocol": name, "data": base64.b64encode(data).decode()}]})
    assert [_normalize(m) for m in parsed["parsed"][0]] == EXPECTED_BY_OFFICIAL_CLIENT


@pytest.mark.parametrize("name", ["json", "messagepack"])
def test_we_parse_what_the_official_client_writes(name: str) -> None:
    sent = [
        {"type": 1, "invocationId": "0", "target": "Echo", "arguments": ["hi", {"$bytes": "AQI="}]},
        {"type": 1, "target": "Send", "arguments": [], "streamIds": ["1"]},
        {"type": 4, "invocationId": "2", "target": "Counter", "arguments": [3]},
        {"type": 2, "invocationId": "1", "item": 7},
        {"type": 3, "invocationId": "1"},
        {"type": 3, "invocationId": "s1", "result": None},
        {"type": 3, "invocationId": "s2", "error": "Error: from callback"},
        {"type": 5, "invocationId": "2"},
        {"type": 6},
        {"type": 7},
    ]
    written = official({"write": [{"protocol": name, "message": m} for m in sent]})["written"]
    data = b"".join(base64.b64decode(chunk) for chunk in written)
    messages, used = PROTOCOLS[name].parse_messages(data, None)
    assert used == len(data)
    first = messages[0]
    assert isinstance(first, InvocationMessage)
    # JSON has no bytes: the official client sends a Uint8Array as an object of indexes
    assert first.arguments[1] == (b"\x01\x02" if name == "messagepack" else {"0": 1, "1": 2})
    assert [type(m).__name__ for m in messages] == [
        "InvocationMessage",
        "InvocationMessage",
        "StreamInvocationMessage",
        "StreamItemMessage",
        "CompletionMessage",
        "CompletionMessage",
        "CompletionMessage",
        "CancelInvocationMessage",
        "PingMessage",
        "CloseMessage",
    ]
    assert messages[1] == InvocationMessage("Send", [], None, ["1"])
    assert messages[4] == CompletionMessage("1")
    assert messages[5] == CompletionMessage("s1", None, has_result=True)
    assert messages[6] == CompletionMessage("s2", error="Error: from callback")


def test_dates_and_bytes_reach_the_official_client_as_date_and_uint8array() -> None:
    message = InvocationMessage("T", [b"\x01\x02", datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)])
    for name, expected in [
        ("messagepack", [{"$bytes": "AQI="}, {"$date": "2000-01-01T00:00:00.000Z"}]),
        ("json", ["AQI=", "2000-01-01T00:00:00Z"]),
    ]:
        data = PROTOCOLS[name].write_message(message)
        parsed = official({"parse": [{"protocol": name, "data": base64.b64encode(data).decode()}]})
        assert parsed["parsed"][0][0]["arguments"] == expected
