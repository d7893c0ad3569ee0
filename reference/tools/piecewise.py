"""Bytes in random pieces, the way TCP may deliver them.

TCP promises the bytes and their order, never the boundaries: one
`send_all` may arrive in many `receive_some` results, and several sends may
arrive as one. Code that reads a stream must work whatever the pieces are.
This module makes that happen on purpose, reproducibly, with the
`random.Random` you pass in:

- `piecewise_stream_pair` gives two connected `trio.abc.Stream` ends built
  on `trio.testing`'s memory streams, where every hand-over moves a random
  1..`max_piece` bytes;
- for sans-I/O code, which takes bytes rather than reading a stream,
  `wire_of` frames messages back to back as a stream would carry them,
  `cut_randomly` cuts bytes into random pieces of 1..`max_piece`, and
  `feed_pieces` hands the pieces to a decoder's `feed` one at a time.

Tests and graders use them to feed framing and RPC code the worst chunking
a network could produce, with a seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import TypeVar

import trio
import trio.testing

from reference.wire.framing import encode_frame

T = TypeVar("T")


def piecewise_stream_pair(
    rng: random.Random, max_piece: int
) -> tuple[trio.StapledStream, trio.StapledStream]:
    """Two connected streams that deliver bytes in random pieces of 1..max_piece."""
    forward_send, forward_receive = _one_way(rng, max_piece)
    backward_send, backward_receive = _one_way(rng, max_piece)
    return (
        trio.StapledStream(forward_send, backward_receive),
        trio.StapledStream(backward_send, forward_receive),
    )


def _one_way(rng: random.Random, max_piece: int):
    send_stream, receive_stream = trio.testing.memory_stream_one_way_pair()

    def move_a_piece() -> None:
        trio.testing.memory_stream_pump(
            send_stream, receive_stream, max_bytes=rng.randint(1, max_piece)
        )

    async def move_a_piece_async() -> None:
        move_a_piece()

    send_stream.send_all_hook = move_a_piece_async
    send_stream.close_hook = move_a_piece
    receive_stream.receive_some_hook = move_a_piece_async
    return send_stream, receive_stream


def wire_of(messages: Iterable[bytes]) -> bytes:
    """The bytes a stream carries for `messages`: each one framed, back to back."""
    return b"".join(encode_frame(message) for message in messages)


def cut_randomly(data: bytes, rng: random.Random, max_piece: int) -> list[bytes]:
    """`data` cut into consecutive pieces of a random 1..max_piece bytes each."""
    pieces, position = [], 0
    while position < len(data):
        size = rng.randint(1, max_piece)
        pieces.append(data[position : position + size])
        position += size
    return pieces


def feed_pieces(feed: Callable[[bytes], Iterable[T]], pieces: Iterable[bytes]) -> list[T]:
    """Call `feed` (a decoder's) with each piece in turn; return all it gave back, in order."""
    return [item for piece in pieces for item in feed(piece)]
