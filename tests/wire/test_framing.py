"""Tests for reference/wire/framing.py: the sans-I/O decoder, then MessageStream.

The decoder is tested with no event loop at all: bytes in, frames out, fed
one byte at a time, many frames at once, in random chunks (fixed seeds) and
by hypothesis. MessageStream is tested over in-memory streams that deliver
random-sized pieces; its writer over streams that stall in the middle of a
frame (a send cancelled there must break the stream, a send cancelled before
it wrote anything must not) or record each send_all; then over real loopback
TCP with many clients.
"""

from __future__ import annotations

import doctest
import functools
import itertools
import random
import tracemalloc

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import reference.wire.framing
from reference.tools.piecewise import cut_randomly, feed_pieces, piecewise_stream_pair, wire_of
from reference.wire.framing import (
    HEADER_SIZE,
    FrameDecoder,
    FrameTimeout,
    FrameTooLarge,
    FramingError,
    MessageStream,
    TruncatedFrame,
    encode_frame,
)

SEEDS = range(8)


def random_payloads(rng: random.Random, count: int, largest: int) -> list[bytes]:
    return [
        rng.randbytes(rng.choice([0, 1, 3, 4, 5, rng.randint(0, largest)])) for _ in range(count)
    ]


# --- encode_frame ---------------------------------------------------------------------------


def test_encode_frame_puts_a_big_endian_length_in_front():
    assert encode_frame(b"hello") == b"\x00\x00\x00\x05hello"
    assert encode_frame(b"") == b"\x00\x00\x00\x00"
    assert encode_frame(bytes(258))[:HEADER_SIZE] == b"\x00\x00\x01\x02"


def test_encode_frame_accepts_exactly_the_maximum_and_rejects_one_more():
    assert len(encode_frame(bytes(10), max_frame_size=10)) == 14
    with pytest.raises(FrameTooLarge) as caught:
        encode_frame(bytes(11), max_frame_size=10)
    assert (caught.value.size, caught.value.limit) == (11, 10)


def test_encode_frame_rejects_a_payload_the_header_cannot_express():
    class FourGiBPayload(bytes):
        def __len__(self) -> int:
            return 2**32

    with pytest.raises(FrameTooLarge):
        encode_frame(FourGiBPayload(), max_frame_size=2**40)


def test_docstring_examples():
    assert doctest.testmod(reference.wire.framing).failed == 0


# --- FrameDecoder: chunking -----------------------------------------------------------------


def test_one_frame_fed_one_byte_at_a_time():
    decoder = FrameDecoder()
    wire = encode_frame(b"hello")
    returned = [decoder.feed(wire[i : i + 1]) for i in range(len(wire))]
    assert returned == [[]] * (len(wire) - 1) + [[b"hello"]]
    assert decoder.buffered == 0
    assert decoder.feed(b"") == []


def test_many_frames_fed_one_byte_at_a_time():
    payloads = [b"", b"a", b"hello", b"", bytes(300), b"\x00\x00\x00\x05"]
    wire = wire_of(payloads)
    decoder = FrameDecoder()
    assert feed_pieces(decoder.feed, [wire[i : i + 1] for i in range(len(wire))]) == payloads


def test_many_frames_in_one_chunk_come_out_in_order():
    payloads = [f"message {i}".encode() for i in range(1000)]
    decoder = FrameDecoder()
    assert decoder.feed(wire_of(payloads)) == payloads
    assert decoder.buffered == 0


def test_empty_payloads_are_frames_too():
    decoder = FrameDecoder()
    assert decoder.feed(b"\x00\x00\x00\x00" * 3) == [b"", b"", b""]
    assert decoder.feed(b"\x00\x00") == []
    assert decoder.feed(b"\x00\x00\x00\x00\x00\x01!") == [b"", b"!"]


def test_a_chunk_may_end_a_frame_and_start_the_next():
    decoder = FrameDecoder()
    assert decoder.feed(b"\x00\x00\x00\x05he") == []
    assert decoder.buffered == 6
    assert decoder.feed(b"llo\x00\x00\x00\x02hi\x00") == [b"hello", b"hi"]
    assert decoder.buffered == 1
    assert decoder.feed(b"\x00\x00\x01x") == [b"x"]


