"""Gossip and flooding, run on the simulator and measured.

Theory of operation
-------------------
`run_broadcast` puts a set of broadcast nodes (`gossip_nodes` or
`flooding_nodes`) on a seeded `Simulation`, plays a script of broadcasts and
faults, and at the end of every round (``period`` seconds; round `r` ends at
``(r + 1) * period``, before anything else that happens at that instant)
counts how many nodes hold each rumor, reading their storage, so a crashed
node still counts for what it kept. A `BroadcastRun` holds those counts, the
messages sent in each round and the trace, for a notebook to print or plot.

`measure_gossip` broadcasts one rumor on `n` gossiping nodes for each seed
and returns one `GossipRow` per seed: how many rounds until every node had
it (None: not within the run), how many messages carried it, what
anti-entropy cost meanwhile, how many nodes it reached. `measure_flooding`
does the same for flooding over a graph.
`partition_heal` is the chapter's scenario: two halves, one rumor started on
each side while they are cut off, then the heal; with anti-entropy both
rumors reach everyone, with pure rumor mongering neither crosses.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from reference.net.links import Link
from reference.net.node import NodeFactory
from reference.net.simnet import Simulation
from reference.net.trace import Send, Trace
from reference.routing.gossip import FloodingNode, GossipNode


def gossip_nodes(
    n: int, *, node_class: type = GossipNode, **options: Any
) -> dict[str, NodeFactory]:
    """`n` nodes ``n00, n01, ...`` built as ``node_class(peers, **options)``, each
    with every other as a peer."""
    ids = [f"n{i:02d}" for i in range(n)]
    return {
        node: functools.partial(node_class, [peer for peer in ids if peer != node], **options)
        for node in ids
    }


def flooding_nodes(edges: Iterable[tuple[str, str]], **options: Any) -> dict[str, NodeFactory]:
    """A flooding node per node of the graph given as links ``(a, b)``."""
    graph: dict[str, list[str]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, []).append(a)
    return {
        node: functools.partial(FloodingNode, neighbours, **options)
        for node, neighbours in sorted(graph.items())
    }


@dataclass(frozen=True)
class BroadcastRun:
    """What a run did, round by round.

    - `coverage[rumor_id][r]`: nodes holding that rumor at the end of round `r`;
    - `messages[r]`: messages sent during round `r` (`kinds`: all of them, by kind);
    - `nodes`: how many nodes there are; `trace`: every event.
    """

    coverage: dict[str, list[int]]
    messages: list[int]
    kinds: dict[str, int]
    nodes: int
    trace: Trace

    def converged_round(self, since: int = 0) -> int | None:
        """The first round from `since` at whose end every node held every rumor."""
        for round_ in range(since, len(self.messages)):
            if all(counts[round_] == self.nodes for counts in self.coverage.values()):
                return round_
        return None


def run_broadcast(
    factories: dict[str, NodeFactory],
    rounds: int,
    *,
    script: Iterable[tuple] = (),
    seed: int = 0,
    link: Link = Link(),
    period: float = 1.0,
) -> BroadcastRun:
    """Run the nodes for `rounds` rounds, playing `script`: ``(round, action, *args)``
    with ``("broadcast", node, payload)``, ``("partition", side_a, side_b)``,
    ``("heal",)``, ``("crash", node)`` or ``("restart", node)``."""
    sim = Simulation(seed, link=link)
    for node, factory in factories.items():
        sim.add_node(node, factory)
    rumor_ids: list[str] = []
    actions: dict[str, Callable[..., Any]] = {
        "broadcast": lambda node, payload: rumor_ids.append(sim.node(node).broadcast(payload)),
        "partition": sim.partition,
        "heal": sim.heal,
        "crash": sim.crash,
        "restart": sim.restart,
    }
    holders: list[Counter] = []

    def count_holders() -> None:
        holders.append(
            Counter(rumor for node in factories for rumor in sim.storage(node).get("rumors", ()))
        )

    for round_ in range(rounds):  # before the script, so each count comes first at its instant
        sim.call_at((round_ + 1) * period, count_holders)
    for at, action, *args in script:
        sim.call_at(at * period, actions[action], *args)
    sim.run(until=rounds * period)
    coverage = {rumor: [counts[rumor] for counts in holders] for rumor in rumor_ids}
    sends = [event for event in sim.trace if isinstance(event, Send)]
    messages = [0] * rounds
    for send in sends:
        messages[min(rounds - 1, int(send.time // period))] += 1
    kinds = dict(sorted(Counter(send.msg[0] for send in sends).items()))
    return BroadcastRun(coverage, messages, kinds, len(factories), sim.trace)


@dataclass(frozen=True)
class GossipRow:
    """One broadcast measured.

    - `rounds`: rounds from the broadcast until every node had it (1: within
      the round it was sent), None if not within the run;
    - `messages`: messages that carried it (``"rumors"``), in the whole run:
      the cost of one broadcast;
    - `anti_entropy`: digests and wants sent in the whole run, a cost paid
      every few rounds whether or not anything is missing;
    - `reached`: nodes that had it at the end.
    """

    seed: int
    n: int
    fanout: int
    loss: float
    rounds: int | None
    messages: int
    anti_entropy: int
    reached: int


def _row(run: BroadcastRun, seed: int, fanout: int, loss: float) -> GossipRow:
    (counts,) = run.coverage.values()
    done = run.converged_round()
    kinds = run.kinds
    return GossipRow(
        seed,
        run.nodes,
        fanout,
        loss,
        None if done is None else done + 1,
        kinds.get("rumors", 0),
        kinds.get("digest", 0) + kinds.get("want", 0),
        counts[-1],
    )


def measure_gossip(
    n: int,
    fanout: int,
    loss: float,
    seeds: Iterable[int],
    *,
    hot_rounds: int = 3,
    anti_entropy_every: int = 2,
    rounds: int = 30,
) -> list[GossipRow]:
    """One rumor from ``n00`` at round 0 on `n` gossip nodes, once per seed."""
    factories = gossip_nodes(
        n, fanout=fanout, hot_rounds=hot_rounds, anti_entropy_every=anti_entropy_every
    )
    script = [(0.0, "broadcast", "n00", "news")]
    return [
        _row(
            run_broadcast(factories, rounds, script=script, seed=seed, link=Link(loss=loss)),
            seed,
            fanout,
            loss,
        )
        for seed in seeds
    ]


def measure_flooding(
    edges: list[tuple[str, str]], loss: float, seeds: Iterable[int], *, rounds: int = 5
) -> list[GossipRow]:
    """One rumor from the first node of `edges`, flooded, once per seed (fanout: 0)."""
    factories = flooding_nodes(edges)
    script = [(0.0, "broadcast", edges[0][0], "news")]
    return [
        _row(
            run_broadcast(factories, rounds, script=script, seed=seed, link=Link(loss=loss)),
            seed,
            0,
            loss,
        )
        for seed in seeds
    ]


def partition_heal(
    seed: int = 0,
    *,
    anti_entropy: bool = True,
    n: int = 12,
    heal_at: int = 8,
    rounds: int = 20,
    loss: float = 0.0,
    node_class: type = GossipNode,
) -> BroadcastRun:
    """`n` gossip nodes (`node_class`) cut into two halves at round 0; one rumor
    starts on each side in round 1; the halves heal at round `heal_at`."""
    factories = gossip_nodes(n, node_class=node_class, anti_entropy_every=2 if anti_entropy else 0)
    ids = list(factories)
    left, right = ids[: n // 2], ids[n // 2 :]
    script = [
        (0.0, "partition", left, right),
        (1.0, "broadcast", left[0], "from the left"),
        (1.0, "broadcast", right[0], "from the right"),
        (float(heal_at), "heal"),
    ]
    return run_broadcast(factories, rounds, script=script, seed=seed, link=Link(loss=loss))
