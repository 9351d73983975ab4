"""Small helpers for the HTTP side of the transports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..asgi_types import ASGIReceiveCallable, ASGISendCallable

if TYPE_CHECKING:
    from .manager import Response

TEXT_PLAIN = b"text/plain"


async def read_body(receive: ASGIReceiveCallable) -> bytes:
    """The whole request body (ASGI may deliver it in several messages)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""  # http.disconnect: the client left
        chunks.append(message["body"])
        if not message["more_body"]:
            return b"".join(chunks)


async def respond(
    send: ASGISendCallable,
    status: int,
    body: bytes = b"",
    *,
    content_type: bytes = TEXT_PLAIN,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """A complete response with ``Content-Length``."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "trailers": False,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def respond_with(send: ASGISendCallable, response: Response, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    await respond(send, response.status, response.body, content_type=response.content_type, headers=headers)


async def wait_for_disconnect(receive: ASGIReceiveCallable) -> None:
    """Until the client goes away (after the request body has been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass
