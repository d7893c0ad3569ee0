"""piecewise_stream_pair delivers every byte, in order, in small pieces of varying size."""

import random

import trio

from reference.tools.piecewise import piecewise_stream_pair


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
