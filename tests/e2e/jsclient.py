"""Drive the official JavaScript client (``tests/js/driver.mjs``) from async Python.

The driver speaks newline-delimited JSON: a command ``{"id", "cmd", ...}`` in, an answer
``{"id", "ok", "result"|"error"}`` out. Every command here has a bounded timeout; an error
the client reports (``ok: false``) is raised as ``JsError`` carrying the client's message.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

JS_DIR = Path(__file__).resolve().parents[1] / "js"
DRIVER = JS_DIR / "driver.mjs"
COMMAND_TIMEOUT = 10.0


class _Undefined:
    """What a command returns when the JS result was ``undefined`` (not ``null``)."""

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = _Undefined()


class JsError(Exception):
    """The JS client failed a command; ``str(error)`` is its ``err.message``."""


class JsDriver:
    """One long-lived Node process holding any number of named client connections."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.stderr: collections.deque[str] = collections.deque(maxlen=200)
        self.names: set[str] = set()

    async def start(self, timeout: float = 20.0) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is needed to run the official SignalR client")
        self._process = await asyncio.create_subprocess_exec(
            node,
            str(DRIVER),
            cwd=JS_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read_answers()), loop.create_task(self._read_stderr())]
        assert await self.command("ping", timeout=timeout) == "pong"

    async def command(self, cmd: str, /, *, timeout: float = COMMAND_TIMEOUT, **fields: Any) -> Any:
        """Send one command and return its result; ``JsError`` if it failed."""
        process = self._process
        if process is None or process.stdin is None or process.returncode is not None:
            raise RuntimeError(f"the JS driver is not running\n{self.stderr_tail()}")
        command_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = future
        try:
            process.stdin.write(json.dumps({"id": command_id, "cmd": cmd, **fields}).encode() + b"\n")
            await asyncio.wait_for(process.stdin.drain(), timeout)
            answer = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"the JS driver did not answer {cmd} {fields} within {timeout} s\n{self.stderr_tail()}"
            ) from None
        finally:
            self._waiting.pop(command_id, None)
        if not answer["ok"]:
            raise JsError(answer["error"])
        return answer.get("result", UNDEFINED)

    def stderr_tail(self, lines: int = 30) -> str:
        return "\n".join(list(self.stderr)[-lines:])

    async def _read_answers(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        stdout = self._process.stdout
        while line := await stdout.readline():
            try:
                answer = json.loads(line)
            except ValueError:
                self.stderr.append(f"[driver stdout, not JSON] {line!r}")
                continue
            future = self._waiting.get(answer.get("id"))
            if future is not None and not future.done():
                future.set_result(answer)
        error = ConnectionError(f"the JS driver exited\n{self.stderr_tail()}")
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)

    async def _read_stderr(self) -> None:
        assert self._process is not None
        assert self._process.stderr is not None
        stderr = self._process.stderr
        while line := await stderr.readline():
            self.stderr.append(line.decode(errors="replace").rstrip())

    async def connect(self, name: str, url: str, *, timeout: float = COMMAND_TIMEOUT, **options: Any) -> JsConnection:
        """A started ``HubConnection``; ``options`` are the driver's ``connect`` fields."""
        self.names.add(name)
        await self.command("connect", name=name, url=url, timeout=timeout, **options)
        return JsConnection(self, name)

    async def forget_all(self) -> None:
        """Stop and drop every connection made through ``connect`` (between tests)."""
        names, self.names = self.names, set()
        for name in names:
            await self.command("forget", name=name)

    async def close(self, timeout: float = 5.0) -> None:
        """Close stdin (the driver then stops its connections and exits); kill if it lingers."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await asyncio.wait_for(process.wait(), timeout)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class JsConnection:
    """One named connection of the driver."""

    def __init__(self, driver: JsDriver, name: str) -> None:
        self.driver = driver
        self.name = name

    async def _run(self, cmd: str, timeout: float = COMMAND_TIMEOUT, **fields: Any) -> Any:
        return await self.driver.command(cmd, name=self.name, timeout=timeout, **fields)

    async def invoke(self, target: str, *args: Any, timeout: float = COMMAND_TIMEOUT) -> Any:
        return await self._run("invoke", timeout, target=target, args=list(args))

    async def send(self, target: str, *args: Any) -> None:
        await self._run("send", target=target, args=list(args))

    async def next(self, target: str = "Receive", timeout: float = 5.0) -> list[Any]:
        """The arguments of the next server invocation of ``target``."""
        return await self._run("next", timeout + 5, target=target, timeoutMs=int(timeout * 1000))  # type: ignore[no-any-return]

    async def drain(self, target: str = "Receive") -> list[list[Any]]:
        """Every recorded, not yet taken invocation of ``target``."""
        return await self._run("drain", target=target)  # type: ignore[no-any-return]

    async def closed(self, timeout: float = 5.0) -> str | None:
        """onclose's error message (``None`` for a clean close)."""
        return await self._run("closed", timeout + 5, timeoutMs=int(timeout * 1000))  # type: ignore[no-any-return]

    async def event(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next lifecycle event: ``{"event": "reconnecting"|"reconnected"|"close", ...}``."""
        return await self._run("event", timeout + 5, timeoutMs=int(timeout * 1000))  # type: ignore[no-any-return]

    async def state(self) -> str:
        return await self._run("state")  # type: ignore[no-any-return]

    async def connection_id(self) -> str | None:
        return await self._run("connectionId")  # type: ignore[no-any-return]

    async def stop(self) -> None:
        await self._run("stop")

    async def terminate(self) -> None:
        """Drop the TCP connection without a close frame, as a network failure would."""
        await self._run("terminate")

    # -- streams, client results, stateful reconnect ------------------------------------------

    def _unique(self, kind: str) -> str:
        return f"{kind}-{next(_handles)}"

    async def stream(self, target: str, *args: Any) -> JsStream:
        """``connection.stream(target, ...args)``, subscribed; ``args`` may hold subjects."""
        handle = JsStream(self, self._unique("stream"))
        await self._run("stream", stream=handle.handle, target=target, args=[_arg(a) for a in args])
        return handle

    async def subject(self) -> JsSubject:
        """A new ``signalR.Subject`` to pass to ``invoke``/``invoke_start``/``stream``."""
        handle = JsSubject(self, self._unique("subject"))
        await self._run("subject", subject=handle.handle)
        return handle

    async def invoke_start(self, target: str, *args: Any) -> JsCall:
        """Start ``invoke(target, ...args)`` and return at once; ``args`` may hold subjects."""
        call = JsCall(self, self._unique("call"))
        await self._run("invokeStart", call=call.handle, target=target, args=[_arg(a) for a in args])
        return call

    async def invoke_many(
        self, calls: list[tuple[str, list[Any]]], timeout: float = COMMAND_TIMEOUT
    ) -> list[dict[str, Any]]:
        """Start every ``(target, args)`` invoke at once; their outcomes in the order they
        finished: ``{"index", "ok", "result" | "error", "ms"}``."""
        payload = [{"target": target, "args": [_arg(a) for a in args]} for target, args in calls]
        return await self._run("invokeMany", timeout, calls=payload)  # type: ignore[no-any-return]

    async def handle(self, target: str, kind: str, **fields: Any) -> None:
        """Replace ``target``'s handlers (client results): kind ``value`` (``value=``), ``throw``
        (``message=``), ``undefined``, ``hang`` or ``none``; ``delayMs=`` delays the answer.
        Each call is recorded for ``next``/``drain``."""
        await self._run("handle", target=target, kind=kind, **fields)

    async def send_many(self, target: str, start: int, count: int, *args: Any, timeout: float = 30.0) -> None:
        """``send(target, n, *args)`` for ``n`` in ``range(start, start + count)``, all at once."""
        await self._run("sendMany", timeout, target=target, start=start, count=count, args=list(args))

    async def events(self) -> list[dict[str, Any]]:
        """Every lifecycle event recorded and not yet taken (no wait)."""
        return await self._run("events")  # type: ignore[no-any-return]

    async def socket_open(self) -> bool:
        return await self._run("socketOpen")  # type: ignore[no-any-return]

    async def socket_url(self) -> str | None:
        return await self._run("socketUrl")  # type: ignore[no-any-return]

    async def features(self) -> dict[str, Any]:
        return await self._run("features")  # type: ignore[no-any-return]


_handles = itertools.count(1)


def _arg(value: Any) -> Any:
    if isinstance(value, JsSubject):
        return {"$subject": value.handle}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    return value


class JsStream:
    """A subscription to a server-to-client stream."""

    def __init__(self, connection: JsConnection, handle: str) -> None:
        self.connection = connection
        self.handle = handle

    async def next(self, timeout: float = 5.0) -> Any:
        return await self.connection._run("streamNext", timeout + 5, stream=self.handle, timeoutMs=int(timeout * 1000))

    async def end(self, timeout: float = 5.0) -> tuple[list[Any], str | None]:
        """Every item, and the error (``None`` when the stream completed)."""
        result = await self.connection._run("streamEnd", timeout + 5, stream=self.handle, timeoutMs=int(timeout * 1000))
        return result["items"], result["error"]

    async def dispose(self) -> None:
        await self.connection._run("streamDispose", stream=self.handle)


class JsSubject:
    """A ``signalR.Subject``: a client-to-server stream."""

    def __init__(self, connection: JsConnection, handle: str) -> None:
        self.connection = connection
        self.handle = handle

    async def next(self, *items: Any) -> None:
        await self.connection._run("subjectNext", subject=self.handle, items=[_arg(item) for item in items])

    async def complete(self) -> None:
        await self.connection._run("subjectComplete", subject=self.handle)

    async def error(self, message: str) -> None:
        await self.connection._run("subjectError", subject=self.handle, message=message)


class JsCall:
    """An invoke started with ``invoke_start``."""

    def __init__(self, connection: JsConnection, handle: str) -> None:
        self.connection = connection
        self.handle = handle

    async def result(self, timeout: float = COMMAND_TIMEOUT) -> Any:
        """The invoke's result; ``JsError`` with the client's message if it failed."""
        return await self.connection._run("callResult", timeout + 5, call=self.handle, timeoutMs=int(timeout * 1000))
