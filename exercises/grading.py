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
verdict, not a traceback into this module. An exception from the answer is
shown with the line of the answer that raised it; an `ExceptionGroup` (from
a nursery) is shown by the exceptions inside it.

Values are compared as plain values (`same_value`): a tuple and a list with
the same items are the same, because a tuple sent over the network arrives
as a list; but `True` is not `1`.

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
import os
import sys
import sysconfig
import time
import traceback
import types
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
import trio.testing

GRADERS: dict[str, Callable[[Any], None]] = {}

VIRTUAL_CLOCK_START = 10_000.0
"""Where virtual clocks start: an answer that reads durations as times fails."""

_NOT_THE_ANSWER = tuple(
    str(path) + os.sep
    for path in (
        Path(__file__).resolve().parent,  # the graders
        Path(__file__).resolve().parent.parent / "reference",
        Path(trio.__file__).resolve().parent,
        *(Path(sysconfig.get_path(name)).resolve() for name in ("stdlib", "purelib", "platlib")),
    )
)


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


def short(value: Any, limit: int = 80) -> str:
    """`repr(value)`, cut to `limit` characters so a verdict stays readable."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...)"


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

    def close(self, case: str, got: Any, expected: float, *, unit: str = "", hint: str = ""):
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
        names = _names(expected)
        try:
            got = fn()
        except expected as exc:
            return exc
        except Exception as exc:
            leaves = _leaves(exc)
            if leaves and all(isinstance(leaf, expected) for leaf in leaves):
                return leaves[0]
            if any(isinstance(leaf, NotImplementedError) for leaf in leaves):
                raise _CaseFailed(case, _not_written(leaves), hint) from None
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
        budget = _RealTimeBudget(wall_seconds)
        if virtual_time:
            clock = trio.testing.MockClock(autojump_threshold=0)
            clock.jump(VIRTUAL_CLOCK_START)
            instruments.append(budget)

        async def bounded() -> tuple[bool, Any, float]:
            start = trio.current_time()
            with trio.move_on_after(deadline) as budget.scope:
                return True, await async_fn(*args), 0.0
            return False, None, trio.current_time() - start

        finished, result, waited = _attempt(
            case, lambda: trio.run(bounded, clock=clock, instruments=instruments), hint
        )
        if budget.exceeded:
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

    def run_simulation(self, case: str, sim: Any, *, until: float, budget: Budget, hint: str = ""):
        """Run the simulation `sim` up to virtual time `until`, within `budget`."""
        self.count += 1
        started = time.monotonic()
        sends = events = rows_read = 0
        while True:
            processed = _attempt(case, lambda: sim.run(until=until, max_events=_SLICE), hint)
            events += processed
            rows = sim.trace.rows
            sends += sum(
                1
                for row in rows[rows_read:]
                if row[0] == "send" and (not budget.senders or row[2] in budget.senders)
            )
            rows_read = len(rows)
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


_SLICE = 64  # simulator events between two looks at the budget


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
        leaves = _leaves(exc)
        if any(isinstance(leaf, NotImplementedError) for leaf in leaves):
            raise _CaseFailed(case, _not_written(leaves), hint) from None
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


# --- Comparing values, and saying how they differ ---------------------------------------------


def same_value(expected: Any, got: Any) -> bool:
    """Whether `got` is `expected` as a plain value.

    Lists and tuples with the same items are the same, and so are dicts with
    the same items; `True` and `1` are not; anything else compares with ==.
    """
    if isinstance(expected, list | tuple):
        return (
            isinstance(got, list | tuple)
            and len(got) == len(expected)
            and all(map(same_value, expected, got))
        )
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(same_value(value, got[key]) for key, value in expected.items())
        )
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(got) is type(expected) and got == expected
    try:
        return bool(got == expected)
    except Exception:
        return False


_WHOLE = 240  # a verdict shows both values whole when they fit in about this many characters


def difference(expected: Any, got: Any) -> str:
    """'expected X, got Y' in full, or for long values, where they first differ."""
    whole = f"expected {expected!r}, got {got!r}"
    if len(whole) <= _WHOLE:
        return whole
    where, expected_part, got_part = _first_difference(expected, got, "")
    if not where:  # nothing smaller to point at
        return whole
    return (
        f"expected {_whole_or_size(expected)}, got {_whole_or_size(got)}; they first differ "
        f"at {where}: expected {_part(expected_part)}, got {_part(got_part)}"
    )


class _Missing:
    def __repr__(self) -> str:
        return "nothing (it ends before)"


_END = _Missing()


def _first_difference(expected: Any, got: Any, where: str) -> tuple[str, Any, Any]:
    if isinstance(expected, list | tuple) and isinstance(got, list | tuple):
        for index, (item, other) in enumerate(zip(expected, got, strict=False)):
            if not same_value(item, other):
                return _first_difference(item, other, f"{where}[{index}]")
        index = min(len(expected), len(got))
        return f"{where}[{index}]", _item(expected, index), _item(got, index)
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in [*expected, *(key for key in got if key not in expected)]:
            item, other = expected.get(key, _END), got.get(key, _END)
            if not same_value(item, other):
                return _first_difference(item, other, f"{where}[{key!r}]")
    if dataclasses.is_dataclass(expected) and type(got) is type(expected):
        for field in dataclasses.fields(expected):
            item, other = getattr(expected, field.name), getattr(got, field.name)
            if not same_value(item, other):
                return _first_difference(item, other, f"{where}.{field.name}")
    long = len(repr(expected)) > _WHOLE // 3
    for kind in (str, bytes | bytearray):
        if long and isinstance(expected, kind) and isinstance(got, kind):
            start = next(
                (i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
                min(len(expected), len(got)),
            )
            return f"{where}[{start}:]", expected[start : start + 40], got[start : start + 40]
    return where, expected, got


def _item(sequence: Any, index: int) -> Any:
    return sequence[index] if index < len(sequence) else _END


def _size(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return f"{len(value):,} bytes"
    if isinstance(value, str):
        return f"a string of {len(value):,} characters"
    if isinstance(value, list | tuple | dict):
        noun = "keys" if isinstance(value, dict) else "items"
        return f"a {type(value).__name__} of {len(value):,} {noun}"
    return repr(value)


def _whole_or_size(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _WHOLE // 3 else _size(value)


def _part(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _WHOLE else f"{_size(value)} that begins {text[:_WHOLE]}"


# --- Describing exceptions --------------------------------------------------------------------


def describe(exc: BaseException) -> str:
    """An exception as the learner needs it: type, message, and the line of the answer."""
    leaves = _leaves(exc)
    if leaves != [exc]:
        inside = "; ".join(_one(leaf) for leaf in leaves)
        return f"{inside} (inside an {type(exc).__name__}, as a nursery raises it)"
    return _one(exc)


def _one(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frame = next(
        (
            frame
            for frame in reversed(traceback.extract_tb(exc.__traceback__))
            if not os.path.abspath(frame.filename).startswith(_NOT_THE_ANSWER)
        ),
        None,
    )
    if frame is None:
        return text
    line = f": {frame.line.strip()}" if frame.line else ""
    return f"{text} (in {frame.name}, line {frame.lineno}{line})"


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _not_written(leaves: list[BaseException]) -> str:
    stub = next(leaf for leaf in leaves if isinstance(leaf, NotImplementedError))
    return f"not written yet (NotImplementedError: {stub})"


def _names(expected: type[BaseException] | tuple[type[BaseException], ...]) -> str:
    if isinstance(expected, tuple):
        return " or ".join(cls.__name__ for cls in expected)
    return expected.__name__