@pytest.mark.parametrize("seed", SEEDS)
def test_random_chunking_gives_back_the_same_frames(seed):
    rng = random.Random(seed)
    payloads = random_payloads(rng, count=200, largest=3000)
    chunks = cut_randomly(wire_of(payloads), rng, max_piece=rng.choice([1, 7, 100, 5000]))
    decoder = FrameDecoder()
    assert feed_pieces(decoder.feed, chunks) == payloads, f"seed {seed}"
    assert decoder.feed(b"") == []


def test_the_decoder_keeps_no_reference_to_the_callers_bytearray():
    decoder = FrameDecoder()
    wire = encode_frame(b"first") + encode_frame(b"second")
    chunk = bytearray(wire[:12])
    assert decoder.feed(chunk) == [b"first"]
    chunk.clear()  # raises BufferError if the decoder still holds a view of it
    chunk += b"XXXXXX"
    assert decoder.feed(bytearray(wire[12:])) == [b"second"]


def test_frames_are_independent_bytes_objects():
    decoder = FrameDecoder()
    [first] = decoder.feed(encode_frame(b"first"))
    decoder.feed(encode_frame(b"second"))
    assert first == b"first"
    assert type(first) is bytes


# --- FrameDecoder: limits and errors --------------------------------------------------------


def test_oversize_header_is_rejected_before_any_of_the_body_arrives():
    decoder = FrameDecoder(max_frame_size=100)
    header = (101).to_bytes(4, "big")
    for byte in header[:3]:
        assert decoder.feed(bytes([byte])) == []
    with pytest.raises(FrameTooLarge) as caught:
        decoder.feed(header[3:])
    assert (caught.value.size, caught.value.limit) == (101, 100)
    assert decoder.buffered == 0


def test_a_peer_announcing_4_gib_costs_us_nothing():
    decoder = FrameDecoder(max_frame_size=1024)
    with pytest.raises(FrameTooLarge):
        decoder.feed(b"\xff\xff\xff\xff" + bytes(100))
    assert decoder.buffered == 0


def test_oversize_frame_after_good_frames_in_the_same_chunk_is_rejected():
    decoder = FrameDecoder(max_frame_size=10)
    with pytest.raises(FrameTooLarge):
        decoder.feed(encode_frame(b"ok") + (11).to_bytes(4, "big") + bytes(11))
    assert decoder.buffered == 0


def test_a_frame_of_exactly_the_maximum_is_accepted():
    decoder = FrameDecoder(max_frame_size=10)
    assert decoder.feed(encode_frame(bytes(10))) == [bytes(10)]


def test_errors_are_sticky():
    decoder = FrameDecoder(max_frame_size=10)
    with pytest.raises(FrameTooLarge) as first:
        decoder.feed(b"\x00\x00\x00\x0b")
    for later_input in [encode_frame(b"fine"), b"x", b""]:
        with pytest.raises(FrameTooLarge) as again:
            decoder.feed(later_input)
        assert again.value is first.value
    assert decoder.buffered == 0


@pytest.mark.parametrize(
    "received",
    [b"\x00", b"\x00\x00\x00", b"\x00\x00\x00\x05", b"\x00\x00\x00\x05hell"],
    ids=["1-header-byte", "3-header-bytes", "header-only", "partial-body"],
)
def test_end_of_stream_inside_a_frame_is_truncated(received):
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(b"whole") + received) == [b"whole"]
    with pytest.raises(TruncatedFrame) as caught:
        decoder.feed(b"")
    assert caught.value.buffered == len(received)
    with pytest.raises(TruncatedFrame):
        decoder.feed(b"more")


def test_clean_end_of_stream_returns_nothing():
    assert FrameDecoder().feed(b"") == []
    decoder = FrameDecoder()
    decoder.feed(encode_frame(b"a") + encode_frame(b""))
    assert decoder.feed(b"") == []


def test_feeding_after_end_of_stream_is_a_local_error():
    decoder = FrameDecoder()
    decoder.feed(b"")
    with pytest.raises(RuntimeError):
        decoder.feed(b"late")


def test_errors_are_framing_errors():
    assert issubclass(FrameTooLarge, FramingError)
    assert issubclass(TruncatedFrame, FramingError)


# --- FrameDecoder: linear cost --------------------------------------------------------------


