"""Client-to-server streams: what a hub method's ``AsyncIterator[T]`` parameter iterates.

The client sends ``StreamItem`` messages under a stream id and ends the stream with a
``Completion`` (an error, if the client's stream failed). Items wait in a buffer of
``STREAM_BUFFER_CAPACITY``; when it is full, the connection's receive loop waits too, so the
client is slowed down instead of the server buffering without bound (ASP.NET Core's
``StreamTracker`` with a bounded channel).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from .exceptions import HubException

_END = object()


class UploadStream(AsyncIterator[Any]):
    """One client-to-server stream, iterated by the hub method."""

    def __init__(self, stream_id: str, capacity: int, convert: Callable[[Any], Any] | None) -> None:
        self.stream_id = stream_id
        self._capacity = max(1, capacity)
        self._convert = convert
        self._items: collections.deque[Any] = collections.deque()
        self._end: BaseException | object | None = None
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    async def put(self, item: Any) -> None:
        """An item from the client; waits while the method has ``capacity`` items unread."""
        while len(self._items) >= self._capacity and self._end is None:
            self._writable.clear()
            await self._writable.wait()
        if self._end is None:
            self._items.append(item)
            self._readable.set()

    def end(self, error: BaseException | None = None) -> None:
        """No more items: the method's loop ends after the buffered ones (raising ``error``)."""
        if self._end is None:
            self._end = error if error is not None else _END
            self._readable.set()
            self._writable.set()

    def __aiter__(self) -> UploadStream:
        return self

    async def __anext__(self) -> Any:
        while not self._items:
            if self._end is _END:
                raise StopAsyncIteration
            if isinstance(self._end, BaseException):
                raise self._end
            self._readable.clear()
            await self._readable.wait()
        item = self._items.popleft()
        self._writable.set()
        return self._convert(item) if self._convert is not None else item

    def __repr__(self) -> str:
        return f"<UploadStream {self.stream_id}>"


class StreamTracker:
    """A connection's open client-to-server streams, by stream id."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._streams: dict[str, UploadStream] = {}

    def open(self, stream_id: str, convert: Callable[[Any], Any] | None) -> UploadStream:
        stream = self._streams[stream_id] = UploadStream(stream_id, self._capacity, convert)
        return stream

    async def put(self, stream_id: str, item: Any) -> bool:
        """Deliver a ``StreamItem``; ``False`` when no such stream is open."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return False
        await stream.put(item)
        return True

    def complete(self, stream_id: str, error: str | None) -> bool:
        """End a stream as the client's ``Completion`` says; ``False`` when no such stream."""
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return False
        stream.end(HubException(error) if error is not None else None)
        return True

    def close(self, streams: Sequence[UploadStream]) -> None:
        """The method returned: its streams end, later items for them are ignored."""
        for stream in streams:
            if self._streams.get(stream.stream_id) is stream:
                del self._streams[stream.stream_id]
            stream.end()

    def close_all(self, error: BaseException) -> None:
        """The connection ended: every stream raises ``error`` in the method iterating it."""
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            stream.end(error)
