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

The simulator (reference/net/simnet.py) and the UDP runtime
(reference/net/udp.py) read the same `Link`; `fate` below is the one place
that decides what happens to a message sent over one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


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


@dataclass(frozen=True, slots=True)
class Clock:
    """A node's clock: reads ``offset + rate * true time``."""

    offset: float = 0.0
    rate: float = 1.0

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"a clock rate must be positive, got {self.rate!r}")
