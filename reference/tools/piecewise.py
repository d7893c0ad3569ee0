"""In-memory streams that deliver bytes in random pieces, the way TCP may.

TCP promises the bytes and their order, never the boundaries: one
`send_all` may arrive in many `receive_some` results, and several sends may
arrive as one. Code that reads a stream must work whatever the pieces are.
`piecewise_stream_pair` makes that happen on purpose, reproducibly: two
connected `trio.abc.Stream` ends built on `trio.testing`'s memory streams,
where every hand-over moves a random 1..`max_piece` bytes chosen by the
`random.Random` you pass in. Tests and graders use it to feed framing and
RPC code the worst chunking a network could produce, with a seed.
"""

import random

import trio
import trio.testing


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
