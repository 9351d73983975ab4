"""ASGI entry for ``socketio``: python-socketio ``AsyncServer`` in ASGI mode.

``echo`` returns its argument as the acknowledgement; ``broadcast`` emits
``receive`` to every connected client of the default namespace.
"""

from typing import Any

import socketio

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")


@sio.event  # type: ignore[untyped-decorator]
async def echo(sid: str, payload: Any) -> Any:
    """Return the payload as the ack (the client waits for it: one round trip)."""
    return payload


@sio.event  # type: ignore[untyped-decorator]
async def broadcast(sid: str, payload: Any) -> None:
    """Fan the payload out to every connected client."""
    await sio.emit("receive", payload)


application = socketio.ASGIApp(sio)
