"""Graders for exercises/01-messages-over-sockets.ipynb: framing and a concurrent server.

`encode_frame` and the decoder are compared with `reference/wire/framing.py` on
hand-picked cases (empty payloads, split headers, many frames per chunk,
oversize headers, streams cut short) and on seeded random streams cut into
random pieces.

`serve_echo` is run against clients over in-memory streams that deliver
bytes in random small pieces, in virtual time, so a server that stalls is
caught at once; one case makes every client wait until all of them have an
echo, which only a server that serves connections concurrently passes. A
last case runs 50 clients over real loopback TCP.
"""

import math
import random

import trio
import trio.testing

from exercises.grading import grader
from reference.tools.piecewise import cut_randomly, feed_pieces, piecewise_stream_pair, wire_of
from reference.wire.framing import (
    DEFAULT_MAX_FRAME_SIZE,
    FrameTooLarge,
    MessageStream,
    TruncatedFrame,
    encode_frame,
)

# --- Task 1: encode_frame --------------------------------------------------------------------


@grader("Task 1 · encode_frame")
def check_encode_frame(cases, encode):
    cases.equal(
        "an empty payload",
        lambda: encode(b""),
        b"\x00\x00\x00\x00",
        hint="The 4-byte header is there even when the payload is empty.",
    )
    cases.equal(
        "b'hello'",
        lambda: encode(b"hello"),
        b"\x00\x00\x00\x05hello",
        hint="The header holds the length of the payload alone, then comes the payload.",
    )
    cases.equal(
        "a 300-byte payload: its header",
        lambda: encode(bytes(300))[:4],
        b"\x00\x00\x01\x2c",
        hint="Big-endian: most significant byte first, as in (300).to_bytes(4, 'big').",
    )
    cases.equal(
        "a 70,000-byte payload: its header",
        lambda: encode(bytes(70_000))[:4],
        b"\x00\x01\x11\x70",
        hint="The length takes 4 bytes, so it can exceed 65,535.",
    )
    rng = random.Random(1)
    for size in [1, 3, 4, 255, 256, 1000]:
        payload = rng.randbytes(size)
        expected = encode_frame(payload)
        cases.equal(f"a random {size}-byte payload", lambda p=payload: encode(p), expected)
    cases.equal(
        "a payload of exactly max_frame_size=10 bytes",
        lambda: len(encode(bytes(10), max_frame_size=10)),
        14,
        hint="A frame as large as the maximum is allowed.",
    )
    error = cases.raises(
        "a payload of 11 bytes with max_frame_size=10",
        lambda: encode(bytes(11), max_frame_size=10),
        FrameTooLarge,
        hint="Compare len(payload) with max_frame_size and raise FrameTooLarge(size, limit).",
    )
    cases.same(
        "a payload of 11 bytes with max_frame_size=10: the error's size and limit",
        (error.size, error.limit),
        (11, 10),
        hint="Raise FrameTooLarge(len(payload), max_frame_size), in that order.",
    )
    cases.equal(
        "an empty payload with max_frame_size=0",
        lambda: encode(b"", max_frame_size=0),
        b"\x00\x00\x00\x00",
    )
    for limit in [rng.randint(1, 5000) for _ in range(6)]:
        for size in (limit - 1, limit, limit + 1):
            payload = rng.randbytes(size)
            case = f"a random {size:,}-byte payload with max_frame_size={limit:,}"
            if size <= limit:
                cases.equal(
                    case,
                    lambda p=payload, m=limit: encode(p, max_frame_size=m),
                    encode_frame(payload, max_frame_size=limit),
                    hint="Use the max_frame_size you are given; a payload as large as it is "
                    "allowed.",
                )
            else:
                cases.raises(
                    case,
                    lambda p=payload, m=limit: encode(p, max_frame_size=m),
                    FrameTooLarge,
                    hint="Use the max_frame_size you are given, not the default.",
                )
    cases.raises(
        "a payload one byte over the default maximum of 1 MiB",
        lambda: encode(bytes(DEFAULT_MAX_FRAME_SIZE + 1)),
        FrameTooLarge,
        hint="The default for max_frame_size is DEFAULT_MAX_FRAME_SIZE.",
    )


# --- Task 2: FrameDecoder --------------------------------------------------------------------


