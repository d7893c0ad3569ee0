"""Cutting one etcd member off from its peers, on loopback and without root.

Theory of operation
-------------------
A network partition is easy on the simulator and hard on one machine:
every member listens on 127.0.0.1, and only root may make the kernel drop
packets. Stopping a member (SIGSTOP) is not a partition: the kernel keeps
accepting its peers' messages into socket buffers, and when the member
resumes it reads them and catches up, as if nothing had happened.

So the members talk to each other through relays we own. Each member
listens for its peers on a private port and *advertises* a relay port
instead; `PeerLinks.relay` listens there and copies bytes both ways
between a peer and the member. Every connection one etcd member opens to
another is HTTP, and every request names its sender in a header,
``X-Server-From: <member id in hex>``. The relay reads the first request
head of each connection, so it knows both ends of the link: the member it
stands in front of, and the sender.

`isolate(name, member_id)` cuts a member off in both directions: the
relays close every open connection from or to it, and refuse new ones, so
its peers see connections that drop and redials that fail, as on a real
partition. `heal()` lets connections through again. Connections with no
sender header (etcd's round-trip probes, version checks) pass unless they
go to an isolated member. Client traffic never goes through a relay.
"""

from __future__ import annotations

from functools import partial

import trio

HOST = "127.0.0.1"
HEAD_LIMIT = 16 * 1024  # bytes of a request head a relay reads before it gives up
SENDER_HEADER = b"x-server-from:"


class PeerLinks:
    """The relays in front of every member's peer port, and which members are cut off."""

    def __init__(self) -> None:
        self.isolated: set[str] = set()  # member names and hex member ids
        self._open: dict[trio.CancelScope, tuple[str | None, str]] = {}

    def allowed(self, sender: str | None, receiver: str) -> bool:
        """May `sender` (a hex member id, or None if unnamed) reach member `receiver`?"""
        return sender not in self.isolated and receiver not in self.isolated

    def isolate(self, name: str, member_id: str) -> None:
        """Cut member `name` (whose id is `member_id` in hex) off from every peer."""
        self.isolated |= {name, member_id}
        for scope, (sender, receiver) in list(self._open.items()):
            if not self.allowed(sender, receiver):
                scope.cancel()

    def heal(self) -> None:
        """Let every member reach every other again."""
        self.isolated.clear()

    async def relay(
        self, receiver: str, port: int, target_port: int, task_status=trio.TASK_STATUS_IGNORED
    ) -> None:
        """Relay connections on `port` to member `receiver` on `target_port`, until cancelled."""
        listeners = await trio.open_tcp_listeners(port, host=HOST)
        task_status.started()
        await trio.serve_listeners(partial(self._carry, receiver, target_port), listeners)

    async def _carry(self, receiver: str, target_port: int, incoming: trio.SocketStream) -> None:
        async with incoming:
            try:
                start = await _read_head(incoming)
            except (trio.BrokenResourceError, EOFError, ValueError):
                return
            sender = _sender(start)
            if not self.allowed(sender, receiver):
                return
            try:
                outgoing = await trio.open_tcp_stream(HOST, target_port)
            except OSError:
                return  # the member is down: its peer sees the connection drop
            with trio.CancelScope() as scope:
                self._open[scope] = (sender, receiver)
                try:
                    async with outgoing:
                        await outgoing.send_all(start)
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(_copy, incoming, outgoing, nursery.cancel_scope)
                            nursery.start_soon(_copy, outgoing, incoming, nursery.cancel_scope)
                except trio.BrokenResourceError:
                    pass
                finally:
                    del self._open[scope]


async def _read_head(stream: trio.SocketStream) -> bytes:
    """The bytes of a connection up to the end of its first request head (and any after)."""
    start = bytearray()
    while b"\r\n\r\n" not in start:
        data = await stream.receive_some(4096)
        if not data:
            raise EOFError("the connection closed before a request head")
        start += data
        if len(start) > HEAD_LIMIT:
            raise ValueError(f"no request head within {HEAD_LIMIT} bytes")
    return bytes(start)


def _sender(start: bytes) -> str | None:
    """The hex member id in the ``X-Server-From`` header of a request head, if any."""
    head = start.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(SENDER_HEADER):
            return line[len(SENDER_HEADER) :].strip().decode("ascii", "replace")
    return None


async def _copy(source: trio.SocketStream, sink: trio.SocketStream, done: trio.CancelScope) -> None:
    """Copy `source` to `sink` until either end closes; then end the whole connection."""
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    done.cancel()
