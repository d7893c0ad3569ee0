"""Distance-vector routing, run on the simulator: the chapter's three scenarios.

Theory of operation
-------------------
`run_routers` builds one `DistanceVectorRouter` per node of a graph given
as links ``(a, b, cost)``, runs them on a seeded `Simulation` and plays a
script of faults and data messages. Time is counted in *rounds*: round `r`
is the period from ``r * period`` to ``(r + 1) * period``; every router
advertises at the start of each round (they all start at 0), so round `r`
carries one exchange of vectors plus whatever triggered updates it sets off.
Half-way through each round the run copies every live router's table, and
the run ends there, half-way through the last round.

What comes back is a `RoutingRun`, data for a notebook to print or plot:
the tables round by round, the vectors sent in each round, the path each
data message took (read from the trace's sends) and the trace itself.

The scenarios:

- `converge_and_forward`: six routers (`EXAMPLE_LINKS`) learn their routes
  in a few rounds, then a message from a to f goes a-b-c-f, the cheapest
  path, not the fewest hops.
- `reroute_after_link_failure`: the link b-c fails. For `dead_after`
  rounds b still believes in it and a message sent then is lost; then b
  forgets c's routes, the network converges again and a-b-e-f carries the
  next message.
- `count_to_infinity`: the chain a-b-c loses c. Without poisoned reverse,
  a tells b "c is 2 hops from me", b believes it, and the two push the cost
  up two a round until it reaches `INFINITY`; with it, b's first word about
  c is final. Triggered updates are off here so that the climb is one step
  a round, as in the textbooks; with them the same climb happens in one
  round, message by message.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reference.net.links import Link
from reference.net.node import NodeFactory
from reference.net.simnet import Simulation
from reference.net.trace import Send, Trace
from reference.routing.distance_vector import INFINITY, DistanceVectorRouter, Table

Edge = tuple[str, str, int]

EXAMPLE_LINKS: list[Edge] = [
    ("a", "b", 1),
    ("b", "c", 1),
    ("c", "f", 1),
    ("a", "d", 4),
    ("b", "e", 2),
    ("d", "e", 1),
    ("e", "f", 3),
]
"""Six routers: a-b-c on top, d-e below, f on the right (a to f costs 3 by a-b-c-f)."""

CHAIN: list[Edge] = [("a", "b", 1), ("b", "c", 1)]


def neighbours(edges: Iterable[Edge]) -> dict[str, dict[str, int]]:
    """Each node's neighbours and link costs, from links ``(a, b, cost)``."""
    graph: dict[str, dict[str, int]] = {}
    for a, b, cost in edges:
        if a == b or b in graph.get(a, {}):
            raise ValueError(f"link {a}-{b} is a loop or given twice")
        graph.setdefault(a, {})[b] = cost
        graph.setdefault(b, {})[a] = cost
    return graph


def router_factories(
    edges: Iterable[Edge],
    *,
    router: type[DistanceVectorRouter] = DistanceVectorRouter,
    **options: Any,
) -> dict[str, NodeFactory]:
    """A `router` per node (factories for `add_node` on either host); `options`
    go to every router."""
    return {
        node: functools.partial(router, links, **options)
        for node, links in sorted(neighbours(edges).items())
    }


@dataclass(frozen=True)
class RoutingRun:
    """What a run did, round by round.

    - `tables[r][node]`: that router's table half-way through round `r`
      (destination -> ``(cost, next_hop)``), for the routers up then;
    - `vectors_sent[r]`: distance vectors sent during round `r`;
    - `paths[payload]`: the nodes a data message went through, its origin first
      (the last node is where it was delivered, or dropped);
    - `trace`: every event of the run.
    """

    tables: list[dict[str, Table]]
    vectors_sent: list[int]
    paths: dict[Any, list[str]]
    trace: Trace

    def cost(self, node: str, destination: str) -> list[int]:
        """`node`'s cost to `destination` in each round (`INFINITY`: no route, or down)."""
        return [tables.get(node, {}).get(destination, (INFINITY, ""))[0] for tables in self.tables]

    def converged_round(self, since: int = 0) -> int | None:
        """The first round from `since` on after which no table changed again,
        or None if tables were still changing in the last round."""
        last = self.tables[-1]
        if len(self.tables) < 2 or self.tables[-2] != last:
            return None
        round_ = len(self.tables) - 1
        while round_ > since and self.tables[round_ - 1] == last:
            round_ -= 1
        return round_