def feed_each(decoder_class, pieces, **kwargs):
    """Feed `pieces` to a fresh decoder; return what each feed returned."""
    decoder = decoder_class(**kwargs)
    return [decoder.feed(piece) for piece in pieces]


def random_messages(rng, count, largest):
    sizes = [0, 1, 3, 4, 5]
    return [rng.randbytes(rng.choice([*sizes, rng.randint(0, largest)])) for _ in range(count)]


@grader("Task 2 · FrameDecoder")
def check_frame_decoder(cases, decoder_class):
    hello = encode_frame(b"hello")
    cases.equal("one whole frame in one feed", lambda: decoder_class().feed(hello), [b"hello"])
    cases.equal(
        "b'hello' fed one byte at a time",
        lambda: feed_each(decoder_class, [hello[i : i + 1] for i in range(len(hello))]),
        [[]] * 8 + [[b"hello"]],
        hint="Keep what you received until the frame is complete; the header can be split too.",
    )
    cases.equal(
        "three frames in one chunk",
        lambda: decoder_class().feed(wire_of([b"one", b"", b"three"])),
        [b"one", b"", b"three"],
        hint="After taking one frame, look for another in what is left: loop, don't stop at one.",
    )
    cases.equal(
        "chunks that end one frame and start the next",
        lambda: feed_each(
            decoder_class, [b"\x00\x00\x00\x05he", b"llo\x00\x00\x00\x02hi\x00", b"\x00\x00\x01x"]
        ),
        [[], [b"hello", b"hi"], [b"x"]],
        hint="Bytes after a complete frame are the start of the next one: keep them.",
    )
    cases.equal(
        "three empty frames",
        lambda: decoder_class().feed(bytes(12)),
        [b"", b"", b""],
        hint="A header of length 0 is a whole frame with an empty payload.",
    )
    frames = cases.call("frames are bytes", lambda: decoder_class().feed(hello + hello))
    cases.true(
        "frames are bytes",
        all(type(frame) is bytes for frame in frames),
        f"expected a list of bytes, got {frames!r}",
        hint="Return bytes(...) of each payload, not a bytearray or memoryview.",
    )
    big = bytes(range(256)) * 800
    cases.equal(
        "a 204,800-byte frame in 1,000-byte chunks",
        lambda: feed_pieces(
            decoder_class().feed, cut_randomly(encode_frame(big), random.Random(0), 1000)
        ),
        [big],
    )
    for seed in range(8):
        rng = random.Random(seed)
        messages = random_messages(rng, count=60, largest=2000)
        max_piece = [1, 2, 7, 100, 5000][seed % 5]
        pieces = cut_randomly(wire_of(messages), rng, max_piece)
        got = cases.call(
            f"60 random frames cut into pieces of 1 to {max_piece} bytes (seed {seed})",
            lambda p=pieces: feed_pieces(decoder_class().feed, p),
        )
        cases.same(
            f"60 random frames cut into pieces of 1 to {max_piece} bytes (seed {seed})",
            got,
            messages,
            hint="Every chunking of the same bytes must give the same frames.",
        )
    cases.equal(
        "two decoders fed at the same time keep separate buffers",
        lambda: two_decoders_interleaved(decoder_class),
        ([b"first"], [b"second"]),
        hint="Create the buffer in __init__ (self.buffer = ...), not as a class attribute.",
    )

    header_of_1001 = (1001).to_bytes(4, "big")
    error = cases.raises(
        "max_frame_size=1000, and a header alone announces 1001 bytes",
        lambda: decoder_class(max_frame_size=1000).feed(header_of_1001),
        FrameTooLarge,
        hint="Check the length as soon as the 4-byte header is in, before waiting for the body.",
    )
    cases.same(
        "max_frame_size=1000, a header announcing 1001: the error's size and limit",
        (error.size, error.limit),
        (1001, 1000),
        hint="Raise FrameTooLarge(announced size, max_frame_size), in that order.",
    )
    cases.raises(
        "the same header, fed one byte at a time",
        lambda: feed_each(decoder_class, [bytes([b]) for b in header_of_1001], max_frame_size=1000),
        FrameTooLarge,
    )
    cases.raises(
        "an oversize frame, body included, after a good frame in the same chunk",
        lambda: decoder_class(max_frame_size=1000).feed(hello + header_of_1001 + bytes(1001)),
        FrameTooLarge,
    )
    cases.equal(
        "a frame of exactly max_frame_size=10 bytes",
        lambda: decoder_class(max_frame_size=10).feed(encode_frame(bytes(10))),
        [bytes(10)],
        hint="The limit itself is allowed: reject only frames larger than it.",
    )
    cases.raises(
        "the default maximum: a header announcing 1 MiB + 1",
        lambda: decoder_class().feed((DEFAULT_MAX_FRAME_SIZE + 1).to_bytes(4, "big")),
        FrameTooLarge,
        hint="The default for max_frame_size is DEFAULT_MAX_FRAME_SIZE.",
    )

    cases.equal("end of stream at once", lambda: feed_each(decoder_class, [b""]), [[]])
    cases.equal(
        "end of stream right after a frame",
        lambda: feed_each(decoder_class, [hello, b""]),
        [[b"hello"], []],
        hint="feed(b'') between frames is a clean end: return [].",
    )
    for case, pieces, kept in [
        ("end of stream inside a header", [hello + b"\x00\x00", b""], 2),
        ("end of stream inside a body", [b"\x00\x00\x00\x05hel", b""], 7),
        ("end of stream inside a body fed in three pieces", [b"\x00\x00", b"\x00\x03a", b""], 5),
    ]:
        error = cases.raises(
            case,
            lambda p=pieces: feed_each(decoder_class, p),
            TruncatedFrame,
            hint="feed(b'') with bytes still buffered means a frame was cut short: TruncatedFrame.",
        )
        cases.same(
            f"{case}: TruncatedFrame counts the bytes kept",
            error.buffered,
            kept,
            hint="Raise TruncatedFrame(number of bytes kept), the header's bytes included.",
        )
    rng = random.Random(9)
    for run in range(4):
        messages = random_messages(rng, count=20, largest=3000)
        limit = max(len(message) for message in messages)
        wire = wire_of(messages)
        cases.equal(
            f"20 random frames with max_frame_size={limit:,}, the largest of them (run {run})",
            lambda w=wire, m=limit: decoder_class(max_frame_size=m).feed(w),
            messages,
            hint="Use the max_frame_size you are given; a frame as large as it is allowed.",
        )
        cases.raises(
            f"the same frames with max_frame_size={limit - 1:,}, one byte less (run {run})",
            lambda w=wire, m=limit - 1: decoder_class(max_frame_size=m).feed(w),
            FrameTooLarge,
            hint="Use the max_frame_size you are given, not the default.",
        )


