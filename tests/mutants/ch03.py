"""Answers to exercises/03-communication-paradigms.ipynb: wrong ones the graders must reject
(MUTANTS), and right ones written another way that they must accept (ALTERNATIVES)."""

import itertools

import trio

from reference.rpc.pending import UnknownCallId
from reference.rpc.wire import Request

# --- Task 1: PendingCalls ---------------------------------------------------------------------


class _Table:
    """The shape of the answer, with its parts overridable one at a time."""

    def __init__(self):
        self.waiters = {}
        self.next_id = 0
        self.late_replies = 0

    def __len__(self):
        return len(self.waiters)

    def add(self, waiter):
        call_id = self.next_id
        self.next_id += 1
        self.waiters[call_id] = waiter
        return call_id

    def pop(self, call_id):
        if isinstance(call_id, bool) or not isinstance(call_id, int):
            raise UnknownCallId(call_id)
        if call_id in self.waiters:
            return self.waiters.pop(call_id)
        if not 0 <= call_id < self.next_id:
            raise UnknownCallId(call_id)
        self.late_replies += 1
        return None

    def discard(self, call_id):
        self.waiters.pop(call_id, None)

    def pop_all(self):
        waiters = list(self.waiters.values())
        self.waiters.clear()
        return waiters


class IdIsTheTableSize(_Table):
    """Takes the next id from the table's size, so ids come back once calls are gone."""

    def add(self, waiter):
        call_id = len(self.waiters)
        self.next_id = max(self.next_id, call_id + 1)
        self.waiters[call_id] = waiter
        return call_id


class EveryUnknownIdIsLate(_Table):
    """Counts an id that was never issued as a late reply instead of raising."""

    def pop(self, call_id):
        if call_id in self.waiters:
            return self.waiters.pop(call_id)
        self.late_replies += 1
        return None


class PopLeavesTheEntry(_Table):
    """Looks the waiter up without removing it: a duplicate reply reaches the caller twice."""

    def pop(self, call_id):
        if call_id in self.waiters:
            return self.waiters[call_id]
        return super().pop(call_id)


class PopAllKeepsTheTable(_Table):
    """Returns every waiter on a lost connection but leaves them in the table."""

    def pop_all(self):
        return list(self.waiters.values())


class ChecksTheTypeOnlyForUnknownIds(_Table):
    """Looks the id up first, so pop(True) and pop(1.0) return the waiter of call 1."""

    def pop(self, call_id):
        if call_id in self.waiters:
            return self.waiters.pop(call_id)
        if not isinstance(call_id, int) or not 0 <= call_id < self.next_id:
            raise UnknownCallId(call_id)
        self.late_replies += 1
        return None


class CountsIdsOnTheClass(_Table):
    """Keeps the id counter on the class, so a second table goes on from the first one's ids."""

    issued = 0

    def add(self, waiter):
        call_id = CountsIdsOnTheClass.issued
        CountsIdsOnTheClass.issued += 1
        self.next_id = call_id + 1
        self.waiters[call_id] = waiter
        return call_id


class PopAllReturnsAView(_Table):
    """Returns the dict's values view, which is empty once the dict is cleared."""

    def pop_all(self):
        waiters = self.waiters.values()
        self.waiters.clear()
        return waiters


class DiscardCountsAsLate(_Table):
    """Counts a caller giving up as a late reply, so each timeout counts twice."""

    def discard(self, call_id):
        if self.waiters.pop(call_id, None) is not None:
            self.late_replies += 1


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


async def absolute_deadline(connection, method, params, seconds):
    reply = Reply()
    call_id = connection.pending.add(reply)
    try:
        with trio.fail_at(seconds):  # a point on the clock, not a duration from now
            await connection.send(Request(call_id, method, list(params)))
            await reply.arrived.wait()
    finally:
        connection.pending.discard(call_id)
    return reply.value


async def one_deadline_for_each_step(connection, method, params, seconds):
    reply = Reply()
    call_id = connection.pending.add(reply)
    try:
        with trio.fail_after(seconds):
            await connection.send(Request(call_id, method, list(params)))
        with trio.fail_after(seconds):
            await reply.arrived.wait()
    finally:
        connection.pending.discard(call_id)
    return reply.value


async def pops_in_the_finally(connection, method, params, seconds):
    reply = Reply()
    call_id = connection.pending.add(reply)
    try:
        with trio.fail_after(seconds):
            await connection.send(Request(call_id, method, list(params)))
            await reply.arrived.wait()
    finally:
        connection.pending.pop(call_id)  # after a reply in time, this counts it as late
    return reply.value


_own_ids = itertools.count()


async def counts_ids_itself(connection, method, params, seconds):
    reply = Reply()
    call_id = next(_own_ids)  # not the id the table issued
    connection.pending.add(reply)
    try:
        with trio.fail_after(seconds):
            await connection.send(Request(call_id, method, list(params)))
            await reply.arrived.wait()
    finally:
        connection.pending.discard(call_id)
    return reply.value


async def returns_the_reply(connection, method, params, seconds):
    reply = Reply()
    call_id = connection.pending.add(reply)
    try:
        with trio.fail_after(seconds):
            await connection.send(Request(call_id, method, list(params)))
            await reply.arrived.wait()
    finally:
        connection.pending.discard(call_id)
    return reply


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


async def carries_on_after_an_error(client, calls, max_in_flight):
    results = []
    slots = trio.Semaphore(max_in_flight)

    async def call_one(index, method, params):
        try:
            results[index] = await client.call(method, *params)
        except Exception:
            results[index] = None  # the caller never learns that the call failed
        finally:
            slots.release()

    async with trio.open_nursery() as nursery:
        for index, (method, params) in enumerate(calls):
            await slots.acquire()
            results.append(None)
            nursery.start_soon(call_one, index, method, params)
    return results


