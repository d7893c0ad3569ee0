"""Counters that agree without agreeing on an order: the G-counter and PN-counter CRDTs.

Theory of operation
-------------------
Raft makes replicas agree by putting every update in one order, and pays
for it: a majority must answer, and a replica cut off from the majority
cannot even count. Some data needs no order at all. A *conflict-free
replicated data type* (CRDT; Shapiro et al., 2011) is one whose replicas
accept updates locally, at once, and exchange their *states*; any two
states have a *merge* that is

- commutative: ``merge(a, b) == merge(b, a)``,
- associative: ``merge(merge(a, b), c) == merge(a, merge(b, c))``,
- idempotent: ``merge(a, a) == a``,

so it does not matter in what order states arrive, how often, or through
whom: replicas that have seen the same updates have the same state
(*strong eventual consistency*). Loss is repaired by the next exchange,
duplication is harmless, and a partition only delays agreement.

A **G-counter** (grow-only) counts increments. One integer per replica
cannot be merged (is 5 and 7 "7" or "12"?), so the state is a *vector*:
``counts[n]`` is how many increments replica `n` has made, which only `n`
changes and only upwards. Merge is the entry-wise maximum (`merge_counts`),
the same as merging vector clocks (reference/order/clocks.py); the value
is the sum of the entries. A replica that has heard everyone's latest
entries has the exact total, and no entry is ever counted twice.

A **PN-counter** also decrements: two G-counters, one of increments
("up") and one of decrements ("down"), merged half by half; its value is
``sum(up) - sum(down)``. (Lowering an entry instead would break merge:
the maximum would bring the old value back.)

`GCounterNode` and `PNCounterNode` run the counters as nodes
(reference/net/node.py). `increment` (and `decrement`) change this
replica's own entry; every `period` seconds a node sends its whole state,
``("counter", {"up": {node: count}, ...})``, to `fanout` peers picked at
random, and merges every state it receives. The state lives in
``ctx.storage``, so a replica that crashes and restarts still has what it
counted and heard. A state that is not well formed (a wrong shape, a node
outside the cluster, a count that is not an integer >= 0) is ignored and
noted: a state names only members, so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from reference.net.node import Node

Counts = Mapping[str, int]
"""A G-counter's state: increments made by each replica (a missing replica made none)."""


def merge_counts(a: Counts, b: Counts) -> dict[str, int]:
    """The G-counter merge: the entry-wise maximum, sorted by replica id."""
    return {node: max(a.get(node, 0), b.get(node, 0)) for node in sorted(a.keys() | b.keys())}


def merge(a: Mapping[str, Counts], b: Mapping[str, Counts]) -> dict[str, dict[str, int]]:
    """Merge two counter states half by half ("up", and "down" for a PN-counter)."""
    return {
        half: merge_counts(a.get(half, {}), b.get(half, {})) for half in sorted(a.keys() | b.keys())
    }


def value(state: Mapping[str, Counts]) -> int:
    """What the counter reads: increments made minus decrements made."""
    return sum(state.get("up", {}).values()) - sum(state.get("down", {}).values())


def _is_count(count: Any) -> bool:
    return type(count) is int and count >= 0


class GCounterNode(Node):
    """One replica of a grow-only counter; `cluster` lists every replica, this one included."""

    halves: tuple[str, ...] = ("up",)

    def __init__(self, cluster: Sequence[str], *, period: float = 0.1, fanout: int = 1) -> None:
        if not cluster or len(set(cluster)) != len(cluster):
            raise ValueError(f"a cluster is a list of distinct node ids, got {cluster!r}")
        if not period > 0 or fanout < 1:
            raise ValueError(f"gossip needs period > 0 and fanout >= 1, got {period!r}, {fanout!r}")
        self.cluster = tuple(cluster)
        self.period = period
        self.fanout = fanout

    def on_start(self) -> None:
        if self.ctx.node_id not in self.cluster:
            raise ValueError(f"{self.ctx.node_id!r} is not in its cluster {self.cluster}")
        self.ctx.storage.setdefault("state", {half: {} for half in self.halves})
        self.peers = [node for node in self.cluster if node != self.ctx.node_id]
        self.ctx.set_timer(self.period, "gossip")

    @property
    def state(self) -> dict[str, dict[str, int]]:
        """This replica's state (a copy): ``{"up": {node: count}, ...}``."""
        return merge(self.ctx.storage["state"], {})

    @property
    def value(self) -> int:
        return value(self.ctx.storage["state"])

    def increment(self, amount: int = 1) -> None:
        """Count `amount` more, here and now: no message, no waiting."""
        self._add("up", amount)

    def _add(self, half: str, amount: int) -> None:
        if type(amount) is not int or amount < 1:
            raise ValueError(f"a counter moves by an integer >= 1, got {amount!r}")
        counts = self.ctx.storage["state"][half]
        me = self.ctx.node_id
        counts[me] = counts.get(me, 0) + amount

    def on_timer(self, name: Hashable) -> None:
        if self.peers:
            message = ("counter", self.state)
            for peer in self.ctx.random.sample(self.peers, min(self.fanout, len(self.peers))):
                self.ctx.send(peer, message)
        self.ctx.set_timer(self.period, "gossip")

    def on_message(self, src: str, msg: Any) -> None:
        received = self.parse_state(msg)
        if received is None:
            self.ctx.note(f"ignored a malformed state from {src}")
            return
        self.ctx.storage["state"] = merge(self.ctx.storage["state"], received)

    def parse_state(self, msg: Any) -> dict[str, dict[str, int]] | None:
        """``("counter", state)`` as its state, or None unless it is a state of this cluster."""
        if not (isinstance(msg, list | tuple) and len(msg) == 2 and msg[0] == "counter"):
            return None
        state = msg[1]
        if not isinstance(state, dict) or set(state) != set(self.halves):
            return None
        for counts in state.values():
            if not isinstance(counts, dict):
                return None
            if not all(node in self.cluster and _is_count(n) for node, n in counts.items()):
                return None
        return state


class PNCounterNode(GCounterNode):
    """One replica of a counter that also goes down: a G-counter of each direction."""

    halves = ("up", "down")

    def decrement(self, amount: int = 1) -> None:
        """Count `amount` down, here and now."""
        self._add("down", amount)
