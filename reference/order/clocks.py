"""Logical clocks: order events by what could have caused what, not by the time of day.

Theory of operation
-------------------
Physical clocks on different machines disagree (offset) and run at different
speeds (drift), so "a happened at 10:00:00.120 on one machine and b at
10:00:00.118 on another" does not say which came first. Lamport (1978) asked a
better question: could `a` have *influenced* `b`? Event `a` *happened before*
`b` (written a → b) if

1. they happened on the same node and `a` came first (program order), or
2. `a` sent a message and `b` received it, or
3. a → c and c → b for some event c (it is transitive).

Two events where neither happened before the other are *concurrent*: no
message path joins them, so neither could know about the other.

A **Lamport clock** is one counter per node:

- before each local event, `tick()`: the counter goes up by one;
- to send, `on_send()`: tick, and put the counter on the message;
- on receiving timestamp `t`, `on_receive(t)`: the counter becomes
  ``max(counter, t) + 1``.

Then a → b implies L(a) < L(b). The converse fails: L(a) < L(b) may hold for
concurrent events, so a Lamport timestamp cannot tell "before" from
"concurrent". It is still enough for a *total* order that respects causality:
order by ``(timestamp, node id)`` (reference/order/total_order.py does).

A **vector clock** (Fidge 1988, Mattern 1988) keeps one counter *per node*:
entry ``v[n]`` counts the events of node `n` that this event knows about.
A node `increment`s its own entry for each event and, on receiving a
message, first `merge`s the message's vector in (entry-wise maximum). Now the
converse holds too: a → b exactly when V(a) < V(b), that is every entry of
V(a) is <= the one in V(b) and they differ. `compare` names the four cases:
`Order.BEFORE`, `Order.AFTER`, `Order.EQUAL` and `Order.CONCURRENT`.

A vector travels in a message as a plain dict (`as_dict`), since messages are
plain values. Entries that are 0 are left out, so a vector only names the
nodes it has heard of, and two vectors are equal exactly when they count the
same events.

reference/order/happens_before.py computes happens-before directly from a
simulator trace, and the tests check both clocks against it on thousands of
random runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum


class Order(Enum):
    """How two events (or their vector timestamps) are related."""

    BEFORE = "before"
    AFTER = "after"
    EQUAL = "equal"
    CONCURRENT = "concurrent"


class LamportClock:
    """One counter per node; a → b implies L(a) < L(b)."""

    def __init__(self, time: int = 0) -> None:
        self.time = time

    def tick(self) -> int:
        """A local event: count it and return its timestamp."""
        self.time += 1
        return self.time

    def on_send(self) -> int:
        """A send is an event: tick, and return the timestamp to put on the message."""
        return self.tick()

    def on_receive(self, timestamp: int) -> int:
        """A receive: jump past the message's timestamp; return the event's timestamp."""
        if type(timestamp) is not int or timestamp < 0:
            raise ValueError(f"a Lamport timestamp is an integer >= 0, got {timestamp!r}")
        self.time = max(self.time, timestamp) + 1
        return self.time

    def __repr__(self) -> str:
        return f"LamportClock({self.time})"


class VectorClock:
    """One counter per node; a → b exactly when V(a) < V(b)."""

    def __init__(self, counts: Mapping[str, int] | None = None) -> None:
        self.counts: dict[str, int] = {}
        for node, count in (counts or {}).items():
            if not isinstance(node, str) or type(count) is not int or count < 0:
                raise ValueError(
                    f"a vector maps node ids to integers >= 0, got {node!r}: {count!r}"
                )
            if count:
                self.counts[node] = count

    def __getitem__(self, node: str) -> int:
        return self.counts.get(node, 0)

    def increment(self, node: str) -> None:
        """Count one more event of `node` (a node increments its own entry)."""
        self.counts[node] = self[node] + 1

    def merge(self, other: VectorClock) -> None:
        """Take the entry-wise maximum: now this vector knows what `other` knows."""
        for node, count in other.counts.items():
            self.counts[node] = max(self[node], count)

    def compare(self, other: VectorClock) -> Order:
        """BEFORE if every entry is <= the other's and one is smaller; and so on."""
        pairs = [(self[node], other[node]) for node in self.counts.keys() | other.counts.keys()]
        some_smaller = any(mine < theirs for mine, theirs in pairs)
        some_larger = any(mine > theirs for mine, theirs in pairs)
        if some_smaller and some_larger:
            return Order.CONCURRENT
        if some_smaller:
            return Order.BEFORE
        if some_larger:
            return Order.AFTER
        return Order.EQUAL

    def copy(self) -> VectorClock:
        return VectorClock(self.counts)

    def as_dict(self) -> dict[str, int]:
        """The vector as a plain dict, to put in a message (sorted by node id)."""
        return dict(sorted(self.counts.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VectorClock) and self.counts == other.counts

    __hash__ = None  # type: ignore[assignment]  # it changes, so it cannot be a dict key

    def __repr__(self) -> str:
        return f"VectorClock({self.as_dict()})"
