"""Stateful reconnect's bookkeeping, with no I/O (ASP.NET Core's ``MessageBuffer``).

Both sides number the "trackable" messages they send -- Invocation, StreamItem, Completion,
StreamInvocation, CancelInvocation -- from 1, and acknowledge what they received with ``Ack``.
The sender keeps what is not acknowledged yet; when the transport is replaced, it sends
``Sequence`` (the id of the first message it will send again) and then those messages, and the
receiver skips the ones it already has. Until the peer's ``Sequence`` arrives after a
reconnect, everything else from it is ignored.
"""

from __future__ import annotations

import collections

from .protocol import HubMessage, InvalidDataException, MessageType, SequenceMessage

TRACKABLE = frozenset(
    (
        MessageType.INVOCATION,
        MessageType.STREAM_ITEM,
        MessageType.COMPLETION,
        MessageType.STREAM_INVOCATION,
        MessageType.CANCEL_INVOCATION,
    )
)


class MessageBuffer:
    """One connection's sent-but-unacknowledged messages and received-message counter."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._unacked: collections.deque[tuple[int, bytes]] = collections.deque()
        self._size = 0
        self._total_sent = 0
        self._next_received = 1  # the id the next trackable message from the peer has
        self._latest_received = 0  # the highest id processed
        self._last_acked = 0  # the highest id we acknowledged
        self.waiting_for_sequence = False

    # -- sending ---------------------------------------------------------------------------

    def track(self, data: bytes) -> None:
        """A trackable message is being sent: keep it until acknowledged."""
        self._total_sent += 1
        self._unacked.append((self._total_sent, data))
        self._size += len(data)

    @property
    def full(self) -> bool:
        """Senders that can wait should, until acks make room."""
        return self._size >= self.limit

    def ack(self, sequence_id: int) -> None:
        """The peer has everything up to ``sequence_id``."""
        while self._unacked and self._unacked[0][0] <= sequence_id:
            self._size -= len(self._unacked.popleft()[1])

    def resend(self) -> tuple[SequenceMessage, list[bytes]]:
        """For a new transport: the Sequence to send, then the messages to send again. From
        now on the peer's messages are ignored until its own Sequence."""
        self.waiting_for_sequence = True
        first = self._unacked[0][0] if self._unacked else self._total_sent + 1
        return SequenceMessage(first), [data for _, data in self._unacked]

    # -- receiving -------------------------------------------------------------------------

    def should_process(self, message: HubMessage) -> bool:
        """Whether a received message is new; skips what was processed before a reconnect."""
        if self.waiting_for_sequence:
            if message.type is not MessageType.SEQUENCE:
                return False
            self.waiting_for_sequence = False
            return True
        if message.type not in TRACKABLE:
            return True
        current = self._next_received
        self._next_received += 1
        if current <= self._latest_received:
            return False  # sent again after a reconnect, processed already
        self._latest_received = current
        return True

    def reset_sequence(self, sequence_id: int) -> None:
        """The peer's Sequence: its next message has ``sequence_id``.

        Valid up to one past the highest id processed, not only up to the counter: after an
        earlier Sequence moved the counter back, the messages sent again may be lost with that
        socket while our Ack for what we had processed reached the peer, whose next Sequence is
        then past the counter. (ASP.NET Core compares with the counter alone and closes such a
        connection; with relayed sockets, which drop in-flight frames, it happens often.)"""
        if sequence_id > max(self._next_received, self._latest_received + 1):
            raise InvalidDataException("Sequence ID greater than amount of messages we've received.")
        self._next_received = sequence_id
        # The peer resends from ``sequence_id``: it never got our Ack for anything later (it
        # went with the old socket). Acknowledge again, or a peer whose buffer is full of
        # messages we already have waits for an Ack that nothing new would trigger.
        self._last_acked = min(self._last_acked, sequence_id - 1)

    def ack_due(self) -> int | None:
        """The id to acknowledge now, if anything new arrived since the last Ack."""
        if self._last_acked < self._latest_received:
            self._last_acked = self._latest_received
            return self._last_acked
        return None
