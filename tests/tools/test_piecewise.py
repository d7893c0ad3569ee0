"""reference/tools/piecewise.py delivers every byte, in order, in pieces of varying size:
through a stream pair, and as a list of pieces for sans-I/O code."""

import random

import trio

from reference.tools.piecewise import cut_randomly, feed_pieces, piecewise_stream_pair, wire_of
from reference.wire.framing import FrameDecoder, encode_frame


async def test_bytes_arrive_intact_in_small_pieces_both_ways():
    left, right = piecewise_stream_pair(random.Random(5), max_piece=7)
    payload = random.Random(6).randbytes(5_000)
    for sender, receiver in [(left, right), (right, left)]:
        pieces = []

        async def send(sender=sender):
            await sender.send_all(payload)
            await sender.send_eof()

        async def receive(receiver=receiver, pieces=pieces):
            async for piece in receiver:
                pieces.append(piece)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            nursery.start_soon(receive)
        assert b"".join(pieces) == payload
        # Each hand-over moves at most 7 bytes; a receive may find the sender's one waiting too.
        assert max(map(len, pieces)) <= 2 * 7
        assert len(pieces) >= len(payload) // (2 * 7)
        assert len({len(piece) for piece in pieces}) > 1, "piece sizes should vary"


async def test_the_same_seed_cuts_the_same_pieces():
    async def cut(seed):
        left, right = piecewise_stream_pair(random.Random(seed), max_piece=50)
        await left.send_all(bytes(1_000))
        await left.send_eof()
        return [len(piece) async for piece in right]

    assert await cut(1) == await cut(1)
    assert await cut(1) != await cut(2)


def test_cut_randomly_keeps_every_byte_in_pieces_of_varying_size():
    data = random.Random(7).randbytes(5_000)
    pieces = cut_randomly(data, random.Random(8), max_piece=7)
    assert b"".join(pieces) == data
    assert all(1 <= len(piece) <= 7 for piece in pieces)
    assert len({len(piece) for piece in pieces}) > 1, "piece sizes should vary"
    assert cut_randomly(data, random.Random(8), max_piece=7) == pieces  # same seed, same cuts
    assert cut_randomly(b"", random.Random(8), max_piece=7) == []


def test_wire_of_frames_each_message_back_to_back():
    assert wire_of([b"one", b"", b"three"]) == (
        encode_frame(b"one") + encode_frame(b"") + encode_frame(b"three")
    )
    assert wire_of([]) == b""


def test_feed_pieces_returns_everything_each_feed_gave_back_in_order():
    messages = [b"alpha", b"", b"gamma" * 100]
    pieces = cut_randomly(wire_of(messages), random.Random(9), max_piece=3)
    assert feed_pieces(FrameDecoder().feed, pieces) == messages
    assert feed_pieces(lambda piece: [len(piece)] * 2, [b"ab", b"c"]) == [2, 2, 1, 1]