async def raises_when_all_are_done(client, calls, max_in_flight):
    results, errors = [], []
    slots = trio.Semaphore(max_in_flight)

    async def call_one(index, method, params):
        try:
            results[index] = await client.call(method, *params)
        except Exception as exc:
            errors.append(exc)
        finally:
            slots.release()

    async with trio.open_nursery() as nursery:
        for index, (method, params) in enumerate(calls):
            await slots.acquire()
            results.append(None)
            nursery.start_soon(call_one, index, method, params)
    if errors:
        raise errors[0]
    return results


MUTANTS = {
    "check_pending_calls": [
        IdIsTheTableSize,
        EveryUnknownIdIsLate,
        PopLeavesTheEntry,
        PopAllKeepsTheTable,
        ChecksTheTypeOnlyForUnknownIds,
        CountsIdsOnTheClass,
        PopAllReturnsAView,
        DiscardCountsAsLate,
    ],
    "check_call_with_deadline": [
        never_discards,
        discards_only_on_timeout,
        deadline_around_the_wait_only,
        returns_none_on_timeout,
        absolute_deadline,
        one_deadline_for_each_step,
        pops_in_the_finally,
        counts_ids_itself,
        returns_the_reply,
    ],
    "check_call_all": [
        no_limit,
        in_batches,
        results_as_they_finish,
        one_slot_too_many,
        every_task_up_front,
        carries_on_after_an_error,
        raises_when_all_are_done,
    ],
}


# --- Right answers, written another way -------------------------------------------------------

_GONE = object()


class WaitersInAList:
    """Ids are dense, so the table is a list indexed by id; a gone call leaves a marker."""

    def __init__(self):
        self.slots = []
        self.waiting = 0
        self.late_replies = 0

    def __len__(self):
        return self.waiting

    def add(self, waiter):
        self.slots.append(waiter)
        self.waiting += 1
        return len(self.slots) - 1

    def pop(self, call_id):
        if type(call_id) is not int or not 0 <= call_id < len(self.slots):
            raise UnknownCallId(call_id)
        waiter, self.slots[call_id] = self.slots[call_id], _GONE
        if waiter is _GONE:
            self.late_replies += 1
            return None
        self.waiting -= 1
        return waiter

    def discard(self, call_id):
        if type(call_id) is int and 0 <= call_id < len(self.slots):
            if self.slots[call_id] is not _GONE:
                self.waiting -= 1
            self.slots[call_id] = _GONE

    def pop_all(self):
        waiters = [waiter for waiter in self.slots if waiter is not _GONE]
        self.slots = [_GONE] * len(self.slots)
        self.waiting = 0
        return waiters


class IdsFromACounter:
    def __init__(self):
        self.ids = itertools.count()
        self.issued = 0
        self.waiters = {}
        self.late_replies = 0

    def __len__(self):
        return len(self.waiters)

    def add(self, waiter):
        call_id = next(self.ids)
        self.issued = call_id + 1
        self.waiters[call_id] = waiter
        return call_id

    def pop(self, call_id):
        if not isinstance(call_id, int) or isinstance(call_id, bool):
            raise UnknownCallId(call_id)
        try:
            return self.waiters.pop(call_id)
        except KeyError:
            if not 0 <= call_id < self.issued:
                raise UnknownCallId(call_id) from None
            self.late_replies += 1
            return None

    def discard(self, call_id):
        self.waiters.pop(call_id, None)

    def pop_all(self):
        waiters, self.waiters = list(self.waiters.values()), {}
        return waiters


async def raises_too_slow_itself(connection, method, params, seconds):
    reply = Reply()
    call_id = connection.pending.add(reply)
    try:
        with trio.move_on_after(seconds) as scope:
            await connection.send(Request(call_id, method, params))
            await reply.arrived.wait()
    finally:
        connection.pending.discard(call_id)
    if scope.cancelled_caught:
        raise trio.TooSlowError
    return reply.value


async def deadline_from_the_clock(connection, method, params, seconds):
    with trio.fail_at(trio.current_time() + seconds):
        reply = Reply()
        call_id = connection.pending.add(reply)
        try:
            await connection.send(Request(call_id, method, tuple(params)))
            await reply.arrived.wait()
            return reply.value
        finally:
            connection.pending.discard(call_id)


async def workers_share_one_iterator(client, calls, max_in_flight):
    """max_in_flight workers, each taking the next call from one shared iterator."""
    numbered = enumerate(calls)
    results = {}

    async def worker():
        for index, (method, params) in numbered:
            results[index] = await client.call(method, *params)

    async with trio.open_nursery() as nursery:
        for _ in range(max_in_flight):
            nursery.start_soon(worker)
    return [results[index] for index in range(len(results))]


async def limiter_on_behalf_of_each_call(client, calls, max_in_flight):
    limiter = trio.CapacityLimiter(max_in_flight)
    results = []

    async def call_one(index, method, params):
        try:
            results[index] = await client.call(method, *params)
        finally:
            limiter.release_on_behalf_of(index)

    async with trio.open_nursery() as nursery:
        for index, (method, params) in enumerate(calls):
            await limiter.acquire_on_behalf_of(index)
            results.append(None)
            nursery.start_soon(call_one, index, method, params)
    return results


ALTERNATIVES = {
    "check_pending_calls": [WaitersInAList, IdsFromACounter],
    "check_call_with_deadline": [raises_too_slow_itself, deadline_from_the_clock],
    "check_call_all": [workers_share_one_iterator, limiter_on_behalf_of_each_call],
}