class _CopyingDecoder:
    """A decoder that rebuilds its buffer on every feed: quadratic, the control."""

    def __init__(self, max_frame_size: int) -> None:
        self.inner = FrameDecoder(max_frame_size)
        self.received = b""

    def feed(self, data: bytes) -> list[bytes]:
        self.received = self.received + data
        return self.inner.feed(data)


def bytes_allocated_while_feeding(decoder, chunks: list[bytes]) -> tuple[int, list[bytes]]:
    """Sum, over every feed, of the most memory it needed above what was held before.

    A decoder that copies its whole buffer on each feed allocates about
    `buffered` bytes per call, so this sum grows with the square of the
    frame size; appending to one growing buffer keeps it linear. It counts
    bytes, not seconds, so it is the same on every machine.
    """
    frames = []
    total = 0
    tracemalloc.start()
    try:
        for chunk in chunks:
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            frames.extend(decoder.feed(chunk))
            _, peak = tracemalloc.get_traced_memory()
            total += peak - before
    finally:
        tracemalloc.stop()
    return total, frames


@pytest.mark.parametrize(
    ("make_decoder", "linear"),
    [(FrameDecoder, True), (_CopyingDecoder, False)],
    ids=["FrameDecoder", "quadratic-control"],
)
def test_a_large_frame_in_small_chunks_costs_linear_memory_traffic(make_decoder, linear):
    size = 1 << 20
    wire = encode_frame(bytes(size), max_frame_size=size)
    chunks = [wire[i : i + 1021] for i in range(0, len(wire), 1021)]
    allocated, frames = bytes_allocated_while_feeding(make_decoder(size), chunks)
    assert frames == [bytes(size)]
    assert (allocated <= 4 * size) == linear, f"{allocated / size:.1f} bytes per byte"


def test_a_large_frame_in_small_chunks_never_holds_more_than_the_frame():
    size = 1 << 18
    wire = encode_frame(bytes(size), max_frame_size=size)
    decoder = FrameDecoder(max_frame_size=size)
    for position in range(0, len(wire) - 1000, 1000):
        assert decoder.feed(wire[position : position + 1000]) == []
        assert decoder.buffered == position + 1000
    assert decoder.feed(wire[decoder.buffered :]) == [bytes(size)]


# --- FrameDecoder: properties ---------------------------------------------------------------


@st.composite
def chunked(draw, data: bytes) -> list[bytes]:
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=20))
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@given(st.data(), st.lists(st.binary(max_size=300), max_size=20))
def test_decode_of_encode_is_identity_for_any_chunking(data, payloads):
    chunks = data.draw(chunked(wire_of(payloads)))
    decoder = FrameDecoder(max_frame_size=300)
    assert feed_pieces(decoder.feed, chunks) == payloads
    assert decoder.buffered == 0
    assert decoder.feed(b"") == []


@given(st.data(), st.binary(max_size=2000), st.integers(0, 64))
def test_garbage_input_is_bounded_and_fails_only_with_framing_errors(data, garbage, limit):
    decoder = FrameDecoder(max_frame_size=limit)
    try:
        for chunk in [*data.draw(chunked(garbage)), b""]:
            for frame in decoder.feed(chunk):
                assert len(frame) <= limit
            assert decoder.buffered < limit + HEADER_SIZE
    except FramingError:
        assert decoder.buffered == 0


# --- MessageStream over in-memory streams ---------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
async def test_messages_survive_random_chunking_both_ways(seed):
    rng = random.Random(seed)
    left, right = piecewise_stream_pair(rng, max_piece=rng.choice([1, 3, 50, 2000]))
    client, server = MessageStream(left), MessageStream(right)
    questions = random_payloads(rng, count=40, largest=2000)
    answers = []

    async def echo_reversed():
        async for message in server:
            await server.send_message(message[::-1])
        await server.send_eof()

    async def ask():
        for question in questions:
            await client.send_message(question)
        await client.send_eof()

    async def collect():
        async for answer in client:
            answers.append(answer)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(echo_reversed)
            nursery.start_soon(ask)
            nursery.start_soon(collect)
    assert answers == [q[::-1] for q in questions], f"seed {seed}"


