"""``websockets_ceiling``: a bare ``websockets`` server on uvloop speaking the ``plain`` protocol.

No ASGI, no framework: the fastest a Python WebSocket server of this machine answers, the
ceiling every ASGI target (ours included) pays its server and framework on top of. Run as
``python -m bench.servers.websockets_ceiling --port P``; SIGTERM stops it.

Ops (see ``bench.clients.plain``): ``echo`` (answered with the same frame), ``to_me``
(answered with ``{"op":"echoed","payload":p}``, a direct send to the connection),
``broadcast`` and ``group`` (``{"op":"receive","payload":b}`` to everyone / to the
group's members) and ``join`` (answered with ``{"op":"joined"}``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import orjson
import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

CONNECTIONS: set[ServerConnection] = set()
GROUPS: dict[str, set[ServerConnection]] = {}


async def handle(connection: ServerConnection) -> None:
    """Echo, send to this connection, broadcast to all, join a group, send to a group: the ``plain`` ops."""
    CONNECTIONS.add(connection)
    joined: list[str] = []
    try:
        async for text in connection:
            message = orjson.loads(text)
            op = message["op"]
            if op == "echo":
                await connection.send(text if isinstance(text, str) else text.decode())
            elif op == "to_me":
                await connection.send(orjson.dumps({"op": "echoed", "payload": message["payload"]}).decode())
            elif op == "broadcast":
                broadcast(CONNECTIONS, orjson.dumps({"op": "receive", "payload": message["payload"]}).decode())
            elif op == "join":
                GROUPS.setdefault(message["group"], set()).add(connection)
                joined.append(message["group"])
                await connection.send('{"op":"joined"}')
            elif op == "group":
                frame = orjson.dumps({"op": "receive", "payload": message["payload"]}).decode()
                broadcast(GROUPS.get(message["group"], ()), frame)
    finally:
        CONNECTIONS.discard(connection)
        for group in joined:
            GROUPS.get(group, set()).discard(connection)


async def main(port: int) -> None:
    """Serve on 127.0.0.1:``port`` until SIGTERM."""
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(handle, "127.0.0.1", port, compression=None, max_size=2**22, ping_interval=None):
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="bench.servers.websockets_ceiling")
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(main(parser.parse_args().port))
