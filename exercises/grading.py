"""The one grader helper every chapter's exercises use.

A grader is a function that takes the learner's answer (a function or a
class) and tries it on a battery of cases. It is written with `@grader`
and receives a `Cases` object whose methods each try one case:

    @grader("Task 1 · encode_frame")
    def check_encode_frame(cases, encode_frame):
        cases.equal("an empty payload", lambda: encode_frame(b""), b"\\0\\0\\0\\0",
                    hint="The header is there even when the payload is empty.")

The first case that fails stops the battery. The learner sees one short
verdict: which case, what was expected and what came back (in full, or
where the two first differ), and a hint. A pass prints a single line with
a tick. A failure raises `TaskFailed`, so the cell turns red in JupyterLab
and `make check` (nbval) counts the task as failed; IPython shows only the
verdict, not a traceback into this module. How a verdict compares values
(as plain values: a list for a tuple, but not `True` for `1`) and shows
them and exceptions is `exercises/verdicts.py`.

Async answers run under `run_async`, inside a deadline. By default the
deadline is in virtual time (Trio's `MockClock` with autojump), on a clock
that starts at `VIRTUAL_CLOCK_START`, not at 0: sleeps in the answer take no
wall time, a deadlock is detected at once (the clock jumps straight to the
deadline when every task is blocked), and an answer that mistakes a
duration for a point in time fails. A loop that never lets virtual time
pass is stopped by a budget of real seconds. Code that waits on real
sockets must pass `virtual_time=False`, and then the deadline is in seconds
of real time.

Simulator answers run under `run_simulation`, within a `Budget` of messages
sent, events run and real seconds, so a retransmission storm or a timer
that fires again at once fails in seconds, with the count that shows it.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import math
import sys
import time
import traceback
import types
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio.testing

from exercises.verdicts import (
    describe,
    difference,
    exception_names,
    exceptions_inside,
    not_written,
    same_value,
)

GRADERS: dict[str, Callable[[Any], None]] = {}

VIRTUAL_CLOCK_START = 10_000.0
"""Where virtual clocks start: an answer that reads durations as times fails."""

_SLICE = 64  # simulator events between two looks at the budget


class TaskFailed(AssertionError):
    """A task's answer failed a case. Its message is the whole verdict."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [str(self)]


class _CaseFailed(Exception):
    def __init__(self, case: str, problem: str, hint: str) -> None:
        super().__init__(case)
        self.case, self.problem, self.hint = case, problem, hint


@dataclasses.dataclass(frozen=True)
class Budget:
    """What one simulator run may use: messages sent, events run, real seconds.

    `senders` are the nodes whose sends count (every node if empty); `task`
    and `usual` explain the count to the learner: "sent 4,361 messages
    {task} ({usual})", e.g. "for 50" and "a correct sender needs about 93".
    """

    sends: int
    events: int
    wall_seconds: float = 5.0
    senders: tuple[str, ...] = ()
    task: str = ""
    usual: str = ""