def two_decoders_interleaved(decoder_class):
    first, second = decoder_class(), decoder_class()
    one, two = encode_frame(b"first"), encode_frame(b"second")
    got_first = first.feed(one[:3])
    got_second = second.feed(two[:5])
    got_first += first.feed(one[3:])
    got_second += second.feed(two[5:])
    return got_first, got_second


# --- Task 3: serve_echo ----------------------------------------------------------------------


class MemoryListener(trio.abc.Listener):
    """A listener whose connections are in-memory streams with random small pieces."""

    def __init__(self, rng, max_piece):
        self.rng, self.max_piece = rng, max_piece
        self.waiting_send, self.waiting = trio.open_memory_channel(math.inf)

    async def connect(self):
        client, server = piecewise_stream_pair(self.rng, self.max_piece)
        await self.waiting_send.send(server)
        return client

    async def accept(self):
        return await self.waiting.receive()

    async def aclose(self):
        self.waiting.close()
        await trio.lowlevel.checkpoint()


class ClosedTooEarly(Exception):
    """The server hung up while the client still had messages to send."""


class Gate:
    """Clients wait here until `count` of them have arrived."""

    def __init__(self, count):
        self.count, self.arrived, self.open = count, 0, trio.Event()

    async def arrive_and_wait(self):
        self.arrived += 1
        if self.arrived == self.count:
            self.open.set()
        await self.open.wait()


