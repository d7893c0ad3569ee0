"""Shrinking a failing run: the fewest faults and events that still fail.

Theory of operation
-------------------
A random run that breaks a property is a counterexample, but a long one:
hundreds of lost messages, crashes and partitions, most of them beside the
point. `shrink` makes it small, by replaying changed schedules
(reference/debug/faults.py) and keeping a change only if the property still
fails. The property is a function ``fails(sim)`` that returns a failure
(any value, e.g. a message) or None.

Three moves, repeated until none changes anything:

1. *Trim the run*: the earliest end time at which the property already
   fails, found by bisecting the recorded run's event times. This assumes
   a safety property: once it fails in a run it stays failed, so a shorter
   prefix of a failing run either fails or does not. Faults after the new
   end are then left out (if the run still fails without them).
2. *Move faults earlier*: first all the crashes, restarts, partitions and
   heals together, keeping the gaps between them (a scene such as "cut the
   leader off, restart it, heal" usually needs all its steps in order),
   then each one alone, in time order, to the earliest event time (after
   the fault before it) at which the run still fails, by bisection; early
   faults make a short run.
3. *Delta debugging* (`ddmin`, Zeller and Hildebrandt, 2002) over the
   faults: try each of n chunks alone, then each complement (everything
   but one chunk); keep the first that fails and start again, else double
   n. It ends when n is the number of faults left and removing any single
   one makes the run pass: the schedule is *1-minimal*. It is written out
   here, not borrowed from hypothesis, because the algorithm is the lesson;
   hypothesis' shrinker does the same kind of search over its own choices.

Every trial is a full replay, deterministic, so each answer is cached by
the set of faults tried. `ShrinkResult` keeps the schedules before and
after, their sizes (faults and trace events) and the shrunk run to draw.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from reference.debug.faults import MessageFault, Replay, Schedule, replay
from reference.net.simnet import Simulation

Item = TypeVar("Item")
Property = Callable[[Simulation], Any]


@dataclass(frozen=True, slots=True)
class Size:
    """How big a run is: faults in its schedule, events in its trace."""

    faults: int
    events: int


@dataclass(frozen=True, slots=True)
class ShrinkResult:
    schedule: Schedule  # the shrunk schedule
    failure: Any  # what the property said about the shrunk run
    sim: Replay  # the shrunk run, to draw or inspect
    before: Size
    after: Size
    trials: int  # replays it took

    @property
    def factor(self) -> float:
        """Trace events before / after."""
        return self.before.events / self.after.events


def ddmin(items: Sequence[Item], fails: Callable[[tuple[Item, ...]], bool]) -> tuple[Item, ...]:
    """A 1-minimal sub-sequence of `items` for which `fails` holds (it must hold for `items`)."""
    current = tuple(items)
    if fails(()):
        return ()
    chunks = 2
    while len(current) >= 2:
        parts = _split(current, chunks)
        for part in parts:
            if fails(part):
                current, chunks = part, 2
                break
        else:
            for index in range(len(parts)):
                rest = tuple(item for j, part in enumerate(parts) if j != index for item in part)
                if fails(rest):
                    current, chunks = rest, max(chunks - 1, 2)
                    break
            else:
                if chunks >= len(current):
                    break
                chunks = min(2 * chunks, len(current))
    return current


def _split(items: tuple[Item, ...], chunks: int) -> list[tuple[Item, ...]]:
    size, extra = divmod(len(items), chunks)
    parts, start = [], 0
    for index in range(chunks):
        end = start + size + (index < extra)
        parts.append(items[start:end])
        start = end
    return parts


class _Trials:
    """Replays of `build` under changed schedules, cached, counted."""

    def __init__(self, build: Callable[[Simulation], Any], fails: Property) -> None:
        self.build, self.fails = build, fails
        self.cache: dict[tuple[float, frozenset], Any] = {}
        self.count = 0

    def failure(self, schedule: Schedule) -> Any:
        key = (schedule.until, frozenset(schedule.faults))
        if key not in self.cache:
            self.count += 1
            self.cache[key] = self.fails(replay(self.build, schedule))
        return self.cache[key]


def shrink(
    build: Callable[[Simulation], Any],
    schedule: Schedule,
    fails: Property,
    *,
    until: float | None = None,
    trim: bool = True,
) -> ShrinkResult:
    """Shrink `schedule` (run to `until`, default its end) while `fails` still fails."""
    schedule = replace(schedule, until=schedule.until if until is None else until)
    first = replay(build, schedule)
    if fails(first) is None:
        raise ValueError("the schedule does not fail: nothing to shrink")
    trials = _Trials(build, fails)
    before = Size(len(schedule.faults), len(first.trace))
    while True:
        moved = _earlier(trials, _together(trials, _trim(trials, schedule))) if trim else schedule
        shrunk = _minimal(trials, moved)
        if shrunk == schedule:
            break
        schedule = shrunk
    sim = replay(build, schedule)
    after = Size(len(schedule.faults), len(sim.trace))
    return ShrinkResult(schedule, fails(sim), sim, before, after, trials.count)


def _minimal(trials: _Trials, schedule: Schedule) -> Schedule:
    faults = ddmin(
        schedule.faults,
        lambda kept: trials.failure(replace(schedule, faults=kept)) is not None,
    )
    return replace(schedule, faults=faults)


def _trim(trials: _Trials, schedule: Schedule) -> Schedule:
    """The schedule cut at the earliest event time at which it fails, its late faults gone."""
    times = sorted({event.time for event in replay(trials.build, schedule).trace})
    low, high = 0, bisect_left(times, schedule.until)  # times[high] (or the end) fails
    while low < high:
        middle = (low + high) // 2
        if trials.failure(replace(schedule, until=times[middle])) is not None:
            high = middle
        else:
            low = middle + 1
    until = times[high] if high < len(times) else schedule.until
    early = tuple(fault for fault in schedule.faults if fault.time <= until)
    shorter = replace(schedule, until=until, faults=early)
    if trials.failure(shorter) is not None:
        return shorter
    return replace(schedule, until=until)


def _together(trials: _Trials, schedule: Schedule) -> Schedule:
    """Every timed fault moved earlier by one offset: the largest (bisected) that still fails."""
    timed = [fault.time for fault in schedule.faults if not isinstance(fault, MessageFault)]
    if not timed:
        return schedule
    first = min(timed)
    times = sorted({e.time for e in replay(trials.build, schedule).trace if e.time < first})
    low, high = 0, len(times)  # shifted so the first fault is at times[high] (or unshifted) fails
    while low < high:
        middle = (low + high) // 2
        if trials.failure(_shifted(schedule, times[middle] - first)) is not None:
            high = middle
        else:
            low = middle + 1
    return _shifted(schedule, times[high] - first) if high < len(times) else schedule


def _shifted(schedule: Schedule, offset: float) -> Schedule:
    faults = tuple(
        fault if isinstance(fault, MessageFault) else replace(fault, time=fault.time + offset)
        for fault in schedule.faults
    )
    return replace(schedule, faults=faults)


def _earlier(trials: _Trials, schedule: Schedule) -> Schedule:
    """Each timed fault, in time order, moved as early as the run still fails."""
    order = sorted(range(len(schedule.faults)), key=lambda i: schedule.faults[i].time)
    previous = 0.0
    for index in order:
        fault = schedule.faults[index]
        if isinstance(fault, MessageFault):
            continue
        run = replay(trials.build, schedule)
        times = sorted({e.time for e in run.trace if previous <= e.time < fault.time})
        low, high = 0, len(times)  # moved to times[high] (or left where it is) fails
        while low < high:
            middle = (low + high) // 2
            if trials.failure(_moved(schedule, index, times[middle])) is not None:
                high = middle
            else:
                low = middle + 1
        if high < len(times):
            schedule = _moved(schedule, index, times[high])
        previous = schedule.faults[index].time
    return schedule


def _moved(schedule: Schedule, index: int, time: float) -> Schedule:
    faults = list(schedule.faults)
    faults[index] = replace(faults[index], time=time)
    return replace(schedule, faults=tuple(faults))