async def test_receive_message_returns_each_message_then_end_of_channel():
    left, right = trio.testing.memory_stream_pair()
    sender, receiver = MessageStream(left), MessageStream(right)
    await left.send_all(encode_frame(b"one") + encode_frame(b"") + encode_frame(b"three"))
    await sender.send_eof()
    assert await receiver.receive_message() == b"one"
    assert await receiver.receive_message() == b""
    assert await receiver.receive_message() == b"three"
    with pytest.raises(trio.EndOfChannel):
        await receiver.receive_message()
    with pytest.raises(trio.EndOfChannel):
        await receiver.receive_message()


async def test_async_iteration_stops_at_a_clean_end_of_stream():
    left, right = piecewise_stream_pair(random.Random(1), max_piece=2)
    async with MessageStream(left) as sender:
        for word in [b"alpha", b"", b"gamma"]:
            await sender.send_message(word)
    with trio.fail_after(1):
        assert [message async for message in MessageStream(right)] == [b"alpha", b"", b"gamma"]


async def test_a_peer_closing_mid_frame_raises_truncated_frame():
    left, right = piecewise_stream_pair(random.Random(2), max_piece=3)
    await left.send_all(encode_frame(b"complete") + encode_frame(b"cut short")[:-2])
    await left.aclose()
    receiver = MessageStream(right)
    received = []
    with trio.fail_after(1), pytest.raises(TruncatedFrame):
        async for message in receiver:
            received.append(message)
    assert received == [b"complete"]


async def test_an_oversize_incoming_frame_raises_before_its_body_is_read():
    left, right = trio.testing.memory_stream_pair()
    receiver = MessageStream(right, max_frame_size=1000)
    await left.send_all((1001).to_bytes(4, "big"))
    with trio.fail_after(1), pytest.raises(FrameTooLarge):
        await receiver.receive_message()


async def test_a_frame_must_be_complete_within_frame_timeout_of_its_first_byte(autojump_clock):
    left, right = trio.testing.memory_stream_pair()
    receiver = MessageStream(right, frame_timeout=30)
    await left.send_all(encode_frame(b"whole") + encode_frame(b"dribbled")[:3])
    assert await receiver.receive_message() == b"whole"  # the second frame began at t=0

    async def dribble():  # a byte every 10 s: never silent for long, never finished in time
        for byte in encode_frame(b"dribbled")[3:-1]:
            await trio.sleep(10)
            await left.send_all(bytes([byte]))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(dribble)
        with pytest.raises(FrameTimeout, match="not complete 30 s after it began"):
            await receiver.receive_message()
        assert trio.current_time() == 30
        nursery.cancel_scope.cancel()
    assert receiver.buffered == 0  # what the parked frame held is let go


async def test_the_frame_timeout_runs_from_each_frame_not_from_the_connection(autojump_clock):
    left, right = trio.testing.memory_stream_pair()
    receiver = MessageStream(right, frame_timeout=30)
    for n in range(5):  # each frame takes 20 s, in two halves, and five of them 100 s
        frame = encode_frame(b"frame %d" % n)
        await left.send_all(frame[:6])
        await trio.sleep(20)
        await left.send_all(frame[6:])
        assert await receiver.receive_message() == b"frame %d" % n
    await trio.sleep(1000)  # silence between frames is not this timeout's business
    late = encode_frame(b"late")

    async def send_late_then_begin_next():
        await left.send_all(late[:5])
        await trio.sleep(25)
        await left.send_all(late[5:] + encode_frame(b"next")[:2])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_late_then_begin_next)
        assert await receiver.receive_message() == b"late"  # read as it comes, in two chunks
    with pytest.raises(FrameTimeout):  # the next frame began with the chunk that ended "late"
        await receiver.receive_message()
    assert trio.current_time() == 1125 + 30


async def test_send_message_refuses_an_oversize_payload_without_sending():
    left, right = trio.testing.memory_stream_pair()
    sender = MessageStream(left, max_frame_size=10)
    with pytest.raises(FrameTooLarge):
        await sender.send_message(bytes(11))
    await sender.send_eof()
    assert await right.receive_some() == b""


