"""Graders for exercises/00-start-here.ipynb: fanning out under a deadline.

Every job the graders hand out is a small async function that sleeps for a
known time and returns a known value. The answers run in virtual time, so
the graders can tell concurrent from one-at-a-time by the clock: three
jobs of 1, 2 and 3 seconds take 3 seconds together, or 6 in a row. The
clock does not start at 0, so a deadline must be a duration from now.

Beyond the hand-picked cases, each grader runs seeded random batteries
(how many jobs, how long each takes, results that are 0, "" or None, the
deadline) and compares with what a correct answer gives, and runs two
answers at the same time, which shows state shared between calls.
"""

import random

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


def side_by_side(async_fn, *argument_lists):
    """Run `async_fn` on each argument list at the same time; return their results in order."""

    async def run():
        results = [None] * len(argument_lists)

        async def one(index, args):
            results[index] = await async_fn(*args)

        async with trio.open_nursery() as nursery:
            for index, args in enumerate(argument_lists):
                nursery.start_soon(one, index, args)
        return results

    return run


RESULTS = ["a", 0, "", None, False, 7, [1, 2], "z"]  # falsy results are results too


def random_durations(rng, count):
    """Durations in half seconds, so that virtual times add up exactly."""
    return [rng.randint(1, 10) / 2 for _ in range(count)]


GAVE_UP_AT_ONCE = (
    "It gave up at once: trio.move_on_after(seconds) counts from now, while "
    "trio.move_on_at(seconds) is a point on the clock, long past (the clock does not start at 0)."
)


def deadline_hint(took, otherwise):
    return GAVE_UP_AT_ONCE if took == 0 else otherwise


def describe_jobs(durations, values):
    return ", ".join(
        f"{seconds:g} s → {value!r}" for seconds, value in zip(durations, values, strict=True)
    )


# --- Task 1 -----------------------------------------------------------------------------------


@grader("Task 1 · run_concurrently")
def check_run_concurrently(cases, run_concurrently):
    jobs = [job(3, "a"), job(1, "b"), job(2, "c")]
    result, took = cases.run_async("three jobs of 3, 1 and 2 s", timed(run_concurrently, jobs))
    cases.same(
        "three jobs of 3, 1 and 2 s: results in the order of the jobs",
        result,
        ["a", "b", "c"],
        hint="Store each result at its job's index, not in the order jobs finish.",
    )
    cases.close(
        "three jobs of 3, 1 and 2 s: they run at the same time",
        took,
        3,
        unit=" s",
        hint="Start every job in one nursery with nursery.start_soon; don't await them in turn.",
    )
    empty, took = cases.run_async("no jobs at all", timed(run_concurrently, []))
    cases.same("no jobs: an empty list", empty, [])
    cases.close("no jobs: at once", took, 0, unit=" s")
    many = [job(1, n) for n in range(100)]
    result, took = cases.run_async("100 jobs of 1 s", timed(run_concurrently, many))
    cases.same("100 jobs of 1 s: 100 results in order", result, list(range(100)))
    cases.close("100 jobs of 1 s: all at once", took, 1, unit=" s")

    rng = random.Random(0)
    for run in range(6):
        durations = random_durations(rng, rng.randint(1, 12))
        values = [rng.choice(RESULTS) for _ in durations]
        case = f"random jobs {run}: {describe_jobs(durations, values)}"
        jobs = [job(seconds, value) for seconds, value in zip(durations, values, strict=True)]
        result, took = cases.run_async(case, timed(run_concurrently, jobs))
        cases.same(
            f"{case}: the results",
            result,
            values,
            hint="Every job's own result at its index, whatever it is and whenever it finishes.",
        )
        cases.close(f"{case}: as long as the slowest job", took, max(durations), unit=" s")

    first, second = [job(2, "first"), job(1, 1)], [job(1, "second"), job(3, 2), job(2, 3)]
    results = cases.run_async(
        "two calls at the same time, with 2 and 3 jobs",
        side_by_side(run_concurrently, [first], [second]),
    )
    cases.same(
        "two calls at the same time: each gets its own results",
        results,
        [["first", 1], ["second", 2, 3]],
        hint="Keep the results in a list made inside the call, not in anything shared by calls.",
    )


# --- Task 2 -----------------------------------------------------------------------------------


