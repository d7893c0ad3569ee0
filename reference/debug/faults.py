"""A run's fault schedule as data: record it from a trace, replay it exactly.

Theory of operation
-------------------
A seeded run of the simulator (reference/net/simnet.py) fails. To debug it we
want to ask "what if this message had not been lost?", and the seed cannot
answer: change one draw of the RNG and every later draw moves. So `record`
reads the run's trace and writes down what the network and the world did,
as plain data, a `Schedule`:

- a `MessageFault` for every message whose fate was not plain: lost (no
  delays), duplicated (two delays), or late (one delay other than the
  schedule's `plain_delay`). A message is named by its link and its number
  on that link, ``(src, dst, nth)``, not by its global id: leaving out a
  fault early in the run renumbers the ids of every later message, but
  not the messages of the other links, nor the earlier ones of this link.
  A delay is the arrival time minus the send time; since the arrival was
  computed as ``send + delay``, the replay's ``send + (arrival - send)``
  lands on it again, to the bit (a test checks this). A copy still in
  flight at the end waits forever (``inf``).
- the timed faults, as the trace's own events: `Crash`, `Start` (a
  restart: a start of a node that had started before), `Partition` and
  `Heal`.

`replay(build, schedule)` builds a `Replay` simulation, lets `build(sim)`
add the nodes (only the nodes: the faults come from the schedule), schedules
the timed faults with `call_at` and runs to the schedule's end. A `Replay`
overrides the host's fate hook (`Network._fate`): the n-th message on a link
gets the fate the schedule gives it, and a message the schedule does not
mention is delivered once after `plain_delay`. It still makes the draws that
the link's settings call for, and throws them away, so the nodes' own draws
from the shared RNG (election timeouts, jitter) are the numbers they were.
A recorded schedule therefore replays to the same trace, byte for byte. A
changed schedule is a different run, deterministic all the same: that is
all the shrinker (reference/debug/shrink.py) needs.

Limits: `record` assumes links without a bandwidth limit (the queueing time
would count twice), and timed faults that the recorded run scheduled before
it started (with `call_at`), so that ties at one instant break the same way.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reference.net.links import Fixed, Link, fate
from reference.net.simnet import Simulation
from reference.net.trace import Crash, Deliver, Drop, Duplicate, Heal, Partition, Send, Start

TimedFault = Crash | Start | Partition | Heal


@dataclass(frozen=True, slots=True)
class MessageFault:
    """The fate of the `nth` message (from 1) that `src` sent to `dst`.

    `delays` is () if it was lost, one delay if it came late, two if the
    network duplicated it. `sent` is when it was sent in the recorded run,
    for reading only: the replay goes by `nth`.
    """

    src: str
    dst: str
    nth: int
    delays: tuple[float, ...]
    sent: float = 0.0

    @property
    def time(self) -> float:
        return self.sent

    def describe(self) -> str:
        what = {0: "lost", 1: "late", 2: "duplicated"}[len(self.delays)]
        return f"t={self.sent:.3f} {self.src}->{self.dst} message {self.nth}: {what}"


Fault = MessageFault | TimedFault


@dataclass(frozen=True, slots=True)
class Schedule:
    """What the network and the world did to a run, as data."""

    seed: int
    until: float
    link: Link = Link()
    plain_delay: float = 0.01
    faults: tuple[Fault, ...] = ()

    def describe(self) -> list[str]:
        """One line per fault, in time order."""
        return [describe(fault) for fault in sorted(self.faults, key=lambda f: f.time)]


def describe(fault: Fault) -> str:
    if isinstance(fault, MessageFault):
        return fault.describe()
    if isinstance(fault, Partition | Heal):
        sides = f" {list(fault.side_a)} | {list(fault.side_b)}" if fault.side_a else ""
        return f"t={fault.time:.3f} {fault.kind}{sides}"
    return f"t={fault.time:.3f} {'restart' if isinstance(fault, Start) else 'crash'} {fault.node}"


def record(sim: Simulation, *, plain_delay: float | None = None) -> Schedule:
    """The fault schedule of the run `sim` has made so far.

    `plain_delay` is the delay of a fault-free message (default: the
    default link's delay, if it is `Fixed`).
    """
    if plain_delay is None:
        if not isinstance(sim.default_link.delay, Fixed):
            raise ValueError("give plain_delay: the default link's delay is not fixed")
        plain_delay = sim.default_link.delay.seconds
    if sim.default_link.bandwidth is not None:
        raise ValueError("record cannot replay links with a bandwidth limit")
    events = list(sim.trace)
    ends, copies, lost = {}, {}, set()
    for event in events:
        if isinstance(event, Deliver) or (isinstance(event, Drop) and event.reason != "loss"):
            ends.setdefault(event.msg_id, event.time)
        elif isinstance(event, Drop):
            lost.add(event.msg_id)
        elif isinstance(event, Duplicate):
            copies.setdefault(event.copy_of, []).append(event.msg_id)
    faults: list[Fault] = []
    sent: Counter[tuple[str, str]] = Counter()
    started: set[str] = set()
    for index, event in enumerate(events):
        if isinstance(event, Send):
            sent[event.src, event.dst] += 1
            if _cut_when_sent(events, index) or (
                event.msg_id not in lost
                and event.msg_id not in copies
                and ends.get(event.msg_id) == event.time + plain_delay
            ):
                continue
            ids = () if event.msg_id in lost else (event.msg_id, *copies.get(event.msg_id, ()))
            delays = tuple(ends.get(msg_id, math.inf) - event.time for msg_id in ids)
            nth = sent[event.src, event.dst]
            faults.append(MessageFault(event.src, event.dst, nth, delays, event.time))
        elif isinstance(event, Crash | Partition | Heal):
            faults.append(event)
        elif isinstance(event, Start):
            if event.node in started:
                faults.append(event)
            started.add(event.node)
    return Schedule(sim.seed, sim.now, sim.default_link, plain_delay, tuple(faults))


def _cut_when_sent(events: list, index: int) -> bool:
    """Did a partition drop the Send at `index` as it left (so no fate was drawn)?"""
    send, after = events[index], events[index + 1] if index + 1 < len(events) else None
    return (
        isinstance(after, Drop)
        and after.msg_id == send.msg_id
        and after.reason == "partition"
        and after.time == send.time
    )


class Replay(Simulation):
    """A simulation whose messages take their fates from a `Schedule`."""

    def __init__(self, schedule: Schedule) -> None:
        super().__init__(schedule.seed, link=schedule.link)
        self.schedule = schedule
        self._fates = {
            (fault.src, fault.dst, fault.nth): fault.delays
            for fault in schedule.faults
            if isinstance(fault, MessageFault)
        }
        self._sent: Counter[tuple[str, str]] = Counter()
        self._counted = 0  # how much of the trace `_sent` has counted

    def _fate(self, src: str, dst: str, link: Link | None) -> tuple[float | None, ...]:
        if link is not None:
            fate(link, self.random)  # the recorded run's draws, so the nodes' draws stay put
        for event in self.trace.events[self._counted :]:
            if isinstance(event, Send):
                self._sent[event.src, event.dst] += 1
        self._counted = len(self.trace)
        return self._fates.get((src, dst, self._sent[src, dst]), (self.schedule.plain_delay,))


def replay(
    build: Callable[[Simulation], Any], schedule: Schedule, *, until: float | None = None
) -> Replay:
    """Run `schedule` on the nodes `build(sim)` adds, up to `until` (default: its end)."""
    sim = Replay(schedule)
    build(sim)
    for fault in schedule.faults:
        if isinstance(fault, Crash):
            sim.call_at(fault.time, sim.crash, fault.node)
        elif isinstance(fault, Start):
            sim.call_at(fault.time, sim.restart, fault.node)
        elif isinstance(fault, Partition):
            sim.call_at(fault.time, _partition, sim, fault)
        elif isinstance(fault, Heal):
            sim.call_at(fault.time, _heal, sim, fault)
    sim.run(until=schedule.until if until is None else until)
    return sim


def _partition(sim: Simulation, fault: Partition) -> None:
    sim.partition(fault.side_a, fault.side_b, one_way=fault.one_way)


def _heal(sim: Simulation, fault: Heal) -> None:
    sim.heal(fault.side_a, fault.side_b, one_way=fault.one_way)
