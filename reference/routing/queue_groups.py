"""Queue groups: which one member of a group gets a message.

Theory of operation
-------------------
Subscribers that join a queue group share its messages: each message that
matches the group goes to exactly one member. Which one is a *policy*, an
object with one method, ``choose(group, members) -> member``, given the
group's name and its current members (a non-empty list, in the order
`SubscriptionIndex.match` found them). Policies are sans-I/O: no clock, no
global random state, so a run is reproducible.

- `RandomChoice(rng)` picks uniformly with the `random.Random` it is given
  (seed it for a reproducible run). This is what nats-server does.
- `RoundRobin()` takes the members in turn, with one counter per group.
  Even shares of messages, however uneven the work they cause.
- `LeastOutstanding(outstanding)` picks the member with the least work
  still outstanding, ties taken in turn. NATS has no acknowledgements, so
  a broker cannot know what a member has *finished*; what it can see is
  what it has not yet managed to hand over. The broker's measure (see
  `reference/routing/broker.py`) is the number of messages waiting in the
  member connection's outbound buffer, not yet written to its socket. A
  member that reads slowly (because it is busy) lets that number grow, so
  it gets fewer new messages. The policy itself only calls the function
  it is given, ``outstanding(member) -> int``, so a simulation can supply
  its own measure.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Protocol


class QueuePolicy(Protocol):
    def choose(self, group: str, members: Sequence) -> object: ...


class RandomChoice:
    """Each message to a member chosen uniformly at random."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def choose(self, group: str, members: Sequence) -> object:
        return members[self.rng.randrange(len(members))]


class RoundRobin:
    """Members in turn, one turn counter per group."""

    def __init__(self) -> None:
        self._turns: dict[str, int] = {}

    def _next_turn(self, group: str) -> int:
        turn = self._turns.get(group, 0)
        self._turns[group] = turn + 1
        return turn

    def choose(self, group: str, members: Sequence) -> object:
        return members[self._next_turn(group) % len(members)]


class LeastOutstanding(RoundRobin):
    """The member with the least outstanding work; ties broken in turn."""

    def __init__(self, outstanding: Callable[[object], int]) -> None:
        super().__init__()
        self.outstanding = outstanding

    def choose(self, group: str, members: Sequence) -> object:
        start = self._next_turn(group) % len(members)
        in_turn = [*members[start:], *members[:start]]
        return min(in_turn, key=self.outstanding)  # min keeps the first of equals


POLICY_NAMES = ("random", "round_robin", "least_outstanding")


def make_policy(
    name: str, *, rng: random.Random, outstanding: Callable[[object], int]
) -> QueuePolicy:
    """Build a policy by name (one of `POLICY_NAMES`)."""
    if name == "random":
        return RandomChoice(rng)
    if name == "round_robin":
        return RoundRobin()
    if name == "least_outstanding":
        return LeastOutstanding(outstanding)
    raise ValueError(f"unknown queue policy {name!r}; choose one of {', '.join(POLICY_NAMES)}")
