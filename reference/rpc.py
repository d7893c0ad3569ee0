"""Remote procedure calls over Trio streams: a client and a server.

Theory of operation
-------------------
reference/rpc_wire.py says what travels — requests, notifications,
results and error replies, each a CBOR map in one frame. This module moves
them over a `trio.abc.Stream`: `RpcClient` makes calls, `RpcServer` runs
methods, and `serve_rpc` puts a server on a TCP port.

The client keeps many calls in flight on one connection and matches each
reply to its call by id, in the sans-I/O `PendingCalls` table
(reference/pending.py), so replies may come back in any order. A reader
task hands each reply to the caller waiting for it::

    async with RpcClient(stream) as client:
        with trio.fail_after(1.0):              # the deadline, at the call site
            total = await client.call("add", 2, 3)

When the deadline fires, `call` removes its pending entry and raises
`trio.TooSlowError`; its reply, if it ever comes, is dropped and counted
as late. What the caller cannot know is whether the method ran: the
request may have been lost, or run with its reply lost, or be running
still. That question is chapter 04's.

Each end of a connection has one *writer* task, the only task that writes
to the stream. Everyone else — callers on the client, methods on the
server — hands it a frame through a bounded queue. Two things follow.
Frames are never interleaved, and never cut in half: a caller cancelled by
its deadline while writing would leave half a frame behind and the stream
out of sync for good, whereas a deadline can only cancel the wait for a
place in the queue. And whatever is queued goes out in one `send_all`, so
a busy connection sends many frames per system call.

Three bounds keep memory flat however fast callers call and however slowly
the peer reads:

- the client has at most `max_in_flight` calls out; further callers wait
  for a slot (backpressure rather than an unbounded queue);
- the server runs at most `max_concurrent_requests` methods per connection
  and reads the next request only when a slot is free. A client that never
  reads its replies fills the TCP buffers; the server's writer blocks, its
  queue fills, the methods holding slots cannot finish, and the server
  stops reading that connection, so TCP flow control pushes back on the
  client. Other connections have slots of their own and carry on;
- a frame is at most `max_frame_size` bytes (checked before buffering it).

A method that raises, an unknown method or wrong arguments give the
caller a `RemoteError`, and the connection stays up. Input that leaves the
stream untrustworthy — bytes that are not CBOR, an oversize frame, a
message of no known shape — makes the server send a farewell and close
that one connection. When a connection ends, for any reason, every pending
call fails at once with `ConnectionLost`.

Methods that are plain functions run in the server's reader task itself:
they cannot wait, so a task of their own would only add a trip through the
scheduler, and they run one after another in the order their requests
arrived. Async methods each get a task, and finish in any order.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import trio

from reference.framing import DEFAULT_MAX_FRAME_SIZE, FramingError, MessageStream, encode_frame
from reference.pending import PendingCalls, UnknownCallId
from reference.rpc_wire import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    ErrorReply,
    Notification,
    ProtocolError,
    RemoteError,
    Request,
    Result,
    RpcError,
    decode_message,
    encode_message,
    encode_reply,
)

BATCH_BYTES = 65536  # the most a writer joins into one send_all
FAREWELL_TIMEOUT = 1.0  # seconds to try to tell a misbehaving peer why we hang up


class ConnectionLost(RpcError):
    """The connection ended before the call was answered."""


# ----------------------------------------------------- the writer, both sides


async def _take_slot(slots: trio.Semaphore) -> None:
    """Acquire a slot, skipping the trip through the scheduler when one is free."""
    try:
        slots.acquire_nowait()
    except trio.WouldBlock:
        await slots.acquire()


async def _queue(outgoing: trio.MemorySendChannel[bytes], frame: bytes) -> None:
    """Hand a frame to the writer; wait only if its queue is full."""
    try:
        outgoing.send_nowait(frame)
    except trio.WouldBlock:
        await outgoing.send(frame)


async def _write_queued(
    stream: trio.abc.SendStream, queued: trio.MemoryReceiveChannel[bytes]
) -> Exception | None:
    """Be a connection's only writer: send queued frames until the queue closes.

    Whatever is waiting goes out in one `send_all`, so a busy connection
    sends many frames per system call. Returns the error if the stream broke.
    """
    async with queued:
        async for frame in queued:
            batch, size = [frame], len(frame)
            while size < BATCH_BYTES:
                try:
                    batch.append(queued.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
                size += len(batch[-1])
            try:
                await stream.send_all(b"".join(batch))
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                return exc
    return None


# --------------------------------------------------------------------- client


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
        await _take_slot(self._slots)
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
            await _queue(self._outgoing, frame)
        except trio.ClosedResourceError:
            self._check_connection()

    def _check_connection(self) -> None:
        if self._lost_reason is not None:
            raise ConnectionLost(self._lost_reason)

    async def _write_requests(self) -> None:
        try:
            error = await _write_queued(self._messages.stream, self._queued)
            if error is not None:
                self._lose_connection(f"sending failed ({error!r})")
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


# --------------------------------------------------------------------- server


@dataclass
class RpcServerStatistics:
    connections_open: int = 0
    requests_running: int = 0  # methods running now, over all connections
    requests_handled: int = 0  # requests and notifications finished
    notifications_failed: int = 0  # errors no one hears of: notifications get no reply
    protocol_errors: int = 0  # malformed messages received


class RpcServer:
    """A registry of methods, and the code that serves them on connections.

    Register methods (plain or async functions) with the `method` decorator
    or a dict, then hand `serve_connection` to `trio.serve_tcp`, or use
    `serve_rpc`, or call it on any stream.
    """

    def __init__(
        self,
        methods: Mapping[str, Callable[..., Any]] | None = None,
        *,
        max_concurrent_requests: int = 16,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        self.max_concurrent_requests = max_concurrent_requests
        self.max_frame_size = max_frame_size
        self._methods: dict[str, Callable[..., Any]] = {}
        self._signatures: dict[str, inspect.Signature | None] = {}
        self._async_methods: set[str] = set()
        self._stats = RpcServerStatistics()
        for name, fn in (methods or {}).items():
            self._register(name, fn)

    def method(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: offer `fn` to clients under its own name."""
        self._register(fn.__name__, fn)
        return fn

    def _register(self, name: str, fn: Callable[..., Any]) -> None:
        try:
            self._signatures[name] = inspect.signature(fn)
        except (TypeError, ValueError):  # some built-ins have none
            self._signatures[name] = None
        self._methods[name] = fn
        if inspect.iscoroutinefunction(fn):
            self._async_methods.add(name)

    def statistics(self) -> RpcServerStatistics:
        return replace(self._stats)  # a snapshot

    async def serve_connection(self, stream: trio.abc.Stream) -> None:
        """Serve one connection until the peer closes it; then close it."""
        messages = MessageStream(stream, max_frame_size=self.max_frame_size)
        outgoing, queued = trio.open_memory_channel[bytes](self.max_concurrent_requests)
        self._stats.connections_open += 1
        try:
            async with messages, trio.open_nursery() as nursery:
                nursery.start_soon(_write_queued, stream, queued)
                async with outgoing:  # closing it lets the writer finish
                    farewell = await self._serve_requests(messages, outgoing)
                    if farewell is not None:
                        self._stats.protocol_errors += 1
                        nursery.cancel_scope.deadline = trio.current_time() + FAREWELL_TIMEOUT
                        await self._reply(outgoing, farewell)
        finally:
            self._stats.connections_open -= 1

    async def _serve_requests(
        self, messages: MessageStream, outgoing: trio.MemorySendChannel[bytes]
    ) -> ErrorReply | None:
        """Run each request, at most `max_concurrent_requests` at once, until EOF.

        Returns a farewell if the peer broke the protocol, None otherwise.
        """
        slots = trio.Semaphore(self.max_concurrent_requests)
        async with trio.open_nursery() as nursery:
            try:
                async for payload in messages:
                    try:
                        message = decode_message(payload)
                        if isinstance(message, Result | ErrorReply):
                            raise ProtocolError("a server takes requests and notifications only")
                    except ProtocolError as exc:
                        if exc.call_id is None:
                            raise
                        self._stats.protocol_errors += 1
                        await self._reply(
                            outgoing, ErrorReply(exc.call_id, INVALID_REQUEST, str(exc))
                        )
                        continue
                    await _take_slot(slots)  # none free: stop reading, and TCP pushes back
                    if message.method in self._async_methods:
                        nursery.start_soon(self._handle, outgoing, slots, message)
                    else:  # a plain function cannot wait: a task of its own would buy nothing
                        await self._handle(outgoing, slots, message)
            except (FramingError, ProtocolError) as exc:
                nursery.cancel_scope.cancel()
                return ErrorReply(None, type(exc).__name__, str(exc))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                nursery.cancel_scope.cancel()  # the peer is gone: no one wants the replies
        return None

    async def _handle(
        self,
        outgoing: trio.MemorySendChannel[bytes],
        slots: trio.Semaphore,
        message: Request | Notification,
    ) -> None:
        self._stats.requests_running += 1
        try:
            call_id = message.id if isinstance(message, Request) else None
            reply = await self._run_method(call_id, message.method, message.params)
            if isinstance(message, Request):
                await self._reply(outgoing, reply)
            elif isinstance(reply, ErrorReply):
                self._stats.notifications_failed += 1
        finally:
            self._stats.requests_running -= 1
            self._stats.requests_handled += 1
            slots.release()

    async def _run_method(
        self, call_id: int | None, name: str, params: list[Any]
    ) -> Result | ErrorReply:
        """Run a method; whatever happens, return the reply that says so."""
        fn = self._methods.get(name)
        if fn is None:
            return ErrorReply(call_id, METHOD_NOT_FOUND, f"no method named {name!r}")
        signature = self._signatures[name]
        try:
            if signature is not None:
                signature.bind(*params)
        except TypeError as exc:
            return ErrorReply(call_id, INVALID_PARAMS, f"{name}: {exc}")
        try:
            value = fn(*params)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            return ErrorReply(call_id, type(exc).__name__, str(exc))
        return Result(call_id, value)  # type: ignore[arg-type]  # for a notification: dropped

    async def _reply(
        self, outgoing: trio.MemorySendChannel[bytes], reply: Result | ErrorReply
    ) -> None:
        """Queue a reply for the writer; if it cannot be sent, queue the reason instead."""
        frame = encode_reply(reply, self.max_frame_size)
        with contextlib.suppress(trio.BrokenResourceError):  # the writer stopped: peer gone
            await _queue(outgoing, frame)


async def serve_rpc(
    server: RpcServer,
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `server` over TCP until cancelled.

    `port = await nursery.start(serve_rpc, server)` starts it on a free port.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(server.serve_connection, listeners)
