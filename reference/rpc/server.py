"""An RPC server over Trio streams: a registry of methods, served on connections.

Theory of operation
-------------------
`RpcServer` runs the methods that reference/rpc/client.py calls, on any
`trio.abc.Stream`; `serve_rpc` puts it on a TCP port. The messages are
those of reference/rpc/wire.py.

Replies go out through the connection's one writer task
(`MessageStream.send_frames_from`, chapter 01), fed by a bounded queue, so
frames are never interleaved or cut in half, and a busy connection sends
many replies per system call.

Memory stays flat however fast a client sends and however slowly it
reads, because the server runs at most `max_concurrent_requests` methods
per connection and reads the next request only when a slot is free. A
client that never reads its replies fills the TCP buffers; the writer
blocks, its queue fills, the methods holding slots cannot finish, and the
server stops reading that connection, so TCP flow control pushes back on
the client. reference/rpc/limits.py lists every limit and its default.

A method that raises, an unknown method or wrong arguments give the
caller a `RemoteError`, and the connection stays up. Input that leaves the
stream untrustworthy — bytes that are not CBOR, an oversize frame, a
message of no known shape, a frame that does not finish in time — makes
the server send a farewell and close that one connection, as does an idle
timeout. Anything else that goes wrong with a connection ends that one,
is logged (logger "reference.rpc.server") and counted: no peer can end the
server.

When a peer is gone — its connection reset, so a reply cannot be written
— its calls are cancelled, as gRPC cancels a handler's context: methods
still running get `trio.Cancelled`, and requests already read but not yet
started never run. A peer that only closes its sending side (end of
stream) has said "no more requests", not "I am gone": the requests it sent
are answered.

Methods that are plain functions run in the server's reader task itself,
one after another in the order their requests arrived; async methods each
get a task, and finish in any order. Once the reader has run plain methods
for `TIME_SLICE` (2 ms) without waiting, it passes a checkpoint
(`trio.lowlevel.checkpoint`) before the next call, so every other ready task
gets its turn: a burst of requests or notifications on one connection
delays another client by about a time slice (or one method, if longer) per
step of its call, not by the whole burst. (A checkpoint before every call
would wake the writer for every reply, one system call each: 64 pipelined
calls lost two thirds of their rate.) Plain methods do not go to worker
threads: threads share one interpreter lock, so a computing method would
still hold up the loop, and the hand-off costs more than these methods
take. A method that waits should be async; a long computation belongs in a
process pool.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import trio

from reference.rpc.limits import (
    DEFAULT_FRAME_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CALLS_IN_FLIGHT,
    DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_MAX_CONNECTIONS,
    FAREWELL_TIMEOUT,
    TIME_SLICE,
)
from reference.rpc.served_connection import IdleTimeout, ServedConnection
from reference.rpc.wire import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    SERVER_BUSY,
    ErrorReply,
    Notification,
    ProtocolError,
    Request,
    Result,
    decode_message,
    describe,
    encode_reply,
)
from reference.tools.eager import acquire_eagerly, send_eagerly
from reference.wire.framing import DEFAULT_MAX_FRAME_SIZE, FramingError, MessageStream

logger = logging.getLogger(__name__)


@dataclass
class RpcServerStatistics:
    connections_open: int = 0
    connections_refused: int = 0  # over max_connections: told ServerBusy
    connections_failed: int = 0  # ended by an unexpected error, which was logged
    requests_running: int = 0  # methods running now, over all connections
    requests_handled: int = 0  # requests and notifications finished
    requests_refused: int = 0  # over max_calls_in_flight: answered ServerBusy
    notifications_failed: int = 0  # errors no one hears of: notifications get no reply
    notifications_refused: int = 0  # over max_calls_in_flight: dropped
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
        max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        frame_timeout: float = DEFAULT_FRAME_TIMEOUT,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_calls_in_flight: int = DEFAULT_MAX_CALLS_IN_FLIGHT,
    ) -> None:
        self.max_concurrent_requests = max_concurrent_requests
        self.max_frame_size = max_frame_size
        self.frame_timeout = frame_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.max_calls_in_flight = max_calls_in_flight
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
        """Serve one connection until the peer closes it; then close it.

        It never raises: an unexpected error ends this connection only, and is logged.
        """
        try:
            if self._stats.connections_open >= self.max_connections:
                await self._refuse_connection(stream)
            else:
                await self._serve(stream)
        except Exception:
            self._stats.connections_failed += 1
            logger.exception("an unexpected error ended an RPC connection")
            await trio.aclose_forcefully(stream)

    async def _refuse_connection(self, stream: trio.abc.Stream) -> None:
        self._stats.connections_refused += 1
        busy = f"the server has its limit of {self.max_connections} connections: try again later"
        async with stream:
            with (
                trio.move_on_after(FAREWELL_TIMEOUT),
                contextlib.suppress(trio.BrokenResourceError),
            ):
                await stream.send_all(encode_reply(ErrorReply(None, SERVER_BUSY, busy), 2**10))

    async def _serve(self, stream: trio.abc.Stream) -> None:
        messages = MessageStream(
            stream, max_frame_size=self.max_frame_size, frame_timeout=self.frame_timeout
        )
        outgoing, queued = trio.open_memory_channel[bytes](self.max_concurrent_requests)
        self._stats.connections_open += 1
        try:
            async with messages, trio.open_nursery() as nursery:
                nursery.start_soon(_write_replies, messages, queued, nursery.cancel_scope)
                async with outgoing:  # closing it lets the writer finish
                    connection = ServedConnection(
                        messages, outgoing, self.max_concurrent_requests, self.idle_timeout
                    )
                    farewell = await self._serve_requests(connection)
                    if farewell is not None:
                        nursery.cancel_scope.deadline = trio.current_time() + FAREWELL_TIMEOUT
                        await self._reply(outgoing, farewell)
        finally:
            self._stats.connections_open -= 1

    async def _serve_requests(self, connection: ServedConnection) -> ErrorReply | None:
        """Run each request, at most `max_concurrent_requests` at once, until EOF.

        Returns a farewell if the peer broke the protocol or stayed idle, None otherwise.
        """
        async with trio.open_nursery() as nursery:
            try:
                slice_began, calls_in_slice = trio.current_time(), 0
                while (payload := await connection.next_payload()) is not None:
                    calls_in_slice += 1
                    if (
                        calls_in_slice > connection.all_slots
                        or trio.current_time() - slice_began >= TIME_SLICE
                    ):
                        await trio.lowlevel.checkpoint()  # let the others (and the writer) run
                        slice_began, calls_in_slice = trio.current_time(), 1
                    try:
                        message = decode_message(payload)
                        if isinstance(message, Result | ErrorReply):
                            raise ProtocolError("a server takes requests and notifications only")
                    except ProtocolError as exc:
                        if exc.call_id is None:
                            raise
                        self._stats.protocol_errors += 1
                        reply = ErrorReply(exc.call_id, INVALID_REQUEST, str(exc))
                        await self._reply(connection.outgoing, reply)
                        continue
                    await acquire_eagerly(connection.slots)  # none free: stop reading
                    if self._stats.requests_running >= self.max_calls_in_flight:
                        connection.call_finished()
                        await self._refuse_call(connection.outgoing, message)
                    elif message.method in self._async_methods:
                        self._stats.requests_running += 1
                        nursery.start_soon(self._handle, connection, message)
                    else:  # a plain function cannot wait: a task of its own would buy nothing
                        self._stats.requests_running += 1
                        await self._handle(connection, message)
            except (FramingError, ProtocolError) as exc:
                nursery.cancel_scope.cancel()
                self._stats.protocol_errors += 1
                return ErrorReply(None, type(exc).__name__, str(exc))
            except IdleTimeout as exc:
                return ErrorReply(None, type(exc).__name__, str(exc))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                nursery.cancel_scope.cancel()  # the peer is gone: no one wants the replies
        return None

    async def _handle(self, connection: ServedConnection, message: Request | Notification) -> None:
        """Run one call (counted in `requests_running` by the caller) and queue its reply."""
        try:
            call_id = message.id if isinstance(message, Request) else None
            reply = await self._run_method(call_id, message.method, message.params)
            if isinstance(message, Request):
                await self._reply(connection.outgoing, reply)
            elif isinstance(reply, ErrorReply):
                self._stats.notifications_failed += 1
        finally:
            self._stats.requests_running -= 1
            self._stats.requests_handled += 1
            connection.call_finished()

    async def _refuse_call(
        self, outgoing: trio.MemorySendChannel[bytes], message: Request | Notification
    ) -> None:
        if isinstance(message, Notification):
            self._stats.notifications_refused += 1
            return
        self._stats.requests_refused += 1
        busy = f"the server is running its limit of {self.max_calls_in_flight} calls: try later"
        await self._reply(outgoing, ErrorReply(message.id, SERVER_BUSY, busy))

    async def _run_method(
        self, call_id: int | None, name: str, params: list[Any]
    ) -> Result | ErrorReply:
        """Run a method; whatever happens, return the reply that says so."""
        fn = self._methods.get(name)
        if fn is None:
            return ErrorReply(call_id, METHOD_NOT_FOUND, f"no method named {describe(name)}")
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
            return ErrorReply(call_id, type(exc).__name__, _message_of(exc))
        return Result(call_id, value)  # type: ignore[arg-type]  # for a notification: dropped

    async def _reply(
        self, outgoing: trio.MemorySendChannel[bytes], reply: Result | ErrorReply
    ) -> None:
        """Queue a reply for the writer; if it cannot be sent, queue the reason instead."""
        frame = encode_reply(reply, self.max_frame_size)
        with contextlib.suppress(trio.BrokenResourceError):  # the writer stopped: peer gone
            await send_eagerly(outgoing, frame)


def _message_of(exc: Exception) -> str:
    try:
        return str(exc)
    except Exception as error:  # say, an integer of over 4,300 digits among its arguments
        return f"(its message could not be turned into text: {error})"


async def _write_replies(
    messages: MessageStream,
    queued: trio.MemoryReceiveChannel[bytes],
    connection_scope: trio.CancelScope,
) -> None:
    """The connection's writer. If the peer is gone, no one wants the replies:
    cancel every call still running for it, and the requests not yet started."""
    try:
        await messages.send_frames_from(queued)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        connection_scope.cancel()


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
