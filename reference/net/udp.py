"""Run the same nodes over real UDP sockets with Trio.

Theory of operation
-------------------
A node written against `reference.net.node` only ever calls its context, so
running it on a real network means writing a second context. Here each
node gets a UDP socket bound on loopback, and a Trio task that receives
datagrams and calls the node's handlers; each timer is a small task
sleeping in its own cancel scope, so `cancel_timer` cancels the scope and
`set_timer` with the same name replaces it.

A message travels as one datagram: the CBOR encoding of
``[src, dst, msg_id, msg]`` (so a tuple arrives as a list). The receiving
side checks the shape and the destination and drops anything else: the
network is not trusted to send well-formed data. A node replies to a peer
it has not been told about at the address the peer's datagram came from,
which is how a server learns its clients (and why ch. 07 authenticates
them).

`ctx.send` never blocks and never raises for the network: a UDP `sendto`
either hands the datagram to the kernel or fails at once (the datagram is
then dropped, with the error's name as the reason), and a message whose
datagram would exceed `MAX_DATAGRAM` is dropped as "too large". A handler
that answers a peer must not die because the answer does not fit. Real
loopback rarely loses anything, so for demonstrations a `Link` can be
given: `reference.net.links.fate` decides at send time, from a seeded RNG,
whether the message is lost or doubled and how long each copy waits before
it goes out (`bandwidth` is not imitated: the real link has its own).
The rest of the host contract in `reference.net.node` holds too, with one
difference: a copy still waiting when its sender crashes dies with it
("sender down").

A host that runs for long must not grow without end, whatever its peers
send. So it keeps a `BoundedTrace` (the latest `trace_limit` events), and
counts every datagram it lost in `drops`, by reason, as the kernel counts
its own in ``netstat -su``: "too large", "sender down" and socket errors on
the way out; "malformed", "second name for one address" and "too many
peers" on the way in. Sender names are not checked (anyone can write any
name in a datagram; ch. 07 authenticates), but they cost the receiver
memory: a `ReliableReceiver` buffers up to `max_buffer` messages *per
sender*. So each source address may speak for one name only, and a node
learns at most `max_learned_peers` names from datagrams; after that,
datagrams from new names are dropped. Nodes added here or with `add_peer`
are always accepted.

Storage is a dict in memory, kept for the life of the `UdpNetwork`:
`crash(node)` closes the node's socket and cancels its tasks, `restart`
binds the same port again and builds a fresh node with the same storage.
A process that exits loses its storage; nothing is written to disk.

In one process (notebooks, tests), every node is a task::

    async with open_udp_network(link=Link(loss=0.2), seed=1) as net:
        await net.add_node("b", ReliableReceiver)
        await net.add_node("a", functools.partial(SlidingWindowSender, "b", range(20)))
        await net.wait_until(lambda: net.node("a").done)

One node per process is ``python -m reference.net.udp`` (reference/net/udp_cli.py).
Times in the trace are seconds since the network opened, on Trio's clock,
so under `trio.testing.MockClock` the runtime runs in virtual time too.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

import cbor2
import trio

from reference.net.links import Link
from reference.net.network import Network
from reference.net.node import Node, NodeDown, NodeFactory
from reference.net.trace import BoundedTrace, Drop, Note
from reference.wire.untrusted import MalformedCBOR, loads_untrusted

MAX_DATAGRAM = 65507  # the most a UDP datagram over IPv4 can carry
DEFAULT_TRACE_LIMIT = 20_000  # events kept: a few MiB, far more than a notebook's run
DEFAULT_MAX_LEARNED_PEERS = 64


class _UdpHost:
    """One node on its socket; it is also the node's `ctx`."""

    def __init__(self, network: UdpNetwork, node_id: str, factory: NodeFactory) -> None:
        self._network = network
        self.node_id = node_id
        self.factory = factory
        self.random = network.random
        self.storage: dict[Any, Any] = {}
        self.node: Node | None = None
        self.address: tuple[str, int] | None = None
        self.timers: dict[Hashable, trio.CancelScope] = {}
        self.socket: socket.socket | None = None
        self._receiver: trio.socket.SocketType | None = None
        self._scope: trio.CancelScope | None = None
        self._timer_nursery: trio.Nursery | None = None

    # -- The context

    def send(self, dst: str, msg: Any) -> None:
        self._network._send(self, dst, msg)

    def set_timer(self, delay: float, name: Hashable) -> None:
        if not delay >= 0:
            raise ValueError(f"a timer delay must be >= 0, got {delay!r}")
        if self.node is None:
            raise NodeDown(self.node_id, "set timers")
        self.cancel_timer(name)
        scope = self.timers[name] = trio.CancelScope()
        self._timer_nursery.start_soon(self._timer, delay, name, scope)

    def cancel_timer(self, name: Hashable) -> None:
        scope = self.timers.pop(name, None)
        if scope is not None:
            scope.cancel()

    def now(self) -> float:
        return self._network.now

    def note(self, text: str) -> None:
        self._network._note(self.node_id, text)

    # -- One incarnation of the node

    async def run(self, port: int, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as self._scope:
            plain_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            plain_socket.bind((self._network.host, port))
            plain_socket.setblocking(False)
            self.socket = plain_socket
            self._receiver = trio.socket.from_stdlib_socket(plain_socket)
            self.address = plain_socket.getsockname()
            async with trio.open_nursery() as self._timer_nursery:
                self._network._start(self)
                task_status.started(self.address)
                while True:
                    data, address = await self._receiver.recvfrom(MAX_DATAGRAM + 1)
                    self._receive(data, address)

    def crash(self) -> None:
        self._scope.cancel()
        self.node = None
        self.timers.clear()
        self._receiver.close()  # through Trio, which may be waiting on it

    def _receive(self, data: bytes, address: tuple[str, int]) -> None:
        envelope = _decode(data)
        if envelope is None or envelope[1] != self.node_id:
            self._discard("malformed", f"a malformed datagram from {address[0]}:{address[1]}")
        else:
            src, dst, msg_id, msg = envelope
            refused = self._network._learn(src, address)
            if refused:
                self._discard(refused, f"a datagram from {address[0]}:{address[1]}: {refused}")
            else:
                node = self._network._arrive(src, dst, msg_id)  # None if it crashed as it read
                if node is not None:
                    node.on_message(src, msg)
        self._network._progressed()

    def _discard(self, reason: str, what: str) -> None:
        """Count a datagram that never became a message, and note it."""
        self._network.drops[reason] += 1
        if self.node is not None:
            self.note(f"dropped {what}")

    async def _timer(self, delay: float, name: Hashable, scope: trio.CancelScope) -> None:
        with scope:
            await trio.sleep(delay)
            self._network._timer_fired(self, name)
            self._network._progressed()


def _decode(data: bytes) -> tuple[str, str, int, Any] | None:
    try:
        envelope = loads_untrusted(data, max_size=MAX_DATAGRAM)
    except MalformedCBOR:
        return None
    if not (isinstance(envelope, list) and len(envelope) == 4):
        return None
    src, dst, msg_id, msg = envelope
    if isinstance(src, str) and isinstance(dst, str) and type(msg_id) is int:
        return src, dst, msg_id, msg
    return None


class UdpNetwork(Network):
    """Nodes on real UDP sockets, each run by a task in `nursery`."""

    def __init__(
        self,
        nursery: trio.Nursery,
        *,
        link: Link | None = None,
        seed: int = 0,
        host: str = "127.0.0.1",
        on_note: Callable[[Note], None] | None = None,
        trace_limit: int = DEFAULT_TRACE_LIMIT,
        max_learned_peers: int = DEFAULT_MAX_LEARNED_PEERS,
    ) -> None:
        super().__init__(seed, on_note, BoundedTrace(trace_limit))
        self.host = host
        self.link = link
        self.max_learned_peers = max_learned_peers
        self.addresses: dict[str, tuple[str, int]] = {}
        self.drops: Counter[str] = Counter()  # datagrams lost here, by reason
        self._learned: dict[tuple[str, int], str] = {}  # source address -> the name it uses
        self._nursery = nursery
        self._epoch = trio.current_time()
        self._progress = trio.Event()

    @property
    def now(self) -> float:
        """Seconds since the network opened, on Trio's clock."""
        return trio.current_time() - self._epoch

    async def add_node(self, node_id: str, factory: NodeFactory, *, port: int = 0) -> tuple:
        """Bind a socket for a new node, start it, and return its address."""
        self._check_new_node_id(node_id)
        host = self._hosts[node_id] = _UdpHost(self, node_id, factory)
        self.addresses[node_id] = await self._nursery.start(host.run, port)
        return self.addresses[node_id]

    def add_peer(self, node_id: str, address: tuple[str, int]) -> None:
        """Make a node that runs elsewhere (another process) reachable by id."""
        self.addresses[node_id] = address

    async def restart(self, node_id: str) -> None:
        """Crash the node if it is up, then start a fresh one on the same port."""
        self.crash(node_id)
        host = self._host(node_id)
        await self._nursery.start(host.run, self.addresses[node_id][1])

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once `predicate()` is true; it is checked after every handler runs."""
        while not predicate():
            await self.wait_for_progress()

    async def wait_for_progress(self) -> None:
        """Return after the next handler (for a message or a timer) has run."""
        await self._progress.wait()

    # -- The machinery

    def _known(self) -> dict[str, tuple[str, int]]:
        return self.addresses

    def _learn(self, src: str, address: tuple[str, int]) -> str | None:
        """Accept `src` as speaking from `address`, or say why its datagram is refused."""
        if src in self.addresses:
            return None
        if address in self._learned:
            return "second name for one address"
        if len(self._learned) >= self.max_learned_peers:
            return "too many peers"
        self._learned[address] = src
        self.addresses[src] = address
        return None

    def _progressed(self) -> None:
        self._progress.set()
        self._progress = trio.Event()

    def _link(self, src: str, dst: str) -> Link | None:
        return self.link

    def _carry(
        self,
        host: _UdpHost,
        dst: str,
        link: Link | None,
        delay: float | None,
        msg_id: int,
        msg: Any,
    ) -> None:
        data = cbor2.dumps([host.node_id, dst, msg_id, msg])
        if len(data) > MAX_DATAGRAM:
            self._drop(host.node_id, dst, msg_id, "too large")
        elif delay is None:  # no link to imitate: the datagram goes out now, in order
            self._transmit(host, dst, msg_id, data)
        else:
            self._nursery.start_soon(self._transmit_later, delay, host, dst, msg_id, data)

    async def _transmit_later(
        self, delay: float, host: _UdpHost, dst: str, msg_id: int, data: bytes
    ) -> None:
        await trio.sleep(delay)
        self._transmit(host, dst, msg_id, data)

    def _transmit(self, host: _UdpHost, dst: str, msg_id: int, data: bytes) -> None:
        receiver = self._hosts.get(dst)
        if host.node is None:
            self._drop(host.node_id, dst, msg_id, "sender down")
        elif receiver is not None and receiver.node is None:
            self._arrive(host.node_id, dst, msg_id)  # one of ours, down: dropped as "down"
        else:
            try:
                host.socket.sendto(data, self.addresses[dst])
            except OSError as error:  # a full buffer, an unreachable port: the datagram is lost
                self._drop(host.node_id, dst, msg_id, type(error).__name__)

    def _drop(self, src: str, dst: str, msg_id: int, reason: str) -> None:
        self.drops[reason] += 1
        self.trace.append(Drop(self.now, src, dst, msg_id, reason))


@asynccontextmanager
async def open_udp_network(
    *,
    link: Link | None = None,
    seed: int = 0,
    host: str = "127.0.0.1",
    on_note: Callable[[Note], None] | None = None,
    trace_limit: int = DEFAULT_TRACE_LIMIT,
    max_learned_peers: int = DEFAULT_MAX_LEARNED_PEERS,
) -> AsyncIterator[UdpNetwork]:
    """A `UdpNetwork` whose nodes all stop when the block ends."""
    async with trio.open_nursery() as nursery:
        yield UdpNetwork(
            nursery,
            link=link,
            seed=seed,
            host=host,
            on_note=on_note,
            trace_limit=trace_limit,
            max_learned_peers=max_learned_peers,
        )
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    from reference.net.udp_cli import main

    main(open_udp_network)
