"""Exhaustive search: every order of events of a small system, up to a bound.

Theory of operation
-------------------
A random test runs the simulator on many seeds and hopes one of them hits
the bad interleaving. A *model checker* does not hope: it tries every
interleaving, up to a bound. `search` does that for 2 or 3 nodes written
against reference/net/node.py, on the state machine of
reference/debug/search_world.py (read its docstring first: what a state is,
the steps, why time is abstract, and the snapshot contract a node can
offer).

From the initial state (every node started), `search` goes *depth first*:
it takes the first possible step (deliver a message in flight, lose it,
duplicate it, fire a pending timer), then the first step from there, and so
on, down to `depth` steps; then it backs up one step and tries the next
possibility. After every step it checks `invariant(nodes)`, a function of
the live node objects that returns None when all is well and a sentence
saying what is wrong otherwise. The first violation stops the search, and
its *path*, the list of steps from the start, is the counterexample.

A property of node states alone cannot tell a lost message from one still
in flight: in abstract time any message may stay in flight for ever. Loss
shows where the run is *over*: `final(nodes)`, if given, is checked in
every state where nothing is in flight and no timer is pending ("once all
is quiet, b has the message"), and a lost message with no retry left
breaks it.

*State hashing*: different orders often lead to the same state (a delivers
to b then c to b, or the other way round). With `hashing=True` the search
remembers every state it has explored, and from how deep, and does not
explore a state again unless it now has more steps of the bound left. The
verdict is the same as without hashing, at a fraction of the states; both
figures are in the result, so a learner can see what hashing buys.

*Bounds*: `depth` caps the number of steps on a path; `losses` and
`duplicates` cap how many of them the network may take (0 turns losses or
duplication off; None: any number within `depth`); the remaining budget is
part of the state, so hashing stays exact. A search that ends without a
violation proves the invariant for every run of at most `depth` steps with
those faults, not for longer runs.

*Shortest paths*: depth first finds *a* violation, not the shortest one.
With `shortest=True` the search deepens iteratively (bound 1, 2, 3, ...):
the first violation found is then one of the fewest steps possible.

`replay(factories, path)` runs a path again in a world that records a
`reference.net.trace.Trace` (one step per unit of time), so the
counterexample draws with `reference.net.spacetime.draw`, and says what
the invariant says at its end. `format_path` prints it, one step a line.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field

from reference.debug.search_world import State, Step, World
from reference.net.node import Node, NodeFactory
from reference.net.trace import Trace

Invariant = Callable[[Mapping[str, Node]], str | None]
"""Looks at every node; None if the property holds, else what is wrong."""


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What a search found, and how much it looked at.

    `states` counts the states explored (with hashing: distinct ones),
    `transitions` the steps taken, `depth` the longest path reached; with
    `shortest` they add up every round of deepening.
    """

    violation: str | None
    path: tuple[Step, ...]
    states: int
    transitions: int
    depth: int
    hashing: bool
    bound: int

    @property
    def found(self) -> bool:
        return self.violation is not None

    def summary(self) -> str:
        verdict = f"violation after {len(self.path)} steps" if self.found else "no violation"
        hashed = "with" if self.hashing else "without"
        return (
            f"{verdict}; {self.states:,} states, {self.transitions:,} transitions, "
            f"depth {self.depth} of {self.bound}, {hashed} state hashing"
        )


@dataclass(frozen=True, slots=True)
class Replay:
    """A path run again: its trace, the nodes at its end, and the invariant's verdict there."""

    trace: Trace
    nodes: Mapping[str, Node]
    violation: str | None


