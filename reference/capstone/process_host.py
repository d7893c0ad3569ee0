"""One node in one process: its broker is a real NATS connection, its storage a SQLite file.

Theory of operation
-------------------
A chat member is a node (`reference/net/node.py`) that talks only to one
peer it calls ``"broker"``, with three messages (the contract in
`reference/capstone/member.py`)::

    node -> broker   ("sub", subject_filter)      subscribe
    node -> broker   ("pub", subject, payload)    publish
    broker -> node   ("msg", subject, payload)    a message on a subscribed subject

On the simulator a simulated broker node answers them. Here `ProcessHost`
is the node's context, and turns them into the chapter 05 client's calls
(`reference/routing/client.py`, over mutual TLS with a token). Handlers
never wait, so `send` only queues the call; one task, `_forward`, makes
them in order (a SUB before a PUB the handler sent after it, as the node
meant). A message arriving on a subscription becomes
``on_message("broker", ("msg", subject, payload))``; timers are Trio
tasks in their own cancel scopes, as in `reference/net/udp.py`.

Durability: after every handler, and after every `post` the host makes on
the node's behalf, the whole `ctx.storage` is saved in one SQLite
transaction (`reference/capstone/state_file.py`), and `start` loads it
before `on_start`; `on_saved` is called after each save (the terminal
prints what a handler showed only then, so a line on the screen is a
message on disk). So a member SIGKILLed at any moment restarts from the
state after its last complete handler, which is what the simulator's
crash and restart promise. The broker keeps nothing for a member that is
down (NATS core delivers at most once); catching up is the member's job.

    async with open_process_host(node, client, state_path) as host:
        host.call(node.post, "hello")     # saved before it returns
        await host.wait_forwarded()       # the broker has it (PING/PONG)
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import trio

from reference.capstone.state_file import StateFile
from reference.net.node import Node
from reference.routing.client import Client
from reference.routing.subscription import Subscription

BROKER = "broker"
MAX_NOTES = 200

Result = TypeVar("Result")


class ProtocolMisuse(ValueError):
    """The node sent something the broker contract does not have."""


class ProcessHost:
    """The context of one node whose only peer is a NATS broker; use `open_process_host`."""

    def __init__(
        self,
        node: Node,
        node_id: str,
        client: Client,
        state: StateFile,
        nursery: trio.Nursery,
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        on_saved: Callable[[], None] | None = None,
    ) -> None:
        self.node = node
        self.node_id = node_id
        self.client = client
        self.state = state
        self.storage: dict = state.load()
        self.random = random.Random(seed)
        self.notes: list[str] = []
        self._clock = clock
        self._on_saved = on_saved
        self._nursery = nursery
        self._timers: dict[Hashable, trio.CancelScope] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._calls_in, self._calls_out = trio.open_memory_channel[tuple](float("inf"))
        self._progress = trio.lowlevel.ParkingLot()

    # --- the node's context -------------------------------------------------------------

    def send(self, dst: str, msg: Any) -> None:
        if dst != BROKER:
            raise ProtocolMisuse(f"a process member talks to {BROKER!r} only, not {dst!r}")
        match list(msg):
            case ["sub", str(subject_filter)]:
                self._calls_in.send_nowait(("sub", subject_filter))
            case ["pub", str(subject), bytes(payload)]:
                self._calls_in.send_nowait(("pub", subject, payload))
            case _:
                raise ProtocolMisuse(f"not ('sub', filter) or ('pub', subject, bytes): {msg!r}")

    def set_timer(self, delay: float, name: Hashable) -> None:
        self.cancel_timer(name)
        scope = trio.CancelScope()
        self._timers[name] = scope
        self._nursery.start_soon(self._timer, delay, name, scope)

    def cancel_timer(self, name: Hashable) -> None:
        scope = self._timers.pop(name, None)
        if scope is not None:
            scope.cancel()

    def now(self) -> float:
        return self._clock()

    def note(self, text: str) -> None:
        self.notes = [*self.notes[-MAX_NOTES + 1 :], text]

    # --- the host's side ----------------------------------------------------------------

    def call(self, handler: Callable[..., Result], *args: Any) -> Result:
        """Run `handler(*args)` as a handler of the node (e.g. `node.post`), then save storage."""
        result = handler(*args)
        self.state.save(self.storage)
        if self._on_saved is not None:
            self._on_saved()
        self._progress.unpark_all()
        return result

    async def wait_forwarded(self) -> None:
        """Return once every call the node made so far has reached the broker (and been routed)."""
        marker = trio.Event()
        self._calls_in.send_nowait(("mark", marker))
        await marker.wait()
        await self.client.flush()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once `predicate()` holds; it is checked after every handler."""
        while not predicate():
            await self._progress.park()

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Start the node (`on_start`), then forward its calls until cancelled."""
        self.node.ctx = self
        self.call(self.node.on_start)
        task_status.started()
        async for call in self._calls_out:
            await self._forward(call)

    async def _forward(self, call: tuple) -> None:
        match call:
            case ("sub", subject_filter):
                if subject_filter not in self._subscriptions:  # a restarted node asks again
                    subscription = await self.client.subscribe(subject_filter)
                    self._subscriptions[subject_filter] = subscription
                    self._nursery.start_soon(self._receive, subscription)
            case ("pub", subject, payload):
                await self.client.publish(subject, payload)
            case ("mark", marker):
                marker.set()

    async def _receive(self, subscription: Subscription) -> None:
        async for message in subscription:
            self.call(self.node.on_message, BROKER, ("msg", message.subject, message.payload))

    async def _timer(self, delay: float, name: Hashable, scope: trio.CancelScope) -> None:
        with scope:
            await trio.sleep(delay)
            if self._timers.get(name) is scope:
                del self._timers[name]
                self.call(self.node.on_timer, name)


@asynccontextmanager
async def open_process_host(
    node: Node,
    client: Client,
    state_path: str | Path,
    *,
    node_id: str = "member",
    clock: Callable[[], float] = time.time,
    seed: int | None = None,
    on_saved: Callable[[], None] | None = None,
) -> AsyncIterator[ProcessHost]:
    """A started `ProcessHost` for `node` over `client`, stopped (and its file closed) on exit."""
    state = StateFile(state_path)
    try:
        async with trio.open_nursery() as nursery:
            host = ProcessHost(
                node, node_id, client, state, nursery, clock=clock, seed=seed, on_saved=on_saved
            )
            await nursery.start(host.run)
            yield host
            nursery.cancel_scope.cancel()
    finally:
        state.close()
