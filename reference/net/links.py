"""Links and clocks: how the network treats a message, and how a node reads time.

Theory of operation
-------------------
A `Link` describes one directed link between two nodes: the chance a
message is lost (`loss`), the chance the network delivers an extra copy
(`duplicate`), how long a message takes (`delay`, drawn from a
distribution for every message, so two messages may arrive in the other
order) and how many messages per second it carries (`bandwidth`).

The delay distributions are small frozen dataclasses with a `sample(rng)`
method: `Fixed`, `Uniform` and `Exponential` (mostly fast, occasionally
slow, the shape of queueing delay). They draw from the random generator
they are given, never from the global `random`, so a seeded run replays.

A `Clock` is a node's view of time: ``offset + rate * true time``. Clocks
that are off (`offset`) or drift (`rate`) are how chapter 06 shows why
physical time cannot order events.

A *partition* cuts links: `Partitions` keeps the set of cut directed links
by applying `Partition` and `Heal` events (reference/net/trace.py). A
partition between two sides cuts every link from one side to the other, and
back unless it is one way; a heal with sides restores those links, a heal
without sides restores them all. Both hosts record the event they apply,
and the space-time diagram replays the same events with the same rule, so
the picture shades exactly the links the run had cut.

`fate(link, rng)` is the one place that decides what the network does to a
message sent over a link: lost, or delivered once or twice, each copy after
its own delay. The simulator (reference/net/simnet.py) and the UDP runtime
(reference/net/udp.py) both call it, so a seeded run draws the same numbers in
the same order on either: the loss draw, the first copy's delay, the
duplicate draw, the second copy's delay (a draw is skipped when its chance is
0, so a perfect link draws nothing but delays).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from reference.net.node import UnknownNode
from reference.net.trace import Heal, Partition


@dataclass(frozen=True, slots=True)
class Fixed:
    """Every message takes exactly `seconds`."""

    seconds: float

    def sample(self, rng: random.Random) -> float:
        return self.seconds


@dataclass(frozen=True, slots=True)
class Uniform:
    """Delays spread evenly between `low` and `high` seconds."""

    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True, slots=True)
class Exponential:
    """`minimum` plus an exponential tail with the given `mean`: mostly fast,
    occasionally slow, the shape of queueing delay."""

    mean: float
    minimum: float = 0.0

    def sample(self, rng: random.Random) -> float:
        return self.minimum + rng.expovariate(1.0 / self.mean)


Delay = Fixed | Uniform | Exponential


@dataclass(frozen=True, slots=True)
class Link:
    """How one directed link treats messages."""

    loss: float = 0.0
    duplicate: float = 0.0
    delay: Delay = Fixed(0.01)
    bandwidth: float | None = None

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)!r}")
        if self.bandwidth is not None and not self.bandwidth > 0:
            raise ValueError(f"bandwidth must be positive, got {self.bandwidth!r}")


def fate(link: Link, rng: random.Random) -> tuple[float, ...]:
    """The delays of the copies of one message that `link` delivers, the
    original first; an empty tuple if the message is lost."""
    if link.loss and rng.random() < link.loss:
        return ()
    delay = link.delay.sample(rng)
    if link.duplicate and rng.random() < link.duplicate:
        return (delay, link.delay.sample(rng))
    return (delay,)


@dataclass(frozen=True, slots=True)
class Clock:
    """A node's clock: reads ``offset + rate * true time``."""

    offset: float = 0.0
    rate: float = 1.0

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"a clock rate must be positive, got {self.rate!r}")


class Partitions:
    """The directed links that partitions have cut, as `(src, dst)` pairs in `cut`."""

    def __init__(self) -> None:
        self.cut: set[tuple[str, str]] = set()

    def partition(
        self,
        time: float,
        side_a: Iterable[str],
        side_b: Iterable[str],
        one_way: bool,
        known: Collection[str],
    ) -> Partition:
        """Cut the links from `side_a` to `side_b` (and back unless `one_way`);
        return the event to record. Every node id must be in `known`."""
        event = Partition(time, *_sides(side_a, side_b, known), one_way)
        self.apply(event)
        return event

    def heal(
        self,
        time: float,
        side_a: Iterable[str] | None,
        side_b: Iterable[str] | None,
        one_way: bool,
        known: Collection[str],
    ) -> Heal:
        """Restore the links between the sides, or every link if neither side is
        given; return the event to record."""
        if not side_a and not side_b:
            event = Heal(time, (), (), False)
        else:
            event = Heal(time, *_sides(side_a or (), side_b or (), known), one_way)
        self.apply(event)
        return event

    def apply(self, event: Partition | Heal) -> None:
        """The partition rule: what one recorded `Partition` or `Heal` does to `cut`."""
        if isinstance(event, Heal) and not event.side_a and not event.side_b:
            self.cut.clear()
            return
        pairs = {(a, b) for a in event.side_a for b in event.side_b}
        if not event.one_way:
            pairs |= {(b, a) for a, b in pairs}
        if isinstance(event, Partition):
            self.cut |= pairs
        else:
            self.cut -= pairs


def _sides(
    side_a: Iterable[str], side_b: Iterable[str], known: Collection[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if isinstance(side_a, str) or isinstance(side_b, str):
        raise TypeError("each side of a partition is a list of node ids, not a string")
    a, b = tuple(sorted(set(side_a))), tuple(sorted(set(side_b)))
    for node_id in a + b:
        if node_id not in known:
            raise UnknownNode(node_id)
    if set(a) & set(b):
        raise ValueError(f"a node cannot be on both sides of a partition: {a} / {b}")
    return a, b