@dataclass
class _Search:
    world: World
    invariant: Invariant
    final: Invariant | None
    losses: int | None
    duplicates: int | None
    hashing: bool
    seen: dict[Hashable, int] = field(default_factory=dict)  # state -> most steps left
    path: list[Step] = field(default_factory=list)
    states: int = 0
    transitions: int = 0
    deepest: int = 0

    def explore(self, state: State, left: int, losses: int, duplicates: int) -> str | None:
        """Depth first from `state` with `left` steps to go; the first violation found."""
        self.states += 1
        self.deepest = max(self.deepest, len(self.path))
        world, path = self.world, self.path
        if self.final is not None and not state.in_flight and not any(state.timers):
            return self.final(world.nodes)  # the run is over: nothing can happen any more
        if left == 0:
            return None
        steps = world.steps(state, losses=losses != 0, duplicates=duplicates != 0)
        for step in steps:
            lost = step.kind == "drop"
            copied = step.kind == "duplicate"
            after = world.step(state, step)
            self.transitions += 1
            path.append(step)
            problem = self._visit(after, left - 1, losses - lost, duplicates - copied)
            if problem is not None:
                return problem
            path.pop()
            if step.kind in ("deliver", "timer"):
                world.restore(state, step.dst)
        return None

    def _visit(self, state: State, left: int, losses: int, duplicates: int) -> str | None:
        if self.hashing:
            key = (state, losses, duplicates)
            if self.seen.get(key, -1) >= left:
                return None  # explored already, with at least as many steps to go
            self.seen[key] = left
        problem = self.invariant(self.world.nodes)
        if problem is not None:
            self.states += 1
            self.deepest = max(self.deepest, len(self.path))
            return problem
        return self.explore(state, left, losses, duplicates)


def search(
    factories: Mapping[str, NodeFactory],
    invariant: Invariant,
    *,
    depth: int,
    final: Invariant | None = None,
    losses: int | None = None,
    duplicates: int | None = 0,
    hashing: bool = True,
    shortest: bool = False,
) -> SearchResult:
    """Explore every run of at most `depth` steps of the nodes `factories` builds.

    Returns the first path to a state where `invariant` fails, or an empty
    path and no violation. `final`, if given, is checked where the run is
    over (nothing in flight, no timer pending). `losses` and `duplicates`
    bound the faults (None: any number). With `shortest`, the path is one
    of the fewest steps.
    """
    if depth < 0:
        raise ValueError(f"depth must be at least 0, got {depth}")
    totals = [0, 0, 0]
    for bound in range(0 if shortest else depth, depth + 1):
        run = _Search(World(factories), invariant, final, losses, duplicates, hashing)
        initial = run.world.start()
        problem = run.invariant(run.world.nodes)
        if problem is None:
            problem = run.explore(
                initial, bound, _budget(losses, bound), _budget(duplicates, bound)
            )
        else:
            run.states += 1
        totals = [totals[0] + run.states, totals[1] + run.transitions, max(totals[2], run.deepest)]
        if problem is not None:
            return SearchResult(problem, tuple(run.path), *totals, hashing, depth)
    return SearchResult(None, (), *totals, hashing, depth)


def _budget(limit: int | None, bound: int) -> int:
    return bound if limit is None else min(limit, bound)


def replay(
    factories: Mapping[str, NodeFactory],
    path: Sequence[Step],
    invariant: Invariant | None = None,
) -> Replay:
    """Run `path` again from the start, recording a trace; and check `invariant` at its end."""
    trace = Trace()
    world = World(factories, trace=trace)
    state = world.start()
    for number, step in enumerate(path, 1):
        if step not in world.steps(state, losses=True, duplicates=True):
            raise ValueError(f"step {number} ({step}) cannot happen there")
        state = world.step(state, step)
    violation = None if invariant is None else invariant(world.nodes)
    return Replay(trace, dict(world.nodes), violation)


def format_path(result: SearchResult) -> str:
    """The result's summary, then its path, one numbered step a line."""
    lines = [result.summary()]
    lines.extend(f"{number:>3}. {step}" for number, step in enumerate(result.path, 1))
    if result.found:
        lines.append(f"     => {result.violation}")
    return "\n".join(lines)
