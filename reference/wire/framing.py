"""Length-prefixed framing: turning a byte stream into messages.

Theory of operation
-------------------
TCP carries a stream of bytes, not messages. One `send` of b"hello" may
arrive as b"he" then b"llo", and two sends may arrive glued together. To
carry messages over a stream we put a *frame* around each one: a 4-byte
big-endian length, then exactly that many bytes of payload::

    +--------------------+--------------------------------+
    | length: 4 bytes BE | payload: `length` bytes        |
    +--------------------+--------------------------------+

`encode_frame` builds a frame. `FrameDecoder` is the other half, and it
does no I/O at all (it is "sans-I/O", like h11): you `feed` it whatever
bytes arrived, in chunks of any size, and it returns the frames that are
now complete. Because it never touches a socket, it is tested byte by
byte without an event loop, and the same class serves a Trio stream, a
blocking socket or the simulator.

Two rules keep a decoder safe against a broken or hostile peer:

- A maximum frame size, checked as soon as the 4-byte header arrives and
  before any of the body is buffered: a peer that announces 4 GiB gets
  `FrameTooLarge`, not 4 GiB of our memory.
- End of stream in the middle of a frame is an error (`TruncatedFrame`),
  never a silently shortened message. `feed(b"")` means end of stream.

A third rule needs a clock, so it lives in `MessageStream`, not in the
decoder: with `frame_timeout` set, a frame must be complete within that many
seconds of its first byte, or `FrameTimeout`. Without it, a peer that sends
a header announcing 1 MiB and then a byte a minute ("slowloris") parks up to
a frame's worth of our memory for as long as it likes. The clock runs from
each frame's first byte, not between reads, so dribbling bytes cannot
restart it; silence between frames is not its business (a server's idle
timeout is, reference/rpc/server.py).

Frames that arrive whole inside one chunk are sliced straight out of it.
Only the start of an unfinished frame waits in a `bytearray`, which grows
by appending until the frame is complete, so a large frame arriving in many
small chunks costs linear, not quadratic, time, and the decoder never holds
more than one frame's worth of bytes.

`MessageStream` wraps any `trio.abc.Stream` (TCP, TLS, in-memory) and
offers `send_message`, `receive_message` and `async for message in ...`.
It is the only code that writes frames to a stream, and it never leaves a
frame half-written without saying so: a send cancelled part-way (a
deadline, a closing nursery) marks the stream broken, so no later frame can
be read as the rest of the cut one. A connection shared by many tasks that
must survive their deadlines (the RPC layer, chapter 03) gives it one
writer task instead, `send_frames_from`, fed by a bounded channel: a task
cancelled while it waits for room in the channel has written nothing.
"""

from __future__ import annotations

from collections import deque
from typing import NoReturn

import trio

from reference.tools.eager import acquire_eagerly

HEADER_SIZE = 4
DEFAULT_MAX_FRAME_SIZE = 1024 * 1024  # 1 MiB
BATCH_BYTES = 65536  # the most `send_frames_from` joins into one send_all, roughly
_LARGEST_ENCODABLE = 2**32 - 1


class FramingError(Exception):
    """The byte stream does not hold well-formed frames."""


class FrameTimeout(FramingError):
    """A frame was not complete `frame_timeout` seconds after its first byte arrived."""

    def __init__(self, seconds: float, buffered: int) -> None:
        super().__init__(
            f"a frame was not complete {seconds:g} s after it began ({buffered} bytes of it came)"
        )
        self.buffered = buffered


class FrameTooLarge(FramingError):
    """A frame is larger than the agreed maximum."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the maximum of {limit} bytes")
        self.size = size
        self.limit = limit


class TruncatedFrame(FramingError):
    """The stream ended in the middle of a frame."""

    def __init__(self, buffered: int) -> None:
        super().__init__(f"stream ended inside a frame ({buffered} bytes of it received)")
        self.buffered = buffered


def encode_frame(payload: bytes, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    """Return `payload` with its 4-byte big-endian length in front."""
    size = len(payload)
    if size > min(max_frame_size, _LARGEST_ENCODABLE):
        raise FrameTooLarge(size, max_frame_size)
    return size.to_bytes(HEADER_SIZE, "big") + payload


class FrameDecoder:
    """Sans-I/O decoder: bytes in (any chunking), complete frames out.

    >>> decoder = FrameDecoder()
    >>> decoder.feed(b"\\x00\\x00\\x00\\x05he")
    []
    >>> decoder.feed(b"llo\\x00\\x00\\x00\\x02hi")
    [b'hello', b'hi']
    >>> decoder.feed(b"")  # end of stream, cleanly between frames
    []
    """

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._error: FramingError | None = None
        self._ended = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every frame they complete.

        `data == b""` signals end of stream: it raises `TruncatedFrame` if a
        frame was cut short. After a `FramingError` the stream cannot be
        trusted to be in sync again, so every later call raises it again.
        """
        if self._error is not None:
            raise self._error
        if self._ended:
            raise RuntimeError("feed() called after end of stream")
        if not data:
            self._ended = True
            if self._buffer:
                self.fail(TruncatedFrame(len(self._buffer)))
            return []
        frames: list[bytes] = []
        with memoryview(data) as unread:
            if self._buffer:
                unread = self._finish_buffered_frame(unread, frames)
            unread = self._take_whole_frames(unread, frames)
            self._buffer += unread
        return frames

    def _finish_buffered_frame(self, unread: memoryview, frames: list[bytes]) -> memoryview:
        """Complete the frame whose start is buffered; return what `unread` has left."""
        missing_header = HEADER_SIZE - len(self._buffer)
        if missing_header > 0:
            self._buffer += unread[:missing_header]
            unread = unread[missing_header:]
            if len(self._buffer) < HEADER_SIZE:
                return unread
        end = HEADER_SIZE + self._frame_size(self._buffer[:HEADER_SIZE])
        missing_body = end - len(self._buffer)
        if len(unread) < missing_body:
            self._buffer += unread
        else:
            with memoryview(self._buffer) as buffered:
                frames.append(b"".join([buffered[HEADER_SIZE:], unread[:missing_body]]))
            self._buffer.clear()
        return unread[missing_body:]

    def _take_whole_frames(self, unread: memoryview, frames: list[bytes]) -> memoryview:
        """Slice every complete frame out of `unread`; return the unfinished rest."""
        while len(unread) >= HEADER_SIZE:
            end = HEADER_SIZE + self._frame_size(unread[:HEADER_SIZE])
            if len(unread) < end:
                break
            frames.append(bytes(unread[HEADER_SIZE:end]))
            unread = unread[end:]
        return unread

    def _frame_size(self, header: bytearray | memoryview) -> int:
        """Read a header; reject the frame before its body arrives if it is too large."""
        size = int.from_bytes(header, "big")
        if size > self.max_frame_size:
            self.fail(FrameTooLarge(size, self.max_frame_size))
        return size

    def fail(self, error: FramingError) -> NoReturn:
        """End decoding with `error`: drop what is buffered, and raise it now and on every feed."""
        self._error = error
        self._buffer.clear()
        raise error


