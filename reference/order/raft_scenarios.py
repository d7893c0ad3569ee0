"""Raft runs to look at and to test: a cluster, random faults, three scenes.

Theory of operation
-------------------
Each function builds a `Simulation` (reference/net/simnet.py) of Raft key-value
servers (reference/order/kv.py) and clients, runs it, and returns it; its
`trace` draws as a space-time diagram, and ``sim.node(name)`` shows each
server's term, role and log at the end. Everything is seeded: the same seed
gives the same run.

`kv_cluster` builds servers "s1".."sN" (clients are added by the caller);
`schedule_faults` scripts a random storm over a time window: partitions that
cut the servers (and clients) into two sides and heal, server crashes and
restarts, and clock drift on every server.

The three scenes of the chapter:

- `election`: three servers start as followers; the first whose randomized
  timer runs out becomes a candidate and, with two votes of three, leader.
- `partitioned_old_leader`: the leader and one client are cut off from the
  rest. The majority elects a new leader, and a second client writes x=2
  through it. The first client then reads x from the old leader, which
  still thinks it leads: `KVNode` cannot commit the read (no majority) and
  answers after the heal, with 2; `LocalReadKVNode` answers at once, with
  the stale 1. The clients' histories tell the two apart.
- `log_repair`: the old leader, cut off, appends a write it can never
  commit, while the majority commits others at the same indexes. After
  the heal the old leader hears the new term, steps down, and its
  conflicting entries are replaced by the new leader's (conflict
  truncation). The client's retry then writes its value again, through
  the new leader.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence

from reference.net.links import Clock, Link, Uniform
from reference.net.simnet import Simulation
from reference.order.kv import KVClient, KVNode
from reference.order.raft import DEFAULT_TIMING, LEADER, RaftTiming

LAN = Link(delay=Uniform(0.005, 0.02))


def kv_cluster(
    seed: int,
    servers: int = 3,
    *,
    link: Link = LAN,
    node: Callable[..., KVNode] = KVNode,
    timing: RaftTiming = DEFAULT_TIMING,
) -> tuple[Simulation, list[str]]:
    """A simulation with `servers` Raft KV servers "s1", "s2", ...; it and their ids."""
    sim = Simulation(seed, link=link)
    names = [f"s{index}" for index in range(1, servers + 1)]
    for name in names:
        sim.add_node(name, functools.partial(node, names, timing=timing))
    return sim, names


def add_client(sim: Simulation, name: str, servers: Sequence[str], **settings) -> None:
    """Add a `KVClient` with no operations yet (`submit` them, or pass `operations`)."""
    sim.add_node(name, functools.partial(KVClient, list(servers), **settings))


def schedule_faults(
    sim: Simulation,
    servers: Sequence[str],
    clients: Sequence[str],
    rng: random.Random,
    *,
    start: float,
    end: float,
    drift: float = 0.2,
) -> None:
    """Script partitions, crashes and restarts between `start` and `end`; heal by `end`.

    Every server's clock gets a random offset and a rate within ``1 +- drift``
    (clients keep true time: their histories are read on one clock).
    """
    for name in servers:
        sim.set_clock(name, Clock(rng.uniform(0, 100), rng.uniform(1 - drift, 1 + drift)))
    t = start
    while t < end:
        t += rng.uniform(0.1, 0.8)
        if t >= end:
            break
        if rng.random() < 0.5:
            everyone = [*servers, *clients]
            side = set(rng.sample(everyone, rng.randint(1, len(everyone) - 1)))
            sim.call_at(t, sim.partition, sorted(side), [n for n in everyone if n not in side])
            sim.call_at(min(end, t + rng.uniform(0.2, 1.5)), sim.heal)
        else:
            victim = rng.choice(list(servers))
            sim.call_at(t, sim.crash, victim)
            sim.call_at(min(end, t + rng.uniform(0.05, 1.0)), sim.restart, victim)
    sim.call_at(end, sim.heal)


def leader_of(sim: Simulation, servers: Sequence[str]) -> str | None:
    """The server (up) that thinks it leads in the latest term, or None."""
    leaders = [name for name in servers if sim.is_up(name) and sim.node(name).role == LEADER]
    return max(leaders, key=lambda name: sim.node(name).current_term, default=None)


def election(seed: int = 1, *, until: float = 0.5) -> Simulation:
    """Three servers elect a leader."""
    sim, _ = kv_cluster(seed)
    sim.run(until=until)
    return sim


def partitioned_old_leader(
    seed: int = 1,
    *,
    node: Callable[..., KVNode] = KVNode,
    heal_at: float = 4.0,
    until: float = 6.0,
) -> Simulation:
    """The stale-read scene: clients "k1" (with the old leader) and "k2" (with the rest)."""
    sim, servers = kv_cluster(seed, node=node)
    add_client(sim, "k1", servers)
    add_client(sim, "k2", servers)
    sim.run(until=0.6)
    old = leader_of(sim, servers)
    sim.node("k1").target = servers.index(old)  # k1 has found the leader, as after a redirect
    sim.node("k1").submit(("put", "x", 1))
    sim.run(until=1.0)
    sim.partition([old, "k1"], [name for name in [*servers, "k2"] if name != old])
    sim.node("k2").submit(("put", "x", 2))
    sim.call_at(3.0, lambda: sim.node("k1").submit(("get", "x")))
    sim.call_at(heal_at, sim.heal)
    sim.run(until=until)
    return sim


def log_repair(seed: int = 1, *, heal_at: float = 3.0, until: float = 4.0) -> Simulation:
    """The old leader's uncommitted entry is replaced after the partition heals."""
    sim, servers = kv_cluster(seed)
    add_client(sim, "k1", servers)
    add_client(sim, "k2", servers)
    sim.run(until=0.6)
    old = leader_of(sim, servers)
    sim.node("k1").target = servers.index(old)
    sim.partition([old, "k1"], [name for name in [*servers, "k2"] if name != old])
    sim.node("k1").submit(("put", "x", "lost"))
    for value in ("kept", "kept again"):
        sim.node("k2").submit(("put", "x", value))
    sim.call_at(heal_at, sim.heal)
    sim.run(until=until)
    return sim
