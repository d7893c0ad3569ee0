"""A blocking RPC client: one call at a time over a plain socket.

Theory of operation
-------------------
This is synchronous request/response in its plainest form: send a request,
then block — the whole thread, not just a task — until its reply arrives.
It speaks the same wire format as `reference/rpc/client.py` (CBOR messages in
length-prefixed frames) to the same Trio server, using the standard
library's `socket` and the sans-I/O `FrameDecoder` and `PendingCalls`;
no event loop anywhere.

Blocking is simple to read and to debug: the code runs in the order it is
written, and the stack shows where it waits. Its costs are that a thread
can wait for only one reply at a time (so the caller pays one full round
trip per call, and more calls need more threads), and that a timeout is
the only way out of a wait.

A timeout (`timeout=` seconds, the socket's own; change it between calls
with `client.timeout`) raises `TimeoutError` but leaves the connection
usable: the call is dropped from the pending table, and if its reply turns
up later, the next call reads it, sees an id no one waits for, and drops it
(counted in `late_replies`). Whether the timed-out call ran on the server,
the client cannot tell. A connection whose peer misbehaves, or that was cut
in the middle of sending a request, is closed.
"""

from __future__ import annotations

import socket
from collections import deque
from typing import Any

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
from reference.wire.framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, FramingError, encode_frame

RECEIVE_SIZE = 65536


class BlockingRpcClient:
    """Calls a `reference.rpc.server` server from ordinary, blocking code.

    >>> with BlockingRpcClient("127.0.0.1", port, timeout=5.0) as client:  # doctest: +SKIP
    ...     client.call("add", 2, 3)
    5
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        self._socket = socket.create_connection((host, port), timeout=timeout)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._decoder = FrameDecoder(max_frame_size)
        self._frames: deque[bytes] = deque()
        self._pending: PendingCalls[str] = PendingCalls()
        self._broken: str | None = None

    @property
    def late_replies(self) -> int:
        return self._pending.late_replies

    @property
    def timeout(self) -> float | None:
        """Seconds a send or a wait for a reply may block before `TimeoutError`; None: forever."""
        return self._socket.gettimeout()

    @timeout.setter
    def timeout(self, seconds: float | None) -> None:
        self._socket.settimeout(seconds)

    def call(self, method: str, *params: Any) -> Any:
        """Send a request and block until its reply; return the result."""
        call_id = self._pending.add(method)
        try:
            self._send(Request(call_id, method, list(params)))
            while True:
                reply = self._receive_reply()
                if self._pending.pop(reply.id) is not None:  # else a late reply: skip it
                    break
        except (FramingError, ProtocolError, UnknownCallId) as exc:
            self._break(f"bad message from the server: {exc}")
        finally:
            self._pending.discard(call_id)
        if isinstance(reply, ErrorReply):
            raise RemoteError(reply.type, reply.message)
        return reply.value

    def notify(self, method: str, *params: Any) -> None:
        """Send a one-way message and return at once: no reply will come."""
        self._send(Notification(method, list(params)))

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> BlockingRpcClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, message: Request | Notification) -> None:
        if self._broken is not None:
            raise ConnectionLost(self._broken)
        frame = encode_frame(encode_message(message), max_frame_size=self._decoder.max_frame_size)
        try:
            self._socket.sendall(frame)
        except OSError as exc:  # a timeout too: part of the frame may have gone
            self._break(f"sending failed ({exc!r})")

    def _receive_reply(self) -> Result | ErrorReply:
        while not self._frames:
            try:
                data = self._socket.recv(RECEIVE_SIZE)
            except TimeoutError:
                raise  # nothing was consumed: the stream is still in sync
            except OSError as exc:
                self._break(f"the connection broke ({exc!r})")
            self._frames.extend(self._decoder.feed(data))
            if not data:
                self._break("the server closed the connection")
        reply = decode_message(self._frames.popleft())
        if isinstance(reply, Request | Notification):
            raise ProtocolError("the server sent a request; this client serves none")
        if reply.id is None:
            self._break(f"the server hung up: {reply.type}: {reply.message}")
        return reply

    def _break(self, reason: str) -> None:
        self._broken = reason
        self._socket.close()
        raise ConnectionLost(reason)