class Cases:
    """Tries cases against an answer; each method is one case."""

    def __init__(self) -> None:
        self.count = 0

    def call(self, case: str, fn: Callable[[], Any], *, hint: str = "") -> Any:
        """Run `fn()` and return what it returns; an exception fails the case."""
        self.count += 1
        return _attempt(case, fn, hint)

    def equal(self, case: str, fn: Callable[[], Any], expected: Any, *, hint: str = "") -> Any:
        """`fn()` must return `expected`, as a plain value (see `same_value`)."""
        got = self.call(case, fn, hint=hint)
        _compare(case, got, expected, hint)
        return got

    def same(self, case: str, got: Any, expected: Any, *, hint: str = "") -> None:
        """A value the grader already has must be `expected`, as a plain value."""
        self.count += 1
        _compare(case, got, expected, hint)

    def close(
        self, case: str, got: Any, expected: float, *, unit: str = "", hint: str = ""
    ) -> None:
        """`got` must be a number within a rounding error of `expected`."""
        self.count += 1
        number = isinstance(got, int | float) and not isinstance(got, bool)
        if not (number and math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9)):
            shown = f"{got:.12g}" if number else repr(got)
            raise _CaseFailed(case, f"expected {expected:.12g}{unit}, got {shown}{unit}", hint)

    def true(self, case: str, condition: bool, problem: str, *, hint: str = "") -> None:
        """A condition computed by the grader; `problem` says what went wrong."""
        self.count += 1
        if not condition:
            raise _CaseFailed(case, problem, hint)

    def raises(
        self,
        case: str,
        fn: Callable[[], Any],
        expected: type[BaseException] | tuple[type[BaseException], ...],
        *,
        hint: str = "",
    ) -> BaseException:
        """`fn()` must raise `expected` (or a subclass, or a group of them); return it."""
        self.count += 1
        names = exception_names(expected)
        try:
            got = fn()
        except expected as exc:
            return exc
        except Exception as exc:
            leaves = exceptions_inside(exc)
            if leaves and all(isinstance(leaf, expected) for leaf in leaves):
                return leaves[0]
            if any(isinstance(leaf, NotImplementedError) for leaf in leaves):
                raise _CaseFailed(case, not_written(leaves), hint) from None
            raise _CaseFailed(case, f"expected {names}, got {describe(exc)}", hint) from None
        raise _CaseFailed(case, f"expected {names} to be raised, got {got!r}", hint)

    def run_async(
        self,
        case: str,
        async_fn: Callable[..., Awaitable[Any]],
        *args: Any,
        deadline: float = 10.0,
        virtual_time: bool = True,
        wall_seconds: float = 3.0,
        hint: str = "",
    ) -> Any:
        """Run `await async_fn(*args)` in a fresh `trio.run`, within `deadline` seconds.

        In virtual time, `wall_seconds` of real time is the budget of a run
        whose clock never moves (a loop of `await trio.sleep(0)`, say).
        """
        self.count += 1
        clock, instruments = None, []
        real_time = _RealTimeBudget(wall_seconds)
        if virtual_time:
            clock = trio.testing.MockClock(autojump_threshold=0)
            clock.jump(VIRTUAL_CLOCK_START)
            instruments.append(real_time)

        async def bounded() -> tuple[bool, Any, float]:
            start = trio.current_time()
            with trio.move_on_after(deadline) as real_time.scope:
                return True, await async_fn(*args), 0.0
            return False, None, trio.current_time() - start

        finished, result, waited = _attempt(
            case, lambda: trio.run(bounded, clock=clock, instruments=instruments), hint
        )
        if real_time.exceeded:
            problem = (
                f"still running after {wall_seconds:g} s of real time, though only "
                f"{waited:g} s of virtual time had passed: a loop that never waits "
                "(polling with trio.sleep(0)?)"
            )
            raise _CaseFailed(case, problem, hint)
        if not finished:
            unit = "seconds of virtual time" if virtual_time else "seconds"
            problem = f"did not finish within {deadline:g} {unit} (stuck waiting?)"
            raise _CaseFailed(case, problem, hint)
        return result

    def run_simulation(
        self, case: str, sim: Any, *, until: float, budget: Budget, hint: str = ""
    ) -> None:
        """Run the simulation `sim` up to virtual time `until`, within `budget`."""
        self.count += 1
        started = time.monotonic()
        sends = events = events_read = 0
        while True:
            processed = _attempt(case, lambda: sim.run(until=until, max_events=_SLICE), hint)
            events += processed
            recorded = sim.trace.events
            sends += sum(
                1
                for event in recorded[events_read:]
                if event.kind == "send" and (not budget.senders or event.src in budget.senders)
            )
            events_read = len(recorded)
            at = f"by t={sim.now:.3f} s of virtual time"
            if sends > budget.sends:
                problem = f"sent {sends:,} messages {budget.task}".rstrip()
                problem += f" ({budget.usual})" if budget.usual else ""
                problem += f", and was still sending {at}: over the budget of {budget.sends:,}"
                raise _CaseFailed(case, problem, hint)
            if events > budget.events:
                problem = (
                    f"ran {events:,} events {at}, over the budget of {budget.events:,}: "
                    "a timer that fires again without letting time pass (a delay of 0?)"
                )
                raise _CaseFailed(case, problem, hint)
            if time.monotonic() - started > budget.wall_seconds:
                problem = f"took over {budget.wall_seconds:g} s of real time {at}"
                raise _CaseFailed(case, problem, hint)
            if processed < _SLICE:
                return


def grader(title: str) -> Callable[[Callable[..., None]], Callable[[Any], None]]:
    """Turn `battery(cases, answer)` into `check(answer)`, which prints a tick or raises."""

    def decorate(battery: Callable[..., None]) -> Callable[[Any], None]:
        @functools.wraps(battery)
        def check(answer: Any) -> None:
            passed, message = _grade(title, battery, answer)
            if not passed:
                raise TaskFailed(message)
            print(message)  # and return nothing, or a notebook would show the line again

        check.title = title  # type: ignore[attr-defined]
        GRADERS[f"{battery.__module__}.{battery.__name__}"] = check
        return check

    return decorate


def _grade(title: str, battery: Callable[..., None], answer: Any) -> tuple[bool, str]:
    cases = Cases()
    try:
        battery(cases, answer)
    except _CaseFailed as failure:
        lines = [
            f"✗ {title}: case {cases.count} failed: {failure.case}",
            f"  {failure.problem}",
        ]
        if failure.hint:
            lines.append(f"  Hint: {failure.hint}")
        return False, "\n".join(lines)
    except Exception as exc:  # the answer broke the grader itself (wrong type, say)
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return False, f"✗ {title}: {describe(exc)} (at line {where.lineno} of {where.name})"
    return True, f"✓ {title}: all {cases.count} cases pass"


def _attempt(case: str, fn: Callable[[], Any], hint: str) -> Any:
    try:
        return fn()
    except (TaskFailed, _CaseFailed):
        raise
    except Exception as exc:
        leaves = exceptions_inside(exc)
        if any(isinstance(leaf, NotImplementedError) for leaf in leaves):
            raise _CaseFailed(case, not_written(leaves), hint) from None
        raise _CaseFailed(case, f"raised {describe(exc)}", hint) from None


def _compare(case: str, got: Any, expected: Any, hint: str) -> None:
    if not same_value(expected, got):
        raise _CaseFailed(case, difference(expected, got), hint)


class _RealTimeBudget(trio.abc.Instrument):
    """Cancels `scope` once a run has taken `seconds` of real time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.scope: trio.CancelScope | None = None
        self.exceeded = False
        self.started = time.monotonic()

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        late = time.monotonic() - self.started > self.seconds
        if late and self.scope is not None and not self.exceeded:
            self.exceeded = True
            self.scope.cancel()


def retained_bytes(root: Any) -> int:
    """The memory `root` holds: its size and that of everything it refers to, however deep.

    Classes, modules and functions are shared by every instance, so they do not count.
    """
    seen, stack, total = set(), [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SHARED):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


_SHARED = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType)
