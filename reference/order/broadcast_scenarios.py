"""Runs of the broadcast protocols for the chapter: what goes wrong, and what fixes it.

Theory of operation
-------------------
Each scenario builds a `Simulation` of a small group, schedules who
broadcasts what and when, runs it to the end and returns it; the chapter
draws `sim.trace` as a space-time diagram and points a check from
reference/order/broadcast_checks.py at it. Pass a different protocol to see
the same story end differently.

- `lost_keys(protocol)`: alice broadcasts "I lost my keys", bob delivers it
  and answers "found them!", and the link from alice to carol is slow. Under
  `FifoBroadcast` carol reads the answer before the question (a causal
  violation); under `CausalBroadcast` she holds the answer back until the
  question arrives.
- `bank_account(protocol)`: three replicas of an account holding 100; at the
  same moment a deposits 50 and c adds 10% interest. Each replica applies
  the operations in the order it delivers them (`balances`), and 100 + 50
  then +10% is 165 while +10% then + 50 is 160: under FIFO or causal
  broadcast the replicas diverge for good (the two operations are
  concurrent, so causal order does not order them); under either
  total-order broadcast they agree.

`group_simulation` and `schedule_broadcasts` are the two steps every
scenario (and the property tests) take: a simulator with one protocol node
per member, and broadcasts called at given times.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from reference.delivery.reliable import Backoff
from reference.net.links import Fixed, Link
from reference.net.simnet import Simulation
from reference.order.broadcast import Broadcast, FifoBroadcast

CALM = Link(delay=Fixed(0.01))


def group_simulation(
    protocol: type[Broadcast],
    group: Iterable[str],
    *,
    seed: int = 0,
    link: Link = CALM,
    **options: Any,
) -> Simulation:
    """A simulation with one `protocol` node per member of `group`."""
    members = list(group)
    sim = Simulation(seed, link=link)
    for member in members:
        sim.add_node(member, functools.partial(protocol, members, **options))
    return sim


def schedule_broadcasts(sim: Simulation, plan: Iterable[tuple[float, str, Any]]) -> None:
    """Make node `who` broadcast `payload` at time `when`, for each ``(when, who, payload)``."""
    for when, who, payload in plan:
        sim.call_at(when, lambda who=who, payload=payload: sim.node(who).broadcast(payload))


def lost_keys(protocol: type[Broadcast] = FifoBroadcast) -> Simulation:
    """A question, its answer, and a slow link that delivers the answer first."""
    sim = group_simulation(protocol, ["alice", "bob", "carol"], backoff=Backoff(initial=1.0))
    sim.set_link("alice", "carol", Link(delay=Fixed(0.2)), one_way=True)
    schedule_broadcasts(sim, [(0.0, "alice", "I lost my keys"), (0.05, "bob", "found them!")])
    sim.run()
    return sim


OPENING_BALANCE = 100


def apply(balance: int, operation: Any) -> int:
    """One operation on the account: ``("deposit", amount)`` or ``("interest", percent)``."""
    kind, amount = operation
    if kind == "deposit":
        return balance + amount
    if kind == "interest":
        return balance + balance * amount // 100
    raise ValueError(f"unknown operation {operation!r}")


def bank_account(protocol: type[Broadcast] = FifoBroadcast) -> Simulation:
    """Three replicas; a deposit and an interest payment broadcast at the same moment."""
    sim = group_simulation(protocol, ["a", "b", "c"])
    schedule_broadcasts(sim, [(0.0, "a", ("deposit", 50)), (0.0, "c", ("interest", 10))])
    sim.run()
    return sim


def balances(sim: Simulation, opening: int = OPENING_BALANCE) -> dict[str, int]:
    """Each replica's balance after applying what it delivered, in its order."""
    result = {}
    for node in sim.node_ids:
        balance = opening
        for _, _, operation in sim.node(node).delivered:
            balance = apply(balance, operation)
        result[node] = balance
    return result
