"""The outbound buffer: bounded, drained by one writer, closed with a last line."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from reference.routing.outbound import OutboundBuffer, SlowConsumer
from reference.wire.framing import BATCH_BYTES


def test_a_piece_that_would_pass_the_limit_is_refused_whole():
    buffer = OutboundBuffer(limit=10)
    buffer.put(b"12345", message=True)
    buffer.put(b"678")
    with pytest.raises(SlowConsumer) as refused:
        buffer.put(b"abc", message=True)
    assert refused.value.limit == 10
    assert (buffer.bytes, buffer.messages, buffer.peak_bytes) == (8, 1, 8)


async def test_put_final_drops_the_queue_and_nothing_follows_it():
    buffer = OutboundBuffer(limit=10)
    buffer.put(b"12345", message=True)
    buffer.put_final(b"-ERR\r\n")
    buffer.put(b"late")
    assert (buffer.bytes, buffer.messages, buffer.closed) == (6, 0, True)
    sent, received = trio.testing.memory_stream_pair()
    with trio.fail_after(5):
        await buffer.write_to(sent)  # returns: closed and empty
    assert await received.receive_some(100) == b"-ERR\r\n"


async def test_the_writer_joins_pieces_in_order_and_stops_once_closed_and_empty():
    buffer = OutboundBuffer(limit=10 * BATCH_BYTES)
    sent, received = trio.testing.memory_stream_pair()
    pieces = [bytes([n % 256]) * 1000 for n in range(200)]  # 200 kB: several batches
    for piece in pieces:
        buffer.put(piece, message=True)
    buffer.close()
    with trio.fail_after(5):
        await buffer.write_to(sent)
    assert (buffer.bytes, buffer.messages) == (0, 0)
    got = bytearray()
    while len(got) < 200_000:
        got += await received.receive_some(1 << 20)
    assert bytes(got) == b"".join(pieces)


async def test_the_writer_waits_for_pieces_and_counts_them_out_when_taken():
    buffer = OutboundBuffer(limit=100)
    sent, received = trio.testing.lockstep_stream_pair()  # a write waits for a read
    async with trio.open_nursery() as nursery:
        nursery.start_soon(buffer.write_to, sent)
        await trio.testing.wait_all_tasks_blocked()
        buffer.put(b"one", message=True)
        await trio.testing.wait_all_tasks_blocked()
        buffer.put(b"two", message=True)  # the writer is stuck writing "one"
        assert buffer.messages == 1
        assert await received.receive_some(100) == b"one"
        assert await received.receive_some(100) == b"two"
        buffer.close()
    assert buffer.messages == 0
