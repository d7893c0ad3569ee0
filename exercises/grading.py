"""The one grader helper every chapter's exercises use.

A grader is a function that takes the learner's answer (a function or a
class) and tries it on a battery of cases. It is written with `@grader`
and receives a `Cases` object whose methods each try one case:

    @grader("Task 1 · encode_frame")
    def check_encode_frame(cases, encode_frame):
        cases.equal("an empty payload", lambda: encode_frame(b""), b"\\0\\0\\0\\0",
                    hint="The header is there even when the payload is empty.")

The first case that fails stops the battery. The learner sees one short
verdict: which case, what was expected, what came back, and a hint. A pass
prints a single line with a tick. A failure raises `TaskFailed`, so the
cell turns red in JupyterLab and `make check` (nbval) counts the task as
failed; IPython shows only the verdict, not a traceback into this module.

Async answers run under `run_async`, inside a deadline. By default the
deadline is in virtual time (Trio's `MockClock` with autojump): sleeps in
the answer take no wall time, and a deadlock is detected at once, because
the clock jumps straight to the deadline when every task is blocked. Code
that waits on real sockets must pass `virtual_time=False`, and then the
deadline is in seconds of real time.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio.testing

GRADERS: dict[str, Callable[[Any], Verdict]] = {}


class TaskFailed(AssertionError):
    """A task's answer failed a case. Its message is the whole verdict."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [str(self)]


class _CaseFailed(Exception):
    def __init__(self, case: str, problem: str, hint: str) -> None:
        super().__init__(case)
        self.case, self.problem, self.hint = case, problem, hint


class Verdict:
    """The outcome of grading one task: `passed`, how many cases, and why not."""

    def __init__(self, title: str, passed: bool, cases: int, message: str) -> None:
        self.title, self.passed, self.cases, self.message = title, passed, cases, message

    def __repr__(self) -> str:
        return self.message

    def __bool__(self) -> bool:
        return self.passed


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
        try:
            return fn()
        except (TaskFailed, _CaseFailed):
            raise
        except NotImplementedError as exc:
            raise _CaseFailed(case, f"not written yet (NotImplementedError: {exc})", hint) from None
        except Exception as exc:
            raise _CaseFailed(case, f"raised {_describe(exc)}", hint) from None

    def equal(self, case: str, fn: Callable[[], Any], expected: Any, *, hint: str = "") -> Any:
        """`fn()` must return `expected` (compared with ==, types included)."""
        got = self.call(case, fn, hint=hint)
        if got != expected or type(got) is not type(expected):
            raise _CaseFailed(case, f"expected {short(expected)}, got {short(got)}", hint)
        return got

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
        """`fn()` must raise `expected` (or a subclass); return the exception."""
        self.count += 1
        names = _names(expected)
        try:
            got = fn()
        except expected as exc:
            return exc
        except NotImplementedError as exc:
            raise _CaseFailed(case, f"not written yet (NotImplementedError: {exc})", hint) from None
        except Exception as exc:
            raise _CaseFailed(case, f"expected {names}, got {_describe(exc)}", hint) from None
        raise _CaseFailed(case, f"expected {names} to be raised, got {short(got)}", hint)

    def run_async(
        self,
        case: str,
        async_fn: Callable[..., Awaitable[Any]],
        *args: Any,
        deadline: float = 10.0,
        virtual_time: bool = True,
        hint: str = "",
    ) -> Any:
        """Run `await async_fn(*args)` in a fresh `trio.run`, within `deadline` seconds."""
        clock = trio.testing.MockClock(autojump_threshold=0) if virtual_time else None
        unit = "seconds of virtual time" if virtual_time else "seconds"

        async def bounded() -> tuple[bool, Any]:
            with trio.move_on_after(deadline):
                return True, await async_fn(*args)
            return False, None

        finished, result = self.call(case, lambda: trio.run(bounded, clock=clock), hint=hint)
        if not finished:
            problem = f"did not finish within {deadline:g} {unit} (stuck waiting?)"
            raise _CaseFailed(case, problem, hint)
        return result


def grader(title: str) -> Callable[[Callable[..., None]], Callable[[Any], Verdict]]:
    """Turn `battery(cases, answer)` into `check(answer) -> Verdict`."""

    def decorate(battery: Callable[..., None]) -> Callable[[Any], Verdict]:
        @functools.wraps(battery)
        def check(answer: Any) -> Verdict:
            verdict = _grade(title, battery, answer)
            if not verdict.passed:
                raise TaskFailed(verdict.message)
            print(verdict.message)
            return verdict

        check.title = title  # type: ignore[attr-defined]
        GRADERS[f"{battery.__module__}.{battery.__name__}"] = check
        return check

    return decorate


def _grade(title: str, battery: Callable[..., None], answer: Any) -> Verdict:
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
        return Verdict(title, False, cases.count, "\n".join(lines))
    except Exception as exc:  # the answer broke the grader itself (wrong type, say)
        where = traceback.extract_tb(exc.__traceback__)[-1]
        message = f"✗ {title}: {_describe(exc)} (at line {where.lineno} of {where.name})"
        return Verdict(title, False, cases.count, message)
    return Verdict(title, True, cases.count, f"✓ {title}: all {cases.count} cases pass")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {short(text, 200)}" if text else type(exc).__name__


def _names(expected: type[BaseException] | tuple[type[BaseException], ...]) -> str:
    if isinstance(expected, tuple):
        return " or ".join(cls.__name__ for cls in expected)
    return expected.__name__
