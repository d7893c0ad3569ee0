"""An RPC client over a Trio stream: many calls in flight on one connection.

Theory of operation
-------------------
reference/rpc/wire.py says what travels — requests, notifications,
results and error replies, each a CBOR map in one frame. `RpcClient` sends
calls over any `trio.abc.Stream` and hands each caller its reply; the
server side is reference/rpc/server.py.

The client keeps many calls in flight on one connection and matches each
reply to its call by id, in the sans-I/O `PendingCalls` table
(reference/rpc/pending.py), so replies may come back in any order. A reader
task hands each reply to the caller waiting for it::

    async with RpcClient(stream) as client:
        with trio.fail_after(1.0):              # the deadline, at the call site
            total = await client.call("add", 2, 3)

When the deadline fires, `call` removes its pending entry and raises
`trio.TooSlowError`; its reply, if it ever comes, is dropped and counted
as late. What the caller cannot know is whether the method ran: the
request may have been lost, or run with its reply lost, or be running
still. That question is chapter 04's.

Callers never write to the stream themselves. Each hands its frame to the
connection's one writer task (`MessageStream.send_frames_from`, chapter
01) through a bounded queue, so a caller cancelled by its deadline can
only cancel its wait for a place in the queue, never leave half a frame on
the wire; and whatever is queued goes out in one `send_all`.

At most `max_in_flight` calls are out at once; further callers wait for a
slot (backpressure rather than an unbounded queue). When the connection
ends, for any reason, every pending call fails at once with
`ConnectionLost`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import trio

from reference.rpc.pending import PendingCalls, UnknownCallId
from reference.rpc.wire import (
    ConnectionLost,
    ErrorReply,
    Notification,
    ProtocolError,
    RemoteError,
    Request,
    Result,
    decode_message,
    encode_message,
)
from reference.tools.eager import acquire_eagerly, send_eagerly
from reference.wire.framing import DEFAULT_MAX_FRAME_SIZE, FramingError, MessageStream, encode_frame


@dataclass(frozen=True)
class RpcClientStatistics:
    calls_in_flight: int  # sent (or queued to send) and not yet answered
    calls_waiting: int  # waiting for one of the max_in_flight slots
    late_replies: int  # replies that came after their caller gave up
    connection_lost: str | None  # why the connection ended, if it has


class _Future:
    """The outcome of one call: set once by the reader task, awaited by the caller."""

    __slots__ = ("done", "outcome")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.outcome: Result | ErrorReply | ConnectionLost | None = None

    def settle(self, outcome: Result | ErrorReply | ConnectionLost) -> None:
        self.outcome = outcome
        self.done.set()

    def unwrap(self) -> Any:
        match self.outcome:
            case Result(value=value):
                return value
            case ErrorReply(type=error_type, message=text):
                raise RemoteError(error_type, text)
            case ConnectionLost() as lost:
                raise lost


class RpcClient:
    """Calls and notifications over one stream; many calls in flight at once.

    Leaving `async with` fails the calls still waiting with `ConnectionLost`,
    but first lets the writer send what is already queued (notifications
    included), so it waits while the peer is not reading.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        max_in_flight: int = 64,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        self._messages = MessageStream(stream, max_frame_size=max_frame_size)
        self._pending: PendingCalls[_Future] = PendingCalls()
        self._slots = trio.Semaphore(max_in_flight)
        self._outgoing, self._queued = trio.open_memory_channel[bytes](max_in_flight)
        self._all_sent = trio.Event()  # set when the writer has stopped
        self._lost_reason: str | None = "the client is not open: use `async with RpcClient(...)`"
        self._running: contextlib.AbstractAsyncContextManager[RpcClient] | None = None

    async def __aenter__(self) -> RpcClient:
        self._running = self._run()
        return await self._running.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        assert self._running is not None
        return await self._running.__aexit__(*exc_info)

    @contextlib.asynccontextmanager
    async def _run(self) -> AsyncIterator[RpcClient]:
        self._lost_reason = None
        try:
            async with self._messages, trio.open_nursery() as nursery:
                nursery.start_soon(self._write_requests)
                nursery.start_soon(self._read_replies)
                try:
                    yield self
                finally:
                    self._lose_connection("the client was closed")
                    try:
                        await self._all_sent.wait()  # what is queued still goes out
                    finally:
                        nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The background tasks catch their own errors, so a lone exception
            # came from the body of `async with`: raise it as the caller wrote it.
            if len(group.exceptions) != 1:
                raise
            error = group.exceptions[0]
            raise error from error.__cause__

    async def call(self, method: str, *params: Any) -> Any:
        """Call `method(*params)` on the server and return its result.

        Raises `RemoteError` if the server answers with an error,
        `ConnectionLost` if the connection ends first, and `FrameTooLarge` or
        `cbor2.CBOREncodeError` if the request cannot be sent at all. Put a
        deadline around it with `trio.fail_after` or `trio.move_on_after`.
        """
        await acquire_eagerly(self._slots)
        try:
            self._check_connection()
            future = _Future()
            call_id = self._pending.add(future)
            try:
                await self._send(Request(call_id, method, list(params)))
                await future.done.wait()
            finally:
                self._pending.discard(call_id)  # a no-op if the reply arrived
            return future.unwrap()
        finally:
            self._slots.release()

    async def notify(self, method: str, *params: Any) -> None:
        """Send a one-way message: no reply, so no way to know it ran."""
        self._check_connection()
        await self._send(Notification(method, list(params)))

    def statistics(self) -> RpcClientStatistics:
        return RpcClientStatistics(
            calls_in_flight=len(self._pending),
            calls_waiting=self._slots.statistics().tasks_waiting,
            late_replies=self._pending.late_replies,
            connection_lost=self._lost_reason,
        )

    async def _send(self, message: Request | Notification) -> None:
        # Encoded here, not in the writer, so that a request that cannot be
        # sent (FrameTooLarge, CBOREncodeError) is the caller's error, raised at the call.
        frame = encode_frame(encode_message(message), max_frame_size=self._messages.max_frame_size)
        try:
            await send_eagerly(self._outgoing, frame)
        except trio.ClosedResourceError:
            self._check_connection()

    def _check_connection(self) -> None:
        if self._lost_reason is not None:
            raise ConnectionLost(self._lost_reason)

    async def _write_requests(self) -> None:
        try:
            await self._messages.send_frames_from(self._queued)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._lose_connection(f"sending failed ({exc!r})")
        finally:
            self._all_sent.set()

    async def _read_replies(self) -> None:
        self._lose_connection(await self._deliver_replies())
        await trio.aclose_forcefully(self._messages)

    async def _deliver_replies(self) -> str:
        """Hand each reply to its caller; return why the connection ended."""
        try:
            async for payload in self._messages:
                reply = decode_message(payload)
                if isinstance(reply, Request | Notification):
                    raise ProtocolError("the server sent a request; this client serves none")
                if reply.id is None:
                    return f"the server hung up: {reply.type}: {reply.message}"
                future = self._pending.pop(reply.id)
                if future is not None:
                    future.settle(reply)
        except (FramingError, ProtocolError, UnknownCallId) as exc:
            return f"bad message from the server: {exc}"
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            return f"the connection broke ({exc!r})"
        return "the server closed the connection"

    def _lose_connection(self, reason: str) -> None:
        if self._lost_reason is None:
            self._lost_reason = reason
        for future in self._pending.pop_all():
            future.settle(ConnectionLost(self._lost_reason))
        self._outgoing.close()  # callers waiting to queue a request wake up