async def converse(stream, messages, gate=None):
    """Send `messages` (after a first echo and the gate, if any); return every echo until EOF."""
    async with MessageStream(stream) as connection:
        echoes = []
        if gate is not None:
            await connection.send_message(messages[0])
            echoes.append(await connection.receive_message())
            await gate.arrive_and_wait()
            messages = messages[1:]

        async def send_the_rest():
            try:
                for message in messages:
                    await connection.send_message(message)
                await connection.send_eof()
            except trio.BrokenResourceError:
                raise ClosedTooEarly("the server closed the connection mid-conversation") from None

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_the_rest)
            echoes += [echo async for echo in connection]
    return echoes


def innermost(error):
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def run_clients(serve_echo, listener, connect, conversations, gated):
    """Serve on `listener`; each conversation is one client; return each client's echoes."""
    echoes = [None] * len(conversations)
    gate = Gate(len(conversations)) if gated else None

    async def client(index):
        echoes[index] = await converse(await connect(), conversations[index], gate)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_echo, listener)
            async with trio.open_nursery() as clients:
                for index in range(len(conversations)):
                    clients.start_soon(client, index)
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise innermost(group) from None
    return echoes


async def in_memory(serve_echo, conversations, max_piece, gated=False):
    listener = MemoryListener(random.Random(len(conversations)), max_piece)
    return await run_clients(serve_echo, listener, listener.connect, conversations, gated)


async def over_loopback_tcp(serve_echo, conversations):
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]

    async def connect():
        return await trio.open_tcp_stream("127.0.0.1", port)

    return await run_clients(serve_echo, listener, connect, conversations, gated=False)


def same_echoes(cases, case, got, conversations, hint=""):
    for index, (echoes, sent) in enumerate(zip(got, conversations, strict=True)):
        cases.same(f"{case}: client {index} gets its messages back", echoes, sent, hint=hint)


@grader("Task 3 · serve_echo")
def check_serve_echo(cases, serve_echo):
    first = [[b"hello", b"", b"world"]]
    got = cases.run_async(
        "one client sends b'hello', b'', b'world' (one byte at a time), then ends its side",
        in_memory,
        serve_echo,
        first,
        1,
        hint="Echo every message until the client's side ends (async for stops there; "
        "receive_message raises trio.EndOfChannel), then close the connection.",
    )
    same_echoes(
        cases,
        "one client, three messages, one byte at a time",
        got,
        first,
        hint="One receive_some is not one message: let MessageStream collect whole messages.",
    )

    big = [[bytes(range(256)) * 800, b"after the big one"]]
    got = cases.run_async(
        "one client sends a 204,800-byte message in pieces of up to 1,000 bytes",
        in_memory,
        serve_echo,
        big,
        1000,
        hint="One receive_some is not one message: let MessageStream collect whole messages.",
    )
    same_echoes(
        cases,
        "a 204,800-byte message in small pieces",
        got,
        big,
        hint="One receive_some is not one message: let MessageStream collect whole messages.",
    )

    rng = random.Random(7)
    several = [random_messages(rng, count=6, largest=3000) for _ in range(20)]
    got = cases.run_async(
        "20 clients connect; each waits until all 20 have had a first echo, then sends 5 more",
        in_memory,
        serve_echo,
        several,
        500,
        True,
        hint="Serve each connection in its own task (trio.serve_listeners does that), "
        "not one after another.",
    )
    same_echoes(cases, "20 clients served at the same time", got, several)

    one_after_another = [[b"first client"], [b"second client"], [b"third client"]]
    got = cases.run_async(
        "three clients, one after another: each closes before the next is served",
        in_one_after_another,
        serve_echo,
        one_after_another,
        hint="A client ending its side is normal: end that connection's handler, not the server.",
    )
    same_echoes(cases, "three clients, one after another", got, one_after_another)

    rng = random.Random(8)
    tcp = [random_messages(rng, count=5, largest=100_000) for _ in range(50)]
    got = cases.run_async(
        "50 clients over real loopback TCP, messages of up to 100 KB",
        over_loopback_tcp,
        serve_echo,
        tcp,
        deadline=30,
        virtual_time=False,
    )
    same_echoes(cases, "50 clients over real loopback TCP", got, tcp)


async def in_one_after_another(serve_echo, conversations):
    listener = MemoryListener(random.Random(3), 5)
    echoes = []
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_echo, listener)
            for messages in conversations:
                echoes.append(await converse(await listener.connect(), messages))
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise innermost(group) from None
    return echoes