def run_routers(
    edges: Iterable[Edge],
    rounds: int,
    *,
    script: Iterable[tuple] = (),
    seed: int = 0,
    link: Link = Link(),
    period: float = 1.0,
    router: type[DistanceVectorRouter] = DistanceVectorRouter,
    **options: Any,
) -> RoutingRun:
    """Run routers on the graph `edges` for `rounds` rounds.

    `script` holds ``(round, action, *args)``, `round` a float (3.25: a
    quarter into round 3). Actions: ``("partition", side_a, side_b)``,
    ``("heal",)``, ``("crash", node)``, ``("restart", node)`` and
    ``("send", origin, destination, payload)``. `options` go to every
    `router` (a subclass may bring its own `update_rule`).
    """
    sim = Simulation(seed, link=link)
    for node, factory in router_factories(edges, router=router, period=period, **options).items():
        sim.add_node(node, factory)
    actions = {
        "partition": sim.partition,
        "heal": sim.heal,
        "crash": sim.crash,
        "restart": sim.restart,
        "send": lambda origin, dst, payload: sim.node(origin).send_data(dst, payload),
    }
    origins = {}
    for at, action, *args in script:
        sim.call_at(at * period, actions[action], *args)
        if action == "send":
            origins[args[2]] = args[0]
    tables = []
    for round_ in range(rounds):
        sim.run(until=(round_ + 0.5) * period)
        up = [node for node in sim.node_ids if sim.is_up(node)]
        tables.append({node: dict(sim.node(node).table) for node in up})
    return RoutingRun(
        tables, _vectors_per_round(sim.trace, rounds, period), _paths(sim.trace, origins), sim.trace
    )


def _vectors_per_round(trace: Trace, rounds: int, period: float) -> list[int]:
    counts = [0] * rounds
    for event in trace:
        if isinstance(event, Send) and event.msg[0] == "vector":
            counts[int(event.time // period)] += 1
    return counts


def _paths(trace: Trace, origins: dict[Any, str]) -> dict[Any, list[str]]:
    paths = {payload: [origin] for payload, origin in origins.items()}
    for event in trace:
        if isinstance(event, Send) and event.msg[0] == "data" and event.msg[4] in paths:
            paths[event.msg[4]].append(event.dst)
    return paths


# --- The chapter's scenarios ------------------------------------------------------------


def converge_and_forward(
    seed: int = 0, rounds: int = 8, *, triggered_updates: bool = False
) -> RoutingRun:
    """Six routers converge, one exchange of vectors a round (with triggered
    updates, within round 0); in round 5 a sends "hello" to f, over three hops."""
    script = [(5.25, "send", "a", "f", "hello")]
    return run_routers(
        EXAMPLE_LINKS, rounds, seed=seed, script=script, triggered_updates=triggered_updates
    )


def reroute_after_link_failure(seed: int = 0, rounds: int = 14) -> RoutingRun:
    """The link b-c fails in round 4: "before" goes a-b-c-f, "during" (round 6, while
    b still trusts the dead link) is lost, "after" (round 11) goes a-b-e-f."""
    script = [
        (3.25, "send", "a", "f", "before"),
        (4.25, "partition", ["b"], ["c"]),
        (6.25, "send", "a", "f", "during"),
        (11.25, "send", "a", "f", "after"),
    ]
    return run_routers(EXAMPLE_LINKS, rounds, seed=seed, script=script)


def count_to_infinity(poisoned_reverse: bool, seed: int = 0, rounds: int = 24) -> RoutingRun:
    """The chain a-b-c; c crashes in round 3 and b notices in round 7. Read
    ``run.cost("b", "c")``: it climbs to `INFINITY` unless `poisoned_reverse`."""
    return run_routers(
        CHAIN,
        rounds,
        seed=seed,
        script=[(3.25, "crash", "c")],
        poisoned_reverse=poisoned_reverse,
        triggered_updates=False,
    )
