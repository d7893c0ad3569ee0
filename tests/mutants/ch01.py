"""Answers to exercises/01-messages-over-sockets.ipynb: wrong ones the graders must reject
(MUTANTS), and right ones written another way that they must accept (ALTERNATIVES)."""

import struct

import trio

from reference.wire.framing import (
    DEFAULT_MAX_FRAME_SIZE,
    HEADER_SIZE,
    FrameTooLarge,
    MessageStream,
    TruncatedFrame,
    encode_frame,
)

# --- Task 1: encode_frame --------------------------------------------------------------------


def little_endian_length(payload, *, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
    if len(payload) > max_frame_size:
        raise FrameTooLarge(len(payload), max_frame_size)
    return len(payload).to_bytes(HEADER_SIZE, "little") + payload


def length_includes_the_header(payload, *, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
    if len(payload) > max_frame_size:
        raise FrameTooLarge(len(payload), max_frame_size)
    return (HEADER_SIZE + len(payload)).to_bytes(HEADER_SIZE, "big") + payload


def two_byte_length(payload, *, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
    if len(payload) > max_frame_size:
        raise FrameTooLarge(len(payload), max_frame_size)
    return struct.pack(">H", len(payload)) + payload


def no_size_check(payload, *, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
    return len(payload).to_bytes(HEADER_SIZE, "big") + payload


def refuses_the_maximum_itself(payload, *, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
    if len(payload) >= max_frame_size:
        raise FrameTooLarge(len(payload), max_frame_size)
    return len(payload).to_bytes(HEADER_SIZE, "big") + payload


def swaps_the_error_arguments(payload, *, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
    if len(payload) > max_frame_size:
        raise FrameTooLarge(max_frame_size, len(payload))
    return len(payload).to_bytes(HEADER_SIZE, "big") + payload


def checks_the_default_limit(payload, *, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
    if len(payload) > DEFAULT_MAX_FRAME_SIZE:
        raise FrameTooLarge(len(payload), DEFAULT_MAX_FRAME_SIZE)
    return len(payload).to_bytes(HEADER_SIZE, "big") + payload


# --- Task 2: FrameDecoder --------------------------------------------------------------------


class OneFramePerFeed:
    """Takes at most one frame from each chunk (`if` where a `while` belongs)."""

    def __init__(self, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
        self.max_frame_size = max_frame_size
        self.buffer = bytearray()

    def feed(self, data):
        if not data:
            if self.buffer:
                raise TruncatedFrame(len(self.buffer))
            return []
        self.buffer += data
        if len(self.buffer) >= HEADER_SIZE:
            size = int.from_bytes(self.buffer[:HEADER_SIZE], "big")
            if size > self.max_frame_size:
                raise FrameTooLarge(size, self.max_frame_size)
            if len(self.buffer) >= HEADER_SIZE + size:
                frame = bytes(self.buffer[HEADER_SIZE : HEADER_SIZE + size])
                del self.buffer[: HEADER_SIZE + size]
                return [frame]
        return []


class DropsTheRest:
    """Returns the complete frames of a chunk and forgets the bytes after them."""

    def __init__(self, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
        self.max_frame_size = max_frame_size
        self.buffer = bytearray()

    def feed(self, data):
        if not data:
            if self.buffer:
                raise TruncatedFrame(len(self.buffer))
            return []
        self.buffer += data
        frames = []
        while len(self.buffer) >= HEADER_SIZE:
            size = int.from_bytes(self.buffer[:HEADER_SIZE], "big")
            if size > self.max_frame_size:
                raise FrameTooLarge(size, self.max_frame_size)
            if len(self.buffer) < HEADER_SIZE + size:
                break
            frames.append(bytes(self.buffer[HEADER_SIZE : HEADER_SIZE + size]))
            del self.buffer[: HEADER_SIZE + size]
        if frames:
            self.buffer.clear()
        return frames


class ChecksTheSizeAfterTheBody:
    """Waits for the whole frame, then checks its size: the peer decides our memory use."""

    def __init__(self, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
        self.max_frame_size = max_frame_size
        self.buffer = bytearray()

    def feed(self, data):
        if not data:
            if self.buffer:
                raise TruncatedFrame(len(self.buffer))
            return []
        self.buffer += data
        frames = []
        while len(self.buffer) >= HEADER_SIZE:
            size = int.from_bytes(self.buffer[:HEADER_SIZE], "big")
            if len(self.buffer) < HEADER_SIZE + size:
                break
            if size > self.max_frame_size:
                raise FrameTooLarge(size, self.max_frame_size)
            frames.append(bytes(self.buffer[HEADER_SIZE : HEADER_SIZE + size]))
            del self.buffer[: HEADER_SIZE + size]
        return frames


class IgnoresACutFrame:
    """Treats every end of stream as clean, silently dropping half a message."""

    def __init__(self, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
        self.max_frame_size = max_frame_size
        self.buffer = bytearray()

    def feed(self, data):
        self.buffer += data
        frames = []
        while len(self.buffer) >= HEADER_SIZE:
            size = int.from_bytes(self.buffer[:HEADER_SIZE], "big")
            if size > self.max_frame_size:
                raise FrameTooLarge(size, self.max_frame_size)
            if len(self.buffer) < HEADER_SIZE + size:
                break
            frames.append(bytes(self.buffer[HEADER_SIZE : HEADER_SIZE + size]))
            del self.buffer[: HEADER_SIZE + size]
        return frames


class SharesOneBuffer:
    """Keeps its buffer in a class attribute, so every decoder shares it."""

    buffer = bytearray()

    def __init__(self, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
        self.max_frame_size = max_frame_size

    def feed(self, data):
        if not data:
            if self.buffer:
                raise TruncatedFrame(len(self.buffer))
            return []
        self.buffer += data
        frames = []
        while len(self.buffer) >= HEADER_SIZE:
            size = int.from_bytes(self.buffer[:HEADER_SIZE], "big")
            if size > self.max_frame_size:
                raise FrameTooLarge(size, self.max_frame_size)
            if len(self.buffer) < HEADER_SIZE + size:
                break
            frames.append(bytes(self.buffer[HEADER_SIZE : HEADER_SIZE + size]))
            del self.buffer[: HEADER_SIZE + size]
        return frames


class ReturnsBytearrays:
    """Right in every way but one: hands out slices of its bytearray buffer."""

    def __init__(self, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
        self.max_frame_size = max_frame_size
        self.buffer = bytearray()

    def feed(self, data):
        if not data:
            if self.buffer:
                raise TruncatedFrame(len(self.buffer))
            return []
        self.buffer += data
        frames = []
        while len(self.buffer) >= HEADER_SIZE:
            size = int.from_bytes(self.buffer[:HEADER_SIZE], "big")
            if size > self.max_frame_size:
                raise FrameTooLarge(size, self.max_frame_size)
            if len(self.buffer) < HEADER_SIZE + size:
                break
            frames.append(self.buffer[HEADER_SIZE : HEADER_SIZE + size])
            del self.buffer[: HEADER_SIZE + size]
        return frames


class CountsTheBodyOnly(ReturnsBytearrays):
    """Reports a cut frame by the bytes of its body, leaving out the header it kept."""

    def feed(self, data):
        if not data and self.buffer:
            raise TruncatedFrame(max(0, len(self.buffer) - HEADER_SIZE))
        return [bytes(frame) for frame in super().feed(data)]


class LimitedByTheDefault(ReturnsBytearrays):
    """Checks every frame against DEFAULT_MAX_FRAME_SIZE, whatever max_frame_size it was given."""

    def __init__(self, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
        super().__init__(DEFAULT_MAX_FRAME_SIZE)

    def feed(self, data):
        return [bytes(frame) for frame in super().feed(data)]


# --- Task 3: serve_echo ----------------------------------------------------------------------


async def echo_one_connection(stream):
    async with MessageStream(stream) as messages:
        async for message in messages:
            await messages.send_message(message)


async def serves_one_client_at_a_time(listener):
    async with listener:
        while True:
            stream = await listener.accept()
            await echo_one_connection(stream)


async def one_receive_is_one_message(listener):
    async def echo(stream):
        while True:
            data = await stream.receive_some()
            if not data:
                return
            await stream.send_all(encode_frame(bytes(data[HEADER_SIZE:])))

    await trio.serve_listeners(echo, [listener])


async def lets_end_of_stream_escape(listener):
    async def echo(stream):
        messages = MessageStream(stream)
        while True:
            message = await messages.receive_message()  # raises EndOfChannel at the end
            await messages.send_message(message)

    await trio.serve_listeners(echo, [listener])


async def never_closes_a_connection(listener):
    async def echo(stream):
        messages = MessageStream(stream)
        async for message in messages:
            await messages.send_message(message)

    async with trio.open_nursery() as nursery:
        while True:
            nursery.start_soon(echo, await listener.accept())


async def echoes_only_the_first_message(listener):
    async def echo(stream):
        async with MessageStream(stream) as messages:
            await messages.send_message(await messages.receive_message())

    await trio.serve_listeners(echo, [listener])


async def serves_only_the_first_client(listener):
    async with listener:
        await echo_one_connection(await listener.accept())


MUTANTS = {
    "check_encode_frame": [
        little_endian_length,
        length_includes_the_header,
        two_byte_length,
        no_size_check,
        refuses_the_maximum_itself,
        swaps_the_error_arguments,
        checks_the_default_limit,
    ],
    "check_frame_decoder": [
        OneFramePerFeed,
        DropsTheRest,
        ChecksTheSizeAfterTheBody,
        IgnoresACutFrame,
        SharesOneBuffer,
        ReturnsBytearrays,
        CountsTheBodyOnly,
        LimitedByTheDefault,
    ],
    "check_serve_echo": [
        serves_one_client_at_a_time,
        one_receive_is_one_message,
        lets_end_of_stream_escape,
        never_closes_a_connection,
        echoes_only_the_first_message,
        serves_only_the_first_client,
    ],
}


# --- Right answers, written another way -------------------------------------------------------


def encode_with_struct(payload, *, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
    if len(payload) > max_frame_size:
        raise FrameTooLarge(len(payload), max_frame_size)
    return struct.pack(">I", len(payload)) + bytes(payload)


class ChunksInAList:
    """Keeps the chunks received as a list and joins them only when a frame may be complete."""

    def __init__(self, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
        self.max_frame_size = max_frame_size
        self.chunks, self.size = [], 0

    def feed(self, data):
        if not data:
            if self.size:
                raise TruncatedFrame(self.size)
            return []
        self.chunks.append(bytes(data))
        self.size += len(data)
        frames = []
        while self.size >= HEADER_SIZE:
            buffered = b"".join(self.chunks)
            (length,) = struct.unpack(">I", buffered[:HEADER_SIZE])
            if length > self.max_frame_size:
                raise FrameTooLarge(length, self.max_frame_size)
            if self.size < HEADER_SIZE + length:
                self.chunks = [buffered]
                break
            frames.append(buffered[HEADER_SIZE : HEADER_SIZE + length])
            rest = buffered[HEADER_SIZE + length :]
            self.chunks, self.size = ([rest] if rest else []), len(rest)
        return frames


async def accepts_in_its_own_loop(listener):
    async def echo(stream):
        messages = MessageStream(stream)
        try:
            while True:
                try:
                    message = await messages.receive_message()
                except trio.EndOfChannel:
                    return
                await messages.send_message(message)
        finally:
            await messages.aclose()

    async with trio.open_nursery() as nursery:
        while True:
            nursery.start_soon(echo, await listener.accept())


ALTERNATIVES = {
    "check_encode_frame": [encode_with_struct],
    "check_frame_decoder": [ChunksInAList],
    "check_serve_echo": [accepts_in_its_own_loop],
}
