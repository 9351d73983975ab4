"""``signalr_send`` from a process whose node already listens: the channels_postgres workaround.

Run as ``python -m tests.e2e.backplane.warm_command <signalr_send arguments>``. It makes this
process's node, waits until a message sent to the node's own channel comes back (channels_postgres
LISTENs a moment after ``Node.channel()`` returns, and loses what arrives before: see
``test_bugs.py``), then runs the command on the same event loop (``call_command`` in
``sync_to_async``, so the command's ``async_to_sync`` uses this loop and this node). Output and
exit status are the command's: its stdout, and ``CommandError: <text>`` with status 1.
"""

from __future__ import annotations

import asyncio
import io
import sys

import django

PROBE_EVERY = 0.05
LISTEN_TIMEOUT = 10.0


async def listening() -> None:
    """Return once this process's node receives what is sent to its channel."""
    from django_signalr.lifetime.node import get_node

    node = get_node("default")
    channel = await node.channel()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LISTEN_TIMEOUT
    while loop.time() < deadline:
        ack = node.new_id()
        future = node.expect(ack)
        try:
            await node.layer.send(channel, {"type": "signalr.ack", "ack": ack})
            await asyncio.wait_for(future, PROBE_EVERY)
            return
        except TimeoutError:
            continue
        finally:
            node.forget(ack)
    raise TimeoutError("this process's node never received a message on its channel")


async def run(arguments: list[str]) -> int:
    from asgiref.sync import sync_to_async
    from django.core.management import CommandError, call_command

    await listening()
    stdout = io.StringIO()
    try:
        await sync_to_async(call_command)("signalr_send", *arguments, stdout=stdout)
    except CommandError as error:
        print(f"CommandError: {error}", file=sys.stderr)
        return 1
    finally:
        sys.stdout.write(stdout.getvalue())
    return 0


def main() -> None:
    django.setup()
    sys.exit(asyncio.run(run(sys.argv[1:])))


if __name__ == "__main__":
    main()
