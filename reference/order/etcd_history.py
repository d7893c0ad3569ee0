"""Recording what concurrent clients of a real etcd cluster saw, as a history.

Theory of operation
-------------------
To judge etcd from the outside, the way `reference.order.linearizability`
judges our own Raft store, every call a client makes becomes an
`Operation` (`reference.order.history`): its input in the vocabulary of
`KeyValueModel` (``("get", k)``, ``("put", k, v)``, ``("cas", k, old,
new)``), its output, and its call and return times on one clock, Trio's,
shared by all clients because they run in one process.

What a failed call means decides whether the verdict is honest:

- the member refused the connection (`EtcdUnreachable`): the request was
  never sent and had no effect, so there is no operation to record;
- anything else (an error reply, a dropped connection, no answer within
  `CALL_TIMEOUT`): the request may have reached the leader and been
  committed, now or later, so it is recorded as `timed_out`: pending,
  output unknown. Recording it as "failed, no effect" would be a lie the
  checker could catch etcd in, wrongly.

`run_clients` starts `clients` clients, each pinned to one member (client
``i`` talks to member ``i mod size``), each choosing at random (from its
own seeded `random.Random`) among gets, puts and compare-and-sets on a few
keys until told to stop. Every value written is unique (``c2-17``: client
2's 17th write), which keeps the checker's search small; a
compare-and-set expects the value the client last read, so some succeed.

`history_across_a_crash` is the chapter's run: the clients work while the
leader is killed with SIGKILL and restarted, and the history is checked.
`stale_read_on_an_isolated_member` shows what a serializable read gives
up: on a member cut off from its peers it answers from what that member
has, which may be old, and the checker rejects the history. Real calls
take milliseconds and a timeout a second, so to draw a history,
`in_event_order` spaces its calls and returns evenly, keeping which came
before which.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Hashable
from dataclasses import replace
from typing import Any

import trio

from reference.order.etcd_cluster import (
    POLL_INTERVAL,
    READY_TIMEOUT,
    EtcdClient,
    EtcdCluster,
    EtcdError,
    EtcdUnreachable,
    find_leader,
    run_etcd_cluster,
)
from reference.order.history import Operation, timed_out
from reference.order.linearizability import CheckResult, check_operations
from reference.order.models import KeyValueModel

CALL_TIMEOUT = 1.0  # seconds a client waits for a reply before it gives up on a call
RETRY_PAUSE = 0.05  # seconds a client waits after a member refused its connection
KEYS = ("x", "y", "z")


class HistoryRecorder:
    """Calls etcd on behalf of named clients and keeps every call as an `Operation`."""

    def __init__(self) -> None:
        self.history: list[Operation] = []
        self.started = trio.current_time()  # times are recorded in seconds since then

    async def call(
        self,
        client: Hashable,
        etcd: EtcdClient,
        input: tuple,
        *,
        serializable: bool = False,
        timeout: float = CALL_TIMEOUT,
    ) -> Any:
        """Run `input` on `etcd`, record it, return its output (None if it timed out or failed).

        A get is linearizable unless `serializable`. A refused connection is
        not recorded (the request never left) and re-raises `EtcdUnreachable`.
        """
        start = trio.current_time() - self.started
        try:
            with trio.fail_after(timeout):
                output = await _perform(etcd, input, serializable)
        except EtcdUnreachable:
            raise
        except (EtcdError, OSError, trio.TooSlowError):
            self.history.append(timed_out(client, input, start))
            return None
        end = trio.current_time() - self.started
        self.history.append(Operation(client, input, start, output, end))
        return output


def in_event_order(history: list[Operation]) -> list[Operation]:
    """The history with each time replaced by its rank among all the calls' and returns' times.

    Real-time order is kept exactly (which call came after which return),
    so the checker's verdict is the same; what goes is the scale: a
    millisecond's write and a second's wait draw as the same width.
    """
    times = sorted({op.call for op in history} | {op.ret for op in history if not op.pending})
    rank = {time: place for place, time in enumerate(times)} | {math.inf: math.inf}
    return [replace(op, call=rank[op.call], ret=rank[op.ret]) for op in history]


async def _perform(etcd: EtcdClient, input: tuple, serializable: bool) -> Any:
    match input:
        case ("get", key):
            return await etcd.get(key, serializable=serializable)
        case ("put", key, value):
            return await etcd.put(key, value)
        case ("cas", key, expected, new):
            return await etcd.cas(key, expected, new)
    raise ValueError(f"no such key-value operation: {input!r}")


async def run_client(
    recorder: HistoryRecorder, name: str, etcd: EtcdClient, rng: random.Random, stop: trio.Event
) -> None:
    """Random gets, puts and compare-and-sets on `KEYS` until `stop` is set."""
    last_seen: dict[str, str | None] = {}
    values = (f"{name}-{number}" for number in itertools.count(1))
    while not stop.is_set():
        key = rng.choice(KEYS)
        kind = rng.choice(("get", "get", "put", "cas"))
        if kind == "get":
            input: tuple = ("get", key)
        elif kind == "put":
            input = ("put", key, next(values))
        else:
            input = ("cas", key, last_seen.get(key), next(values))
        try:
            output = await recorder.call(name, etcd, input)
        except EtcdUnreachable:
            await trio.sleep(RETRY_PAUSE)
            continue
        if kind == "get":
            last_seen[key] = output


async def run_clients(
    cluster: EtcdCluster, recorder: HistoryRecorder, clients: int, seed: int, stop: trio.Event
) -> None:
    """`clients` clients, client ``i`` on member ``i mod size``, until `stop` is set."""
    async with trio.open_nursery() as nursery:
        for number in range(clients):
            member = cluster.members[number % len(cluster.members)]
            rng = random.Random(f"{seed}/{number}")
            name = f"c{number}"
            nursery.start_soon(run_client, recorder, name, EtcdClient(member), rng, stop)


async def history_across_a_crash(
    *, clients: int = 4, seed: int = 0, before: float = 1.0, down: float = 1.0, after: float = 1.0
) -> tuple[list[Operation], CheckResult]:
    """A history of clients at work across a leader crash, and the checker's verdict on it.

    On a fresh 3-member cluster, `clients` clients work for `before`
    seconds; the leader is killed, kept down `down` seconds and restarted;
    the clients go on for `after` seconds more.
    """
    stop = trio.Event()
    async with run_etcd_cluster(3) as cluster, trio.open_nursery() as nursery:
        recorder = HistoryRecorder()
        nursery.start_soon(run_clients, cluster, recorder, clients, seed, stop)
        await trio.sleep(before)
        leader = await find_leader(cluster)
        await cluster.kill(leader)
        await trio.sleep(down)
        await cluster.restart(leader)
        await trio.sleep(after)
        stop.set()
    return recorder.history, check_operations(KeyValueModel(), recorder.history)


async def stale_read_on_an_isolated_member() -> tuple[list[Operation], CheckResult]:
    """A serializable read that returns an old value, and the checker's verdict on it.

    On a fresh 3-member cluster: put x = v1 through the leader; a
    linearizable get on a follower sees v1; the follower is cut off from
    its peers; put x = v2 through the leader (the other two are a
    majority, so it commits); a serializable get on the cut-off follower
    returns v1, though v2 was written before it was called, and a
    linearizable get there gets no answer (it needs a quorum). After the
    partition heals, the follower catches up and reads v2.
    """
    async with run_etcd_cluster(3) as cluster:
        recorder = HistoryRecorder()
        leader = await find_leader(cluster)
        follower = next(member for member in cluster.members if member is not leader)
        writer, reader = EtcdClient(leader), EtcdClient(follower)
        on_leader = f"{leader.name} (leader)"
        serializable = f"{follower.name} serializable"
        linearizable = f"{follower.name} linearizable"
        await recorder.call(on_leader, writer, ("put", "x", "v1"), timeout=READY_TIMEOUT)
        await recorder.call(linearizable, reader, ("get", "x"), timeout=READY_TIMEOUT)
        await cluster.isolate(follower)
        await recorder.call(on_leader, writer, ("put", "x", "v2"), timeout=READY_TIMEOUT)
        await recorder.call(serializable, reader, ("get", "x"), serializable=True)
        await recorder.call(linearizable, reader, ("get", "x"))
        cluster.heal()
        with trio.fail_after(READY_TIMEOUT):
            while await reader.get("x", serializable=True) != "v2":
                await trio.sleep(POLL_INTERVAL)
        await recorder.call(serializable, reader, ("get", "x"), serializable=True)
    return recorder.history, check_operations(KeyValueModel(), recorder.history)