async def test_concurrent_senders_keep_frames_whole():
    left, right = piecewise_stream_pair(random.Random(3), max_piece=100)
    original_hook = left.send_stream.send_all_hook

    async def slow_send_hook():
        await trio.sleep(0)  # let other senders run while this send is in progress
        await original_hook()

    left.send_stream.send_all_hook = slow_send_hook
    sender, receiver = MessageStream(left), MessageStream(right)
    senders, each = 8, 25

    async def send_many(task):
        for i in range(each):
            await sender.send_message(f"task {task} message {i} ".encode() * (i + 1))

    async with trio.open_nursery() as nursery:
        for task in range(senders):
            nursery.start_soon(send_many, task)
    await sender.send_eof()

    with trio.fail_after(5):
        received = [message async for message in receiver]
    assert len(received) == senders * each
    for task in range(senders):
        mine = [m for m in received if m.startswith(f"task {task} ".encode())]
        assert mine == [f"task {task} message {i} ".encode() * (i + 1) for i in range(each)]


# --- MessageStream: the one writer, and cancellation ----------------------------------------


class StallingSendStream(trio.abc.SendStream):
    """Passes on the first `room` bytes it is given, then stalls, like a socket whose buffer
    filled in the middle of a write.

    A stalled `send_all` goes on with the rest of its data after `clear()`. If it is
    cancelled first, what went out stays out and the rest never leaves, as with a real
    socket. After `clear()` everything passes straight through.
    """

    def __init__(self, wire: trio.abc.SendStream, room: int) -> None:
        self.wire = wire
        self.room: int | None = room
        self._cleared = trio.Event()

    def clear(self) -> None:
        self.room = None
        self._cleared.set()

    async def send_all(self, data: bytes) -> None:
        if self.room is not None and len(data) > self.room:
            passed, data, self.room = data[: self.room], data[self.room :], 0
            await self.wire.send_all(passed)
            await self._cleared.wait()
        elif self.room is not None:
            self.room -= len(data)
        await self.wire.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.wire.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.wire.aclose()


def streams_that_stall_after(room: int) -> tuple[StallingSendStream, MessageStream, MessageStream]:
    """The stall, a sender whose wire stalls after `room` bytes, and the receiver at its end."""
    left, right = trio.testing.memory_stream_pair()
    stall = StallingSendStream(left.send_stream, room)
    return (
        stall,
        MessageStream(trio.StapledStream(stall, left.receive_stream)),
        MessageStream(right),
    )


def recording_message_stream() -> tuple[MessageStream, list[bytes]]:
    """A MessageStream, and the bytes of each `send_all` it makes, in order."""
    send_stream = trio.testing.MemorySendStream()
    sends: list[bytes] = []

    async def record_the_send() -> None:
        sends.append(bytes(send_stream.get_data_nowait()))

    send_stream.send_all_hook = record_the_send
    stream = trio.StapledStream(send_stream, trio.testing.MemoryReceiveStream())
    return MessageStream(stream), sends


async def test_a_send_cancelled_inside_a_frame_breaks_the_stream(autojump_clock):
    stall, sender, receiver = streams_that_stall_after(8)
    with trio.move_on_after(1) as waited:
        await sender.send_message(b"first message")  # a 17-byte frame: 8 bytes of it go out
    assert waited.cancelled_caught
    stall.clear()  # the wire could carry more, but a frame on it is cut short
    with pytest.raises(trio.BrokenResourceError) as caught:
        await sender.send_message(b"second")
    assert str(caught.value).startswith("an earlier send was interrupted inside a frame (Cancelled")
    with pytest.raises(trio.BrokenResourceError, match="interrupted inside a frame"):
        await sender.send_eof()
    await sender.aclose()
    received = []
    with pytest.raises(TruncatedFrame) as cut:  # not b"first" glued to the start of b"second"
        async for message in receiver:
            received.append(message)
    assert received == []
    assert cut.value.buffered == 8


async def test_a_send_cancelled_while_waiting_for_the_lock_breaks_nothing(autojump_clock):
    stall, sender, receiver = streams_that_stall_after(8)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender.send_message, b"first message")  # stalls holding the lock
        await trio.testing.wait_all_tasks_blocked()
        with trio.move_on_after(10) as waited:
            await sender.send_message(b"never sent")
        assert waited.cancelled_caught
        stall.clear()  # the first send finishes its frame
    await sender.send_message(b"second")
    await sender.send_eof()
    assert [message async for message in receiver] == [b"first message", b"second"]


