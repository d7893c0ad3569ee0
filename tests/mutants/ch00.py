"""Plausible wrong answers to exercises/00-start-here.ipynb."""

import trio


async def run_one_after_another(jobs):
    return [await job() for job in jobs]


async def results_in_finishing_order(jobs):
    results = []

    async def run_one(job):
        results.append(await job())

    async with trio.open_nursery() as nursery:
        for job in jobs:
            nursery.start_soon(run_one, job)
    return results


async def waits_for_the_job_anyway(job, seconds):
    result = await job()
    with trio.move_on_after(seconds):
        return result
    return None


async def raises_on_timeout(job, seconds):
    with trio.fail_after(seconds):
        return await job()


async def mistakes_zero_for_nothing(job, seconds):
    result = None
    with trio.move_on_after(seconds):
        result = await job()
    return result or None


async def one_deadline_per_job(jobs, seconds):
    results = dict.fromkeys(jobs)
    for name, job in jobs.items():
        with trio.move_on_after(seconds):
            results[name] = await job()
    return results


async def drops_the_late_jobs(jobs, seconds):
    results = {}

    async def run_one(name, job):
        results[name] = await job()

    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            for name, job in jobs.items():
                nursery.start_soon(run_one, name, job)
    return results


async def always_waits_for_the_deadline(jobs, seconds):
    results = dict.fromkeys(jobs)

    async def run_one(name, job):
        results[name] = await job()

    async with trio.open_nursery() as nursery:
        nursery.cancel_scope.deadline = trio.current_time() + seconds
        for name, job in jobs.items():
            nursery.start_soon(run_one, name, job)
        await trio.sleep(seconds)
    return results


MUTANTS = {
    "check_run_concurrently": [run_one_after_another, results_in_finishing_order],
    "check_result_or_none": [
        waits_for_the_job_anyway,
        raises_on_timeout,
        mistakes_zero_for_nothing,
    ],
    "check_fan_out": [one_deadline_per_job, drops_the_late_jobs, always_waits_for_the_deadline],
}
