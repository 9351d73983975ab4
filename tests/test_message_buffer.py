"""Stateful reconnect's bookkeeping, without I/O."""

from __future__ import annotations

import pytest

from django_signalr.message_buffer import MessageBuffer
from django_signalr.protocol import (
    PING,
    AckMessage,
    CompletionMessage,
    InvalidDataException,
    InvocationMessage,
    SequenceMessage,
    StreamItemMessage,
)


def invocation(number: int) -> InvocationMessage:
    return InvocationMessage("Send", [number])


def test_unacknowledged_messages_are_sent_again_after_a_sequence() -> None:
    buffer = MessageBuffer(limit=1000)
    for data in (b"one", b"two", b"three"):
        buffer.track(data)
    buffer.ack(1)
    sequence, again = buffer.resend()
    assert sequence == SequenceMessage(2)
    assert again == [b"two", b"three"]


def test_sequence_with_nothing_unacknowledged_points_past_the_last_message() -> None:
    buffer = MessageBuffer(limit=1000)
    buffer.track(b"one")
    buffer.ack(1)
    assert buffer.resend() == (SequenceMessage(2), [])


def test_backpressure_follows_unacknowledged_bytes() -> None:
    buffer = MessageBuffer(limit=10)
    buffer.track(b"12345")
    assert not buffer.full
    buffer.track(b"67890")
    assert buffer.full
    buffer.ack(2)
    assert not buffer.full


def test_duplicates_after_a_reconnect_are_skipped_and_the_rest_processed() -> None:
    buffer = MessageBuffer(limit=1000)
    assert [buffer.should_process(invocation(n)) for n in range(3)] == [True, True, True]
    buffer.resend()  # the transport was replaced: wait for the client's Sequence
    assert not buffer.should_process(invocation(99))
    assert not buffer.should_process(PING)
    assert buffer.should_process(SequenceMessage(2))
    buffer.reset_sequence(2)  # the client sends again from its message 2
    assert [buffer.should_process(invocation(n)) for n in (1, 2, 3)] == [False, False, True]


def test_non_trackable_messages_are_not_counted() -> None:
    buffer = MessageBuffer(limit=1000)
    assert buffer.should_process(PING)
    assert buffer.should_process(AckMessage(5))
    assert buffer.should_process(StreamItemMessage("1", "x"))
    assert buffer.ack_due() == 1  # only the stream item was numbered


def test_a_sequence_ahead_of_what_arrived_is_an_error() -> None:
    buffer = MessageBuffer(limit=1000)
    buffer.should_process(CompletionMessage("1"))
    with pytest.raises(InvalidDataException, match="Sequence ID greater than amount of messages"):
        buffer.reset_sequence(3)


def test_acks_are_due_only_for_new_messages() -> None:
    buffer = MessageBuffer(limit=1000)
    assert buffer.ack_due() is None
    buffer.should_process(invocation(0))
    buffer.should_process(invocation(1))
    assert buffer.ack_due() == 2
    assert buffer.ack_due() is None


def test_a_sequence_after_a_resend_lost_with_its_socket_is_accepted() -> None:
    """Messages 1-5 processed; a reconnect's Sequence(1) moves the counter back and the five
    messages sent again are lost with that socket, but our Ack(5) got through: the client's
    next Sequence is 6, past the counter, and valid (what it sends next is new)."""
    buffer = MessageBuffer(limit=1000)
    for n in range(5):
        assert buffer.should_process(invocation(n))
    buffer.resend()
    assert buffer.should_process(SequenceMessage(1))
    buffer.reset_sequence(1)
    assert buffer.ack_due() == 5
    buffer.resend()  # the socket dropped before the five came again
    assert buffer.should_process(SequenceMessage(6))
    buffer.reset_sequence(6)
    assert buffer.should_process(invocation(5))  # message 6: new
    assert buffer.ack_due() == 6
    with pytest.raises(InvalidDataException):
        buffer.reset_sequence(8)


def test_an_ack_lost_with_its_socket_is_sent_again_after_the_peers_sequence() -> None:
    """Everything the client sent was processed and acknowledged, but the Ack went with the old
    socket: its Sequence says so, and the next Ack must repeat it (nothing new would trigger
    one, and a client with a full buffer waits for it)."""
    buffer = MessageBuffer(limit=1000)
    for n in range(3):
        assert buffer.should_process(invocation(n))
    assert buffer.ack_due() == 3
    assert buffer.ack_due() is None
    buffer.resend()
    assert buffer.should_process(SequenceMessage(1))
    buffer.reset_sequence(1)
    assert [buffer.should_process(invocation(n)) for n in range(3)] == [False, False, False]
    assert buffer.ack_due() == 3
