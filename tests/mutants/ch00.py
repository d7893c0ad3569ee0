"""Answers to exercises/00-start-here.ipynb: wrong ones the graders must reject (MUTANTS), and
right ones written another way that they must accept (ALTERNATIVES)."""

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


async def inserts_at_the_index(jobs):
    results = []

    async def run_one(index, job):
        results.insert(index, await job())  # right only if the jobs finish in order

    async with trio.open_nursery() as nursery:
        for index, job in enumerate(jobs):
            nursery.start_soon(run_one, index, job)
    return results


SHARED_RESULTS = {}


async def keeps_results_outside_the_call(jobs):
    async def run_one(index, job):
        SHARED_RESULTS[index] = await job()

    async with trio.open_nursery() as nursery:
        for index, job in enumerate(jobs):
            nursery.start_soon(run_one, index, job)
    return [SHARED_RESULTS[index] for index in range(len(jobs))]


async def polls_until_all_are_done(jobs):
    results, done = [None] * len(jobs), []

    async def run_one(index, job):
        results[index] = await job()
        done.append(index)

    async with trio.open_nursery() as nursery:
        for index, job in enumerate(jobs):
            nursery.start_soon(run_one, index, job)
        while len(done) < len(jobs):  # never blocks, so virtual time never moves
            await trio.sleep(0)
    return results


async def deadline_at_a_point_in_time(job, seconds):
    with trio.move_on_at(seconds):  # a time on the clock, not a duration from now
        return await job()
    return None


async def fan_out_deadline_at_a_point_in_time(jobs, seconds):
    results = dict.fromkeys(jobs)

    async def run_one(name, job):
        results[name] = await job()

    with trio.move_on_at(seconds):
        async with trio.open_nursery() as nursery:
            for name, job in jobs.items():
                nursery.start_soon(run_one, name, job)
    return results


async def fan_out_mistakes_zero_for_nothing(jobs, seconds):
    results = {}

    async def run_one(name, job):
        results[name] = await job()

    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            for name, job in jobs.items():
                nursery.start_soon(run_one, name, job)
    return {name: results.get(name) or None for name in jobs}


MUTANTS = {
    "check_run_concurrently": [
        run_one_after_another,
        results_in_finishing_order,
        inserts_at_the_index,
        keeps_results_outside_the_call,
        polls_until_all_are_done,
    ],
    "check_result_or_none": [
        waits_for_the_job_anyway,
        raises_on_timeout,
        mistakes_zero_for_nothing,
        deadline_at_a_point_in_time,
    ],
    "check_fan_out": [
        one_deadline_per_job,
        drops_the_late_jobs,
        always_waits_for_the_deadline,
        fan_out_deadline_at_a_point_in_time,
        fan_out_mistakes_zero_for_nothing,
    ],
}


# --- Right answers, written another way -------------------------------------------------------


async def results_in_a_dict_by_index(jobs):
    results = {}

    async def run_one(index, job):
        results[index] = await job()

    async with trio.open_nursery() as nursery:
        for index, job in enumerate(jobs):
            nursery.start_soon(run_one, index, job)
    return [results[index] for index in range(len(jobs))]


async def results_through_a_channel(jobs):
    send, receive = trio.open_memory_channel(len(jobs))
    results = [None] * len(jobs)

    async def run_one(index, job):
        await send.send((index, await job()))

    async with trio.open_nursery() as nursery:
        for index, job in enumerate(jobs):
            nursery.start_soon(run_one, index, job)
    send.close()
    async for index, result in receive:
        results[index] = result
    return results


async def checks_cancelled_caught(job, seconds):
    result = None
    with trio.move_on_after(seconds) as scope:
        result = await job()
    return None if scope.cancelled_caught else result


async def catches_too_slow(job, seconds):
    try:
        with trio.fail_after(seconds):
            return await job()
    except trio.TooSlowError:
        return None


async def deadline_from_the_clock(job, seconds):
    with trio.move_on_at(trio.current_time() + seconds):
        return await job()
    return None


async def fan_out_with_a_deadline_on_the_nursery(jobs, seconds):
    results = {name: None for name in jobs}

    async def run_one(name, job):
        results[name] = await job()

    async with trio.open_nursery() as nursery:
        nursery.cancel_scope.deadline = trio.current_time() + seconds
        for name, job in jobs.items():
            nursery.start_soon(run_one, name, job)
    return results


async def fan_out_with_result_or_none(jobs, seconds):
    results = {}
    deadline = trio.current_time() + seconds

    async def run_one(name, job):
        with trio.move_on_at(deadline):  # one deadline, shared by every job
            results[name] = await job()

    async with trio.open_nursery() as nursery:
        for name, job in jobs.items():
            nursery.start_soon(run_one, name, job)
    return {name: results.get(name) for name in jobs}


ALTERNATIVES = {
    "check_run_concurrently": [results_in_a_dict_by_index, results_through_a_channel],
    "check_result_or_none": [checks_cancelled_caught, catches_too_slow, deadline_from_the_clock],
    "check_fan_out": [fan_out_with_a_deadline_on_the_nursery, fan_out_with_result_or_none],
}