async def test_a_send_cancelled_before_it_starts_breaks_nothing():
    left, right = trio.testing.memory_stream_pair()
    sender, receiver = MessageStream(left), MessageStream(right)
    with trio.CancelScope() as scope:
        scope.cancel()
        await sender.send_message(b"never sent")  # the lock is free: cancelled at the checkpoint
    assert scope.cancelled_caught
    await sender.send_message(b"sent")
    await sender.send_eof()
    assert [message async for message in receiver] == [b"sent"]


async def test_send_frames_from_sends_what_is_queued_together_in_one_send_all(autojump_clock):
    messages, sends = recording_message_stream()
    frames_in, frames_out = trio.open_memory_channel[bytes](10)
    queued = [encode_frame(word) for word in [b"one", b"two", b"three"]]
    for frame in queued:
        frames_in.send_nowait(frame)
    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(messages.send_frames_from, frames_out)
            await trio.testing.wait_all_tasks_blocked()
            assert sends == [b"".join(queued)]
            frames_in.send_nowait(encode_frame(b"four"))
            await trio.testing.wait_all_tasks_blocked()
            assert sends == [b"".join(queued), encode_frame(b"four")]
            frames_in.close()  # the writer returns, so the nursery can end
    with pytest.raises(trio.ClosedResourceError):
        frames_out.receive_nowait()  # and it closed its end of the channel


async def test_send_frames_from_joins_at_most_about_batch_bytes_per_send_all():
    messages, sends = recording_message_stream()
    frames_in, frames_out = trio.open_memory_channel[bytes](10)
    for _ in range(5):
        frames_in.send_nowait(encode_frame(bytes(6)))  # 10 bytes each
    frames_in.close()
    with trio.fail_after(1):
        await messages.send_frames_from(frames_out, batch_bytes=25)
    assert [len(sent) for sent in sends] == [30, 20]  # a batch stops once it reaches 25


async def send_with_send_message(messages: MessageStream, payload: bytes) -> None:
    await messages.send_message(payload)


async def send_through_a_writer_task(messages: MessageStream, payload: bytes) -> None:
    frames_in, frames_out = trio.open_memory_channel[bytes](1)
    frames_in.send_nowait(encode_frame(payload))
    frames_in.close()
    await messages.send_frames_from(frames_out)


async def close_the_peer(left: trio.abc.Stream, right: trio.abc.Stream) -> None:
    await right.aclose()


async def close_our_end(left: trio.abc.Stream, right: trio.abc.Stream) -> None:
    await left.aclose()


@pytest.mark.parametrize("send", [send_with_send_message, send_through_a_writer_task])
@pytest.mark.parametrize(
    ("close", "error"),
    [(close_the_peer, trio.BrokenResourceError), (close_our_end, trio.ClosedResourceError)],
)
async def test_a_failing_send_all_propagates_and_breaks_the_stream(send, close, error):
    left, right = trio.testing.memory_stream_pair()
    messages = MessageStream(left)
    await close(left, right)
    with pytest.raises(error):
        await send(messages, b"lost")
    with pytest.raises(trio.BrokenResourceError, match="interrupted inside a frame"):
        await send(messages, b"after")


# --- MessageStream over real loopback TCP ---------------------------------------------------


async def echo_messages(stream: trio.SocketStream) -> None:
    async with MessageStream(stream) as messages:
        async for message in messages:
            await messages.send_message(message)


async def test_echo_server_over_loopback_tcp_with_100_concurrent_clients():
    sizes = [0, 1, 100, 4096, 70_000, 200]

    async def client(port: int, number: int, results: dict) -> None:
        rng = random.Random(number)
        sent = [rng.randbytes(size) for size in sizes]
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with MessageStream(stream) as messages:
            # Send and receive in separate tasks: sending everything first
            # could fill both directions' buffers and deadlock.
            async def send_all_then_eof():
                for payload in sent:
                    await messages.send_message(payload)
                await messages.send_eof()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(send_all_then_eof)
                results[number] = ([echo async for echo in messages], sent)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, echo_messages, 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            results: dict = {}
            async with trio.open_nursery() as clients:
                for number in range(100):
                    clients.start_soon(client, port, number, results)
            nursery.cancel_scope.cancel()

    assert sorted(results) == list(range(100))
    for number, (echoed, sent) in results.items():
        assert echoed == sent, f"client {number}"
