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

Two bounds keep memory flat however fast a client sends and however slowly
it reads:

- the server runs at most `max_concurrent_requests` methods per connection
  and reads the next request only when a slot is free. A client that never
  reads its replies fills the TCP buffers; the writer blocks, its queue
  fills, the methods holding slots cannot finish, and the server stops
  reading that connection, so TCP flow control pushes back on the client.
  Other connections have slots of their own and carry on;
- a frame is at most `max_frame_size` bytes (checked before buffering it).

A method that raises, an unknown method or wrong arguments give the
caller a `RemoteError`, and the connection stays up. Input that leaves the
stream untrustworthy — bytes that are not CBOR, an oversize frame, a
message of no known shape — makes the server send a farewell and close
that one connection.

Methods that are plain functions run in the server's reader task itself:
they cannot wait, so a task of their own would only add a trip through the
scheduler, and they run one after another in the order their requests
arrived. Async methods each get a task, and finish in any order.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import trio

from reference.rpc.wire import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    ErrorReply,
    Notification,
    ProtocolError,
    Request,
    Result,
    decode_message,
    encode_reply,
)
from reference.tools.eager import acquire_eagerly, send_eagerly
from reference.wire.framing import DEFAULT_MAX_FRAME_SIZE, FramingError, MessageStream

FAREWELL_TIMEOUT = 1.0  # seconds to try to tell a misbehaving peer why we hang up


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
                nursery.start_soon(_write_replies, messages, queued)
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
                    await acquire_eagerly(slots)  # none free: stop reading, and TCP pushes back
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
            await send_eagerly(outgoing, frame)


async def _write_replies(messages: MessageStream, queued: trio.MemoryReceiveChannel[bytes]) -> None:
    """The connection's writer. If the peer is gone, its replies have nowhere to go:
    the channel closes, and methods that finish later drop their replies."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await messages.send_frames_from(queued)


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
