"""Hubs the tests talk to."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import uuid
from collections.abc import AsyncIterator

from django_signalr import Hub, HubException, hub_method


@dataclasses.dataclass
class Point:
    x: int
    y: int
    label: str = ""


class EchoHub(Hub):
    async def echo(self, message: object) -> object:
        return message

    def sync_echo(self, message: object) -> object:
        return message

    async def add(self, a: int, b: int) -> int:
        return a + b

    async def nothing(self) -> None:
        return None

    async def fail(self, text: str) -> None:
        raise HubException(text)

    async def crash(self) -> None:
        raise ValueError("boom")

    async def values(self) -> dict[str, object]:
        return {
            "bytes": b"\x01\x02\x03",
            "when": datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC),
            "id": uuid.UUID("00010203-0405-0607-0706-050403020100"),
            "point": Point(1, 2, "p"),
        }

    async def describe(self, data: bytes, when: datetime.datetime, ident: uuid.UUID, point: Point) -> list[object]:
        return [len(data), when.year, str(ident), point.x + point.y]

    async def unserializable(self) -> object:
        return object()

    async def sleep(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "slept"

    async def burst(self, count: int) -> None:
        """``count`` numbered broadcasts as fast as the server can send them."""
        for number in range(count):
            await self.clients.all.send("Receive", number)

    async def send_to_caller(self, message: str) -> None:
        await self.clients.caller.send("Receive", message)

    async def send_to_others(self, message: str) -> None:
        await self.clients.others.send("Receive", message)

    async def send_to_all(self, message: str) -> None:
        await self.clients.all.send("Receive", message)

    async def join(self, group: str) -> None:
        await self.groups.add(self.context.connection_id, group)

    async def leave(self, group: str) -> None:
        await self.groups.discard(self.context.connection_id, group)

    async def send_to_group(self, group: str, message: str) -> None:
        await self.clients.group(group).send("Receive", message)

    async def send_to_groups(self, groups: list[str], message: str) -> None:
        await self.clients.groups(groups).send("Receive", message)

    async def send_to_others_in_group(self, group: str, message: str) -> None:
        await self.clients.others_in_group(group).send("Receive", message)

    async def send_to_user(self, user: str, message: str) -> None:
        await self.clients.user(user).send("Receive", message)

    async def send_to_client(self, connection_id: str, message: str) -> None:
        await self.clients.client(connection_id).send("Receive", message)

    async def connection_id(self) -> str:
        return self.context.connection_id

    async def whoami(self) -> str | None:
        user = self.context.user
        return user.get_username() if user.is_authenticated else None

    async def context_info(self) -> dict[str, object]:
        context = self.context
        context.items["calls"] = context.items.get("calls", 0) + 1
        return {
            "connection_id": context.connection_id,
            "user_identifier": context.user_identifier,
            "transport": context.transport,
            "protocol": context.protocol,
            "calls": context.items["calls"],
            "path": context.scope["path"],
            "query": context.scope["query_string"].decode(),
        }

    async def abort(self) -> None:
        self.context.abort()

    @hub_method(name="Legacy.Name")
    async def legacy(self) -> str:
        return "legacy"

    @hub_method(login_required=True)
    async def members_only(self) -> str:
        return "welcome"

    @hub_method(permission_required=["auth.view_user"])
    async def staff_only(self) -> str:
        return "staff"


class StreamHub(Hub):
    """Streams both ways and client results; records what its generators' finally blocks saw."""

    maximum_parallel_invocations_per_client = 4
    cleanups: list[str] = []

    async def counter(self, count: int, delay: float) -> AsyncIterator[int]:
        try:
            for number in range(count):
                yield number
                await asyncio.sleep(delay)
        finally:
            await asyncio.sleep(0)  # a finally block may await
            self.cleanups.append(f"counter {self.context.connection_id}")

    async def declared(self, count: int) -> AsyncIterator[str]:
        """A coroutine declared to return an async iterator (not a generator itself)."""
        return self._letters(count)

    async def _letters(self, count: int) -> AsyncIterator[str]:
        for number in range(count):
            yield chr(ord("a") + number)

    async def returns_none(self) -> AsyncIterator[int]:
        return None  # type: ignore[return-value]

    async def fails_before(self) -> AsyncIterator[int]:
        raise HubException("not now")

    async def fails_during(self, after: int) -> AsyncIterator[int]:
        for number in range(after):
            yield number
        raise ValueError("broken stream")

    async def upload(self, lines: AsyncIterator[str]) -> list[str]:
        return [line async for line in lines]

    async def upload_two(self, prefix: str, first: AsyncIterator[int], second: AsyncIterator[int]) -> list[object]:
        return [prefix, [item async for item in first], [item async for item in second]]

    async def upload_bytes(self, chunks: AsyncIterator[bytes]) -> int:
        return sum([len(chunk) async for chunk in chunks])

    async def ask_caller(self, question: str) -> object:
        return await self.clients.caller.invoke("Answer", question, timeout=5)

    async def ask_client(self, connection_id: str, question: str) -> object:
        return await self.clients.client(connection_id).invoke("Answer", question, timeout=5)


class OneAtATimeHub(StreamHub):
    maximum_parallel_invocations_per_client = 1


class SecretHub(Hub):
    login_required = True

    async def secret(self) -> str:
        return "42"
