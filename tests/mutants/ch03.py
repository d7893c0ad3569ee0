"""Plausible wrong answers to exercises/03-communication-paradigms.ipynb."""

import trio

from reference.rpc.pending import UnknownCallId
from reference.rpc.wire import Request

# --- Task 1: PendingCalls ---------------------------------------------------------------------


class IdIsTheTableSize:
    """Takes the next id from the table's size, so ids come back once calls are gone."""

    def __init__(self):
        self.waiters = {}
        self.late_replies = 0

    def __len__(self):
        return len(self.waiters)

    def add(self, waiter):
        call_id = len(self.waiters)
        self.waiters[call_id] = waiter
        return call_id

    def pop(self, call_id):
        if call_id in self.waiters:
            return self.waiters.pop(call_id)
        if not isinstance(call_id, int) or call_id < 0:
            raise UnknownCallId(call_id)
        self.late_replies += 1
        return None

    def discard(self, call_id):
        self.waiters.pop(call_id, None)

    def pop_all(self):
        waiters = list(self.waiters.values())
        self.waiters.clear()
        return waiters


class EveryUnknownIdIsLate(IdIsTheTableSize):
    """Counts an id that was never issued as a late reply instead of raising."""

    def __init__(self):
        super().__init__()
        self.next_id = 0

    def add(self, waiter):
        call_id = self.next_id
        self.next_id += 1
        self.waiters[call_id] = waiter
        return call_id

    def pop(self, call_id):
        if call_id in self.waiters:
            return self.waiters.pop(call_id)
        self.late_replies += 1
        return None


class PopLeavesTheEntry(EveryUnknownIdIsLate):
    """Looks the waiter up without removing it: a duplicate reply reaches the caller twice."""

    def pop(self, call_id):
        if call_id in self.waiters:
            return self.waiters[call_id]
        if not isinstance(call_id, int) or not 0 <= call_id < self.next_id:
            raise UnknownCallId(call_id)
        self.late_replies += 1
        return None


class PopAllKeepsTheTable(EveryUnknownIdIsLate):
    """Returns every waiter on a lost connection but leaves them in the table."""

    def pop(self, call_id):
        if call_id in self.waiters:
            return self.waiters.pop(call_id)
        if not isinstance(call_id, int) or not 0 <= call_id < self.next_id:
            raise UnknownCallId(call_id)
        self.late_replies += 1
        return None

    def pop_all(self):
        return list(self.waiters.values())


# --- Task 2: call_with_deadline ---------------------------------------------------------------


class Reply:
    def __init__(self):
        self.arrived = trio.Event()
        self.value = None

    def set(self, value):
        self.value = value
        self.arrived.set()


async def never_discards(connection, method, params, seconds):
    reply = Reply()
    call_id = connection.pending.add(reply)
    with trio.fail_after(seconds):
        await connection.send(Request(call_id, method, list(params)))
        await reply.arrived.wait()
    return reply.value


async def discards_only_on_timeout(connection, method, params, seconds):
    reply = Reply()
    call_id = connection.pending.add(reply)
    try:
        with trio.fail_after(seconds):
            await connection.send(Request(call_id, method, list(params)))
            await reply.arrived.wait()
    except trio.TooSlowError:
        connection.pending.discard(call_id)
        raise
    return reply.value


async def deadline_around_the_wait_only(connection, method, params, seconds):
    reply = Reply()
    call_id = connection.pending.add(reply)
    try:
        await connection.send(Request(call_id, method, list(params)))
        with trio.fail_after(seconds):
            await reply.arrived.wait()
    finally:
        connection.pending.discard(call_id)
    return reply.value


async def returns_none_on_timeout(connection, method, params, seconds):
    reply = Reply()
    call_id = connection.pending.add(reply)
    try:
        with trio.move_on_after(seconds):
            await connection.send(Request(call_id, method, list(params)))
            await reply.arrived.wait()
    finally:
        connection.pending.discard(call_id)
    return reply.value


# --- Task 3: call_all -------------------------------------------------------------------------


async def no_limit(client, calls, max_in_flight):
    calls = list(calls)
    results = [None] * len(calls)

    async def call_one(index, method, params):
        results[index] = await client.call(method, *params)

    async with trio.open_nursery() as nursery:
        for index, (method, params) in enumerate(calls):
            nursery.start_soon(call_one, index, method, params)
    return results


async def in_batches(client, calls, max_in_flight):
    calls = list(calls)
    results = [None] * len(calls)

    async def call_one(index, method, params):
        results[index] = await client.call(method, *params)

    for first in range(0, len(calls), max_in_flight):
        async with trio.open_nursery() as nursery:
            for index in range(first, min(first + max_in_flight, len(calls))):
                method, params = calls[index]
                nursery.start_soon(call_one, index, method, params)
    return results


async def results_as_they_finish(client, calls, max_in_flight):
    results = []
    slots = trio.Semaphore(max_in_flight)

    async def call_one(method, params):
        try:
            results.append(await client.call(method, *params))
        finally:
            slots.release()

    async with trio.open_nursery() as nursery:
        for method, params in calls:
            await slots.acquire()
            nursery.start_soon(call_one, method, params)
    return results


async def one_slot_too_many(client, calls, max_in_flight):
    results = []
    slots = trio.Semaphore(max_in_flight + 1)

    async def call_one(index, method, params):
        try:
            results[index] = await client.call(method, *params)
        finally:
            slots.release()

    async with trio.open_nursery() as nursery:
        for index, (method, params) in enumerate(calls):
            await slots.acquire()
            results.append(None)
            nursery.start_soon(call_one, index, method, params)
    return results


async def every_task_up_front(client, calls, max_in_flight):
    calls = list(calls)
    results = [None] * len(calls)
    limiter = trio.CapacityLimiter(max_in_flight)

    async def call_one(index, method, params):
        async with limiter:
            results[index] = await client.call(method, *params)

    async with trio.open_nursery() as nursery:
        for index, (method, params) in enumerate(calls):
            nursery.start_soon(call_one, index, method, params)
    return results


MUTANTS = {
    "check_pending_calls": [
        IdIsTheTableSize,
        EveryUnknownIdIsLate,
        PopLeavesTheEntry,
        PopAllKeepsTheTable,
    ],
    "check_call_with_deadline": [
        never_discards,
        discards_only_on_timeout,
        deadline_around_the_wait_only,
        returns_none_on_timeout,
    ],
    "check_call_all": [
        no_limit,
        in_batches,
        results_as_they_finish,
        one_slot_too_many,
        every_task_up_front,
    ],
}