class MessageStream:
    """Messages (bytes) over any Trio byte stream, framed by `encode_frame`.

    `send_message` may be called from several tasks at once: a lock keeps
    frames whole. `receive_message` belongs to one task at a time. At a
    clean end of stream `receive_message` raises `trio.EndOfChannel` and
    `async for` simply stops; a stream cut inside a frame raises
    `TruncatedFrame`.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        receive_size: int = 65536,
        frame_timeout: float | None = None,
    ) -> None:
        self.stream = stream
        self.max_frame_size = max_frame_size
        self.frame_timeout = frame_timeout  # seconds from a frame's first byte to its last
        self._frame_began = 0.0  # when the frame now buffered began
        self._decoder = FrameDecoder(max_frame_size)
        self._receive_size = receive_size
        self._ready: deque[bytes] = deque()
        self._peer_closed = False
        self._send_lock = trio.Lock()
        self._send_broken: str | None = None

    async def send_message(self, payload: bytes) -> None:
        """Send `payload` as one frame."""
        await self._send_all(encode_frame(payload, max_frame_size=self.max_frame_size))

    async def send_frames_from(
        self, frames: trio.MemoryReceiveChannel[bytes], *, batch_bytes: int = BATCH_BYTES
    ) -> None:
        """Be this stream's writer task: send encoded frames from `frames` until it closes.

        Frames waiting together go out in one `send_all` (up to about
        `batch_bytes`), so a busy connection sends many frames per system
        call. Producers put whole frames (`encode_frame`) on the channel;
        a producer cancelled while waiting for room has sent nothing.
        """
        async with frames:
            async for frame in frames:
                batch, size = [frame], len(frame)
                while size < batch_bytes:
                    try:
                        batch.append(frames.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    size += len(batch[-1])
                await self._send_all(b"".join(batch))

    async def send_eof(self) -> None:
        """Half-close: tell the peer we will send nothing more (TCP FIN)."""
        async with self._send_lock:
            self._check_sendable()
            await self.stream.send_eof()

    async def _send_all(self, data: bytes) -> None:
        """The one place that writes: whole frames, or the stream is marked broken.

        A `send_all` that is cancelled (or fails) may have written part of a
        frame; a later frame would then be read as the rest of it. So after
        that, every send raises `trio.BrokenResourceError` instead.
        """
        await acquire_eagerly(self._send_lock)  # a free lock is taken without a checkpoint
        try:
            self._check_sendable()
            await trio.lowlevel.checkpoint_if_cancelled()  # cancelled here, nothing was written
            try:
                await self.stream.send_all(data)
            except BaseException as exc:
                self._send_broken = f"an earlier send was interrupted inside a frame ({exc!r})"
                raise
        finally:
            self._send_lock.release()

    def _check_sendable(self) -> None:
        if self._send_broken is not None:
            raise trio.BrokenResourceError(self._send_broken)

    @property
    def buffered(self) -> int:
        """Bytes of a frame begun and not yet complete."""
        return self._decoder.buffered

    async def receive_message(self) -> bytes:
        while not self._ready:
            if self._peer_closed:
                raise trio.EndOfChannel("the peer closed the stream")
            data = await self._receive_some()
            inside_a_frame = self._decoder.buffered > 0
            frames = self._decoder.feed(data)
            if self._decoder.buffered and (frames or not inside_a_frame):
                self._frame_began = trio.current_time()  # a new frame began in this chunk
            self._ready.extend(frames)
            self._peer_closed = not data
        return self._ready.popleft()

    async def _receive_some(self) -> bytes:
        """Receive a chunk; inside a frame, only until its frame timeout runs out."""
        if self.frame_timeout is None or not self._decoder.buffered:
            return await self.stream.receive_some(self._receive_size)
        with trio.move_on_at(self._frame_began + self.frame_timeout):
            return await self.stream.receive_some(self._receive_size)
        self._decoder.fail(FrameTimeout(self.frame_timeout, self._decoder.buffered))

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.receive_message()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def __aenter__(self) -> MessageStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
