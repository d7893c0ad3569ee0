"""Graders for exercises/00-start-here.ipynb: fanning out under a deadline.

Every job the graders hand out is a small async function that sleeps for a
known time and returns a known value. The answers run in virtual time, so
the graders can tell concurrent from one-at-a-time by the clock: three
jobs of 1, 2 and 3 seconds take 3 seconds together, or 6 in a row.
"""

import trio

from exercises.grading import grader


def job(seconds, value, log=None):
    """An async callable that takes `seconds` and returns `value`."""

    async def run():
        if log is not None:
            log.append(("start", value))
        await trio.sleep(seconds)
        if log is not None:
            log.append(("done", value))
        return value

    run.__name__ = run.__qualname__ = f"job_{value}"
    return run


def timed(async_fn, *args):
    """Wrap `async_fn(*args)` so it returns (result, virtual seconds taken)."""

    async def run():
        start = trio.current_time()
        result = await async_fn(*args)
        return result, trio.current_time() - start

    return run


@grader("Task 1 · run_concurrently")
def check_run_concurrently(cases, run_concurrently):
    jobs = [job(3, "a"), job(1, "b"), job(2, "c")]
    result, took = cases.run_async("three jobs of 3, 1 and 2 s", timed(run_concurrently, jobs))
    cases.true(
        "results in the order of the jobs",
        result == ["a", "b", "c"],
        f"expected ['a', 'b', 'c'], got {result!r}",
        hint="Store each result at its job's index, not in the order jobs finish.",
    )
    cases.true(
        "the jobs run at the same time",
        took == 3,
        f"expected 3 s (the slowest job), took {took:g} s",
        hint="Start every job in one nursery with nursery.start_soon; don't await them in turn.",
    )
    empty, took = cases.run_async("no jobs at all", timed(run_concurrently, []))
    cases.true("no jobs", empty == [] and took == 0, f"expected [] at once, got {empty!r}")
    many = [job(1, n) for n in range(100)]
    result, took = cases.run_async("100 jobs of 1 s", timed(run_concurrently, many))
    cases.true(
        "100 jobs of 1 s",
        result == list(range(100)) and took == 1,
        f"expected [0, 1, ..., 99] after 1 s, got {len(result)} results after {took:g} s",
    )


@grader("Task 2 · result_or_none")
def check_result_or_none(cases, result_or_none):
    result, took = cases.run_async("a 1 s job, 2 s allowed", timed(result_or_none, job(1, "x"), 2))
    cases.true("fast job", result == "x" and took == 1, f"expected 'x' after 1 s, got {result!r}")
    result, took = cases.run_async(
        "a 5 s job, 2 s allowed",
        timed(result_or_none, job(5, "x"), 2),
        hint="trio.move_on_after cancels the job when time is up; fail_after raises instead.",
    )
    cases.true(
        "slow job gives None after the deadline",
        result is None and took == 2,
        f"expected None after 2 s, got {result!r} after {took:g} s",
        hint="Give up at the deadline: the caller must not wait for the job to finish.",
    )
    result, took = cases.run_async("a 1 s job that returns 0", timed(result_or_none, job(1, 0), 2))
    cases.true(
        "a result of 0 is still a result",
        result == 0 and took == 1,
        f"expected 0 after 1 s, got {result!r} after {took:g} s",
        hint="Tell 'no result' from a falsy result: test whether the scope was cancelled.",
    )


@grader("Task 3 · fan_out")
def check_fan_out(cases, fan_out):
    log = []
    jobs = {"fast": job(1, "F", log), "slow": job(10, "S", log), "medium": job(2, "M", log)}
    result, took = cases.run_async(
        "jobs of 1, 10 and 2 s with a 3 s deadline", timed(fan_out, jobs, 3)
    )
    cases.true(
        "only the jobs that beat the deadline give a result",
        result == {"fast": "F", "slow": None, "medium": "M"},
        f"expected {{'fast': 'F', 'slow': None, 'medium': 'M'}}, got {result!r}",
        hint="One deadline for the whole fan-out; a job still running then maps to None.",
    )
    cases.true(
        "the deadline covers all jobs together",
        took == 3,
        f"expected to return after 3 s, took {took:g} s",
        hint="Put one trio.move_on_after around the nursery, not one per job in turn.",
    )
    cases.true(
        "the slow job is cancelled, not left running",
        ("done", "S") not in log,
        "the 10 s job ran to completion",
    )
    result, took = cases.run_async("all jobs finish early", timed(fan_out, {"a": job(1, 1)}, 5))
    cases.true(
        "return as soon as every job is done",
        result == {"a": 1} and took == 1,
        f"expected {{'a': 1}} after 1 s, got {result!r} after {took:g} s",
        hint="Don't wait for the deadline when there is nothing left to wait for.",
    )