@grader("Task 2 · result_or_none")
def check_result_or_none(cases, result_or_none):
    result, took = cases.run_async("a 1 s job, 2 s allowed", timed(result_or_none, job(1, "x"), 2))
    cases.same(
        "a 1 s job, 2 s allowed: its result",
        result,
        "x",
        hint=deadline_hint(took, "Return what the job returns when it finishes in time."),
    )
    cases.close("a 1 s job, 2 s allowed: as soon as it is done", took, 1, unit=" s")
    log = []
    result, took = cases.run_async(
        "a 5 s job, 2 s allowed",
        timed(result_or_none, job(5, "x", log), 2),
        hint="trio.move_on_after cancels the job when time is up; fail_after raises instead.",
    )
    cases.same(
        "a 5 s job, 2 s allowed: None",
        result,
        None,
        hint="When time is up, return None.",
    )
    cases.close(
        "a 5 s job, 2 s allowed: None after 2 s",
        took,
        2,
        unit=" s",
        hint="Give up at the deadline: the caller must not wait for the job to finish.",
    )
    cases.true(
        "a 5 s job, 2 s allowed: the job is cancelled",
        ("done", "x") not in log,
        "the job ran to completion",
        hint="Await the job inside the cancel scope, so the deadline cancels it.",
    )
    for value in (0, "", False):
        result, took = cases.run_async(
            f"a 1 s job that returns {value!r}", timed(result_or_none, job(1, value), 2)
        )
        cases.same(
            f"a result of {value!r} is still a result",
            result,
            value,
            hint="Tell 'no result' from a falsy result: test whether the scope was cancelled.",
        )

    rng = random.Random(1)
    for run in range(8):
        seconds = rng.choice([0.5, 1.5, 3, 7.5])
        duration = seconds + rng.choice([-0.5, 0.5, 2]) if seconds > 0.5 else rng.choice([1, 2])
        value = rng.choice(RESULTS[:3])
        in_time = duration < seconds
        case = f"random case {run}: a {duration:g} s job returning {value!r}, {seconds:g} s allowed"
        result, took = cases.run_async(case, timed(result_or_none, job(duration, value), seconds))
        cases.same(
            f"{case}: {'its result' if in_time else 'None'}", result, value if in_time else None
        )
        cases.close(f"{case}: the time it took", took, min(duration, seconds), unit=" s")

    results = cases.run_async(
        "two calls at the same time: a 1 s job with 2 s allowed, a 3 s job with 1 s allowed",
        side_by_side(result_or_none, [job(1, "fast"), 2], [job(3, "slow"), 1]),
    )
    cases.same("two calls at the same time", results, ["fast", None])


# --- Task 3 -----------------------------------------------------------------------------------


@grader("Task 3 · fan_out")
def check_fan_out(cases, fan_out):
    log = []
    jobs = {"fast": job(1, "F", log), "slow": job(10, "S", log), "medium": job(2, "M", log)}
    result, took = cases.run_async(
        "jobs of 1, 10 and 2 s with a 3 s deadline", timed(fan_out, jobs, 3)
    )
    cases.same(
        "only the jobs that beat the deadline give a result",
        result,
        {"fast": "F", "slow": None, "medium": "M"},
        hint=deadline_hint(
            took, "One deadline for the whole fan-out; a job still running then maps to None."
        ),
    )
    cases.close(
        "the deadline covers all jobs together",
        took,
        3,
        unit=" s",
        hint="Put one trio.move_on_after around the nursery, not one per job in turn.",
    )
    cases.true(
        "the slow job is cancelled, not left running",
        ("done", "S") not in log,
        "the 10 s job ran to completion",
    )
    result, took = cases.run_async("all jobs finish early", timed(fan_out, {"a": job(1, 1)}, 5))
    cases.same("all jobs finish early: their results", result, {"a": 1})
    cases.close(
        "all jobs finish early: return as soon as every job is done",
        took,
        1,
        unit=" s",
        hint="Don't wait for the deadline when there is nothing left to wait for.",
    )
    result, took = cases.run_async("no jobs at all", timed(fan_out, {}, 5))
    cases.same("no jobs: an empty dict", result, {})
    cases.close("no jobs: at once", took, 0, unit=" s")

    rng = random.Random(2)
    for run in range(8):
        durations = random_durations(rng, rng.randint(1, 8))
        values = [rng.choice(RESULTS) for _ in durations]
        seconds = rng.choice([1.25, 2.25, 3.75, 6])
        names = [f"job {n}" for n in rng.sample(range(100), len(durations))]
        jobs = {
            name: job(d, value) for name, d, value in zip(names, durations, values, strict=True)
        }
        expected = {
            name: value if d < seconds else None
            for name, d, value in zip(names, durations, values, strict=True)
        }
        case = f"random fan-out {run}: {describe_jobs(durations, values)}; {seconds:g} s allowed"
        result, took = cases.run_async(case, timed(fan_out, jobs, seconds))
        cases.same(
            f"{case}: the results",
            result,
            expected,
            hint="Each name maps to its job's result if it finished in time (even 0, '' or "
            "None), else to None.",
        )
        cases.close(f"{case}: the time it took", took, min(seconds, max(durations)), unit=" s")

    results = cases.run_async(
        "two fan-outs at the same time",
        side_by_side(fan_out, [{"a": job(1, "A"), "b": job(4, "B")}, 2], [{"c": job(3, "C")}, 5]),
    )
    cases.same(
        "two fan-outs at the same time: each its own results",
        results,
        [{"a": "A", "b": None}, {"c": "C"}],
        hint="Keep the results in a dict made inside the call, not in anything shared by calls.",
    )
