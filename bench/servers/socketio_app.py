"""ASGI entry for ``socketio``: python-socketio ``AsyncServer`` in ASGI mode.

``echo`` returns its argument as the acknowledgement; ``broadcast`` emits
``receive`` to every connected client of the default namespace. ``to_me``
emits ``echoed`` with the payload to the sender's sid (the addressed send);
``join`` enters the room named by its argument and acknowledges ``"joined"``;
``group`` (arguments ``group, body``) emits ``receive`` with the body to that room.
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


@sio.event  # type: ignore[untyped-decorator]
async def to_me(sid: str, payload: Any) -> None:
    """Send the payload back to the sender as ``echoed``, addressed by its sid."""
    await sio.emit("echoed", payload, to=sid)


@sio.event  # type: ignore[untyped-decorator]
async def join(sid: str, group: str) -> str:
    """Put the sender in room ``group``; the ack tells the client it is in."""
    await sio.enter_room(sid, group)
    return "joined"


@sio.event  # type: ignore[untyped-decorator]
async def group(sid: str, *args: Any) -> None:
    """Fan the body out to room ``group``: arguments ``group, body`` (or one ``[group, body]`` list)."""
    name, body = args if len(args) == 2 else args[0]
    await sio.emit("receive", body, room=name)


application = socketio.ASGIApp(sio)
