"""``POST {hub}/negotiate``: connection id, token and transports (PROTOCOL.md section 1).

Versions follow the .NET server: no ``negotiateVersion`` means 0 (the Python clients never send
it), a value above 1 is answered as 1, and bad values get HTTP 200 with ``{"error": ...}``.
Version 0 answers carry no ``connectionToken``: the client then uses the id as the token.
The endpoint is CSRF-exempt by construction (it is not a Django view; clients send no token).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

import orjson

from .asgi_types import ASGIReceiveCallable, ASGISendCallable, Scope
from .auth import is_authorized
from .transports import manager
from .transports.base import HubConsumer
from .transports.http import read_body, respond

TRANSFER_FORMATS = {
    "WebSockets": ["Text", "Binary"],
    "ServerSentEvents": ["Text"],
    "LongPolling": ["Text", "Binary"],
}


_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")


def negotiate_version(query: dict[str, list[str]]) -> int | str:
    """The version to answer with, or the error text for a bad request."""
    values = query.get("negotiateVersion") or query.get("NegotiateVersion")
    if not values:
        return 0
    # .NET's int.TryParse: optional sign and surrounding spaces; Python's int() would also
    # take "1_0" and non-ASCII digits.
    if not _INTEGER.fullmatch(values[0]):
        return "The client requested a non-integer protocol version."
    requested = int(values[0])
    if requested < 0:
        return f"The client requested version '{requested}', but the server does not support this version."
    return min(requested, 1)


def _flag(query: dict[str, list[str]], name: str) -> bool:
    """A boolean query parameter as .NET's bool.TryParse reads it (any case of "true")."""
    values = query.get(name) or query.get(name[0].upper() + name[1:]) or [""]
    return values[0].strip().lower() == "true"


class NegotiateConsumer(HubConsumer):
    """Answers one negotiate request."""

    async def serve(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await read_body(receive)
        if scope["method"] != "POST":
            await respond(send, 405)
            return
        hub = self.endpoint.hub_class
        if not await is_authorized(scope["user"], hub.login_required, hub.permission_required):
            await respond(send, 401)  # empty body: the JS client then reports "Unauthorized"
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        version = negotiate_version(query)
        if isinstance(version, str):
            await respond(send, 200, orjson.dumps({"error": version}), content_type=b"application/json")
            return
        stateful = self.endpoint.options.allow_stateful_reconnects and _flag(query, "useStatefulReconnect")
        negotiated = await manager.create(self.endpoint, version, stateful=stateful)
        body: dict[str, Any] = {"useStatefulReconnect": True} if stateful else {}
        body.update(negotiateVersion=version, connectionId=negotiated.connection_id)
        if version > 0:
            body["connectionToken"] = negotiated.token
        body["availableTransports"] = [
            {"transport": name, "transferFormats": TRANSFER_FORMATS[name]} for name in self.endpoint.transports()
        ]
        await respond(send, 200, orjson.dumps(body), content_type=b"application/json")
