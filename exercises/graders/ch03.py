"""Graders for exercises/03-communication-paradigms.ipynb: the pending-call table, deadlines,
and bounded concurrency.

`PendingCalls` is driven step by step (no event loop) through hand-picked
cases — out-of-order replies, duplicates, late replies after `discard`,
ids never issued, a lost connection — and then through seeded random
sequences of operations, compared with `reference/rpc/pending.py`.

`call_with_deadline` and `call_all` run on Trio's virtual clock against a
fake connection and a fake client whose replies take known times, so the
graders can tell from the clock whether a deadline fired when it should and
whether calls overlapped as they should.
"""

import heapq
import math
import random
from functools import partial

import trio

from exercises.grading import grader, short
from reference.rpc.pending import PendingCalls as ReferencePendingCalls
from reference.rpc.pending import UnknownCallId
from reference.rpc.wire import Request

# --- Task 1: PendingCalls ---------------------------------------------------------------------


def model_run(table_class, steps):
    """Apply `steps` to a table; return what each step gave back (or the error it raised)."""
    table = table_class()
    trace = []
    for operation, argument in steps:
        try:
            if operation == "add":
                got = table.add(argument)
            elif operation == "pop":
                got = table.pop(argument)
            elif operation == "discard":
                got = table.discard(argument)
            else:
                got = sorted(table.pop_all())
        except UnknownCallId:
            got = "UnknownCallId"
        trace.append((operation, argument, got, len(table), table.late_replies))
    return trace


def random_steps(rng, count):
    steps, issued = [], 0
    for _ in range(count):
        roll = rng.random()
        if roll < 0.4:
            steps.append(("add", f"waiter {issued}"))
            issued += 1
        elif roll < 0.75:
            steps.append(("pop", rng.randint(-1, issued + 1)))
        elif roll < 0.95:
            steps.append(("discard", rng.randint(0, issued)))
        else:
            steps.append(("pop_all", None))
    return steps


@grader("Task 1 · PendingCalls")
def check_pending_calls(cases, table_class):
    table = cases.call("PendingCalls()", table_class)
    ids = cases.call("add three waiters", lambda: [table.add(w) for w in ["a", "b", "c"]])
    cases.true(
        "ids are 0, 1, 2",
        ids == [0, 1, 2],
        f"expected [0, 1, 2], got {short(ids)}",
        hint="Count up from 0: each call gets the next id.",
    )
    cases.equal("len() after three adds", lambda: len(table), 3)
    cases.equal(
        "the reply for id 2 arrives first",
        lambda: table.pop(2),
        "c",
        hint="pop(call_id) returns the waiter stored under that id.",
    )
    cases.equal("len() after that reply", lambda: len(table), 2, hint="pop removes the entry.")
    cases.true(
        "a second reply for id 2",
        cases.call("pop(2) again", lambda: table.pop(2)) is None,
        "pop(2) gave a waiter again: a duplicate reply would reach its caller twice",
        hint="Once popped, an id is gone: a second reply for it is late, pop returns None.",
    )
    cases.equal(
        "late_replies after the duplicate",
        lambda: table.late_replies,
        1,
        hint="Count every reply whose id was issued but is no longer waiting.",
    )
    cases.call("discard(0): its caller gives up", lambda: table.discard(0))
    cases.equal("len() after discard(0)", lambda: len(table), 1)
    cases.true(
        "the reply for the discarded id 0",
        cases.call("pop(0)", lambda: table.pop(0)) is None,
        "pop(0) returned a waiter although its caller gave up",
        hint="discard removes the entry, so its reply counts as late.",
    )
    cases.equal("late_replies is now 2", lambda: table.late_replies, 2)
    cases.call("discard(0) again: harmless", lambda: table.discard(0))
    cases.equal(
        "the id after discards and pops",
        lambda: table.add("d"),
        3,
        hint="Never reuse an id, or a late reply could reach the newer call that got it.",
    )
    for never_issued in [4, 99, -1, "1"]:
        cases.raises(
            f"pop({never_issued!r}): an id never issued",
            lambda call_id=never_issued: table.pop(call_id),
            UnknownCallId,
            hint="Ids from 0 up to the last one issued are known; anything else is the "
            "peer's mistake: raise UnknownCallId(call_id).",
        )
    cases.equal("late_replies unchanged by unknown ids", lambda: table.late_replies, 2)
    cases.equal(
        "pop_all: the connection is lost",
        lambda: sorted(table.pop_all()),
        ["b", "d"],
        hint="Return every waiter still in the table.",
    )
    cases.equal("len() after pop_all", lambda: len(table), 0, hint="pop_all empties the table.")
    cases.true(
        "a reply after pop_all",
        cases.call("pop(1)", lambda: table.pop(1)) is None,
        "pop(1) after pop_all returned a waiter",
    )
    rng = random.Random(3)
    for run in range(30):
        steps = random_steps(rng, 40)
        expected = model_run(ReferencePendingCalls, steps)
        got = cases.call(f"random run {run}", lambda steps=steps: model_run(table_class, steps))
        first_difference = next(
            (n for n, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b), None
        )
        cases.true(
            f"random run {run} of 40 operations",
            first_difference is None,
            f"at step {first_difference}, expected (operation, argument, result, len, "
            f"late_replies) = {short(expected[first_difference or 0])}, "
            f"got {short(got[first_difference or 0])}",
        )


# --- Task 2: call_with_deadline ---------------------------------------------------------------


class FakeConnection:
    """Plays the RPC connection: `pending`, `await send(request)`, and a server.

    The server answers each request after `reply_after` seconds with `answer(params)`;
    `send` itself takes `send_takes` seconds (a connection under backpressure). With
    `reply_during_send`, the reply is delivered before `send` even returns.
    """

    def __init__(
        self, nursery, *, reply_after=0.0, send_takes=0.0, reply_during_send=False, answer=None
    ):
        self.pending = ReferencePendingCalls()
        self.nursery = nursery
        self.reply_after = reply_after
        self.send_takes = send_takes
        self.reply_during_send = reply_during_send
        self.answer = answer or (lambda params: params[0] * 2)
        self.requests = []
        self.problems = []

    async def send(self, request):
        if not isinstance(request, Request):
            self.problems.append(f"send() was given {short(request)}, not a Request")
            return
        self.requests.append(request)
        if self.reply_during_send:
            self.deliver(request)
        await trio.sleep(self.send_takes)
        if not self.reply_during_send:
            self.nursery.start_soon(self.reply_later, request)

    async def reply_later(self, request):
        await trio.sleep(self.reply_after)
        self.deliver(request)

    def deliver(self, request):
        try:
            waiter = self.pending.pop(request.id)
        except UnknownCallId:
            self.problems.append(f"the reply for id {request.id} found no entry in the table")
            return
        if waiter is not None:
            waiter.set(self.answer(request.params))


async def call_on(call_with_deadline, seconds, outer_timeout=math.inf, **connection_options):
    """Call through a FakeConnection; return (result, time taken, entries left, connection)."""
    try:
        async with trio.open_nursery() as nursery:
            connection = FakeConnection(nursery, **connection_options)
            start = trio.current_time()
            result = "cancelled from outside"
            try:
                with trio.move_on_after(outer_timeout):
                    result = await call_with_deadline(connection, "double", [21], seconds)
            except trio.TooSlowError:
                result = "TooSlowError"
            took = trio.current_time() - start
            entries_left = len(connection.pending)
        # The nursery waited for the fake server's replies, late ones included.
    except BaseExceptionGroup as group:  # the answer raised: report its own exception
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    return result, took, entries_left, connection


@grader("Task 2 · call_with_deadline")
def check_call_with_deadline(cases, call_with_deadline):
    result, took, pending, connection = cases.run_async(
        "a reply after 1 s, deadline 5 s",
        partial(call_on, reply_after=1),
        call_with_deadline,
        5,
        deadline=60,
    )
    cases.true(
        "the request sent",
        len(connection.requests) == 1 and not connection.problems,
        f"expected one Request sent; sent {short(connection.requests)}, "
        f"problems: {short(connection.problems)}",
        hint="Build Request(call_id, method, list(params)) and await connection.send(it).",
    )
    cases.true(
        "the result, after 1 s",
        (result, took) == (42, 1),
        f"expected 42 after 1 s, got {short(result)} after {took:g} s",
        hint="Add a Reply to connection.pending, send, then wait for reply.arrived.",
    )
    cases.true(
        "the table is empty after the call",
        pending == 0,
        f"entries left in connection.pending: {pending}",
    )
    result, took, pending, connection = cases.run_async(
        "a reply after 10 s, deadline 2 s",
        partial(call_on, reply_after=10),
        call_with_deadline,
        2,
        deadline=60,
    )
    cases.true(
        "TooSlowError at the deadline",
        (result, took) == ("TooSlowError", 2),
        f"expected TooSlowError after 2 s, got {short(result)} after {took:g} s",
        hint="Wrap the wait in trio.fail_after(seconds): it raises trio.TooSlowError.",
    )
    cases.true(
        "the timed-out call leaves the table",
        pending == 0,
        f"entries left in connection.pending right after the timeout: {pending}",
        hint="On the way out (try/finally), connection.pending.discard(call_id).",
    )
    cases.true(
        "its late reply is dropped and counted",
        connection.pending.late_replies == 1 and not connection.problems,
        f"late_replies = {connection.pending.late_replies}, problems: {short(connection.problems)}",
    )
    result, _, _, connection = cases.run_async(
        "a result of 0",
        partial(call_on, reply_after=1, answer=lambda params: 0),
        call_with_deadline,
        5,
        deadline=60,
    )
    cases.true(
        "a result of 0 is returned as 0",
        result == 0 and result is not None,
        f"expected 0, got {short(result)}",
        hint="Return reply.value whatever it is; only the deadline means 'no answer'.",
    )
    result, took, pending, connection = cases.run_async(
        "a server that answers before send() returns",
        partial(call_on, reply_during_send=True),
        call_with_deadline,
        5,
        deadline=60,
    )
    cases.true(
        "a reply as fast as the send",
        result == 42 and not connection.problems,
        f"got {short(result)}; problems: {short(connection.problems)}",
        hint="Put the Reply in the table before sending: the reply can beat send() back.",
    )
    result, took, pending, connection = cases.run_async(
        "a send that waits 10 s (backpressure), deadline 2 s",
        partial(call_on, send_takes=10),
        call_with_deadline,
        2,
        deadline=60,
    )
    cases.true(
        "the deadline covers the send too",
        (result, took, pending) == ("TooSlowError", 2, 0),
        f"expected TooSlowError after 2 s with an empty table, got {short(result)} "
        f"after {took:g} s with {pending} entries left",
        hint="Put the send inside the same fail_after as the wait: the caller's deadline "
        "counts from the start of the call.",
    )
    result, took, pending, connection = cases.run_async(
        "the caller's own scope cancels the call after 1 s (deadline 5 s)",
        partial(call_on, outer_timeout=1, reply_after=3),
        call_with_deadline,
        5,
        deadline=60,
    )
    cases.true(
        "cancelled from outside: the entry still goes",
        took == 1 and pending == 0,
        f"after {took:g} s, entries left in connection.pending: {pending}",
        hint="Cancellation from an enclosing scope is not a TooSlowError: discard the entry "
        "in a finally block, so it goes however the call ends.",
    )


# --- Task 3: call_all -------------------------------------------------------------------------


class FakeClient:
    """`await call("sleep_then", seconds, value)` returns `value` after `seconds`."""

    def __init__(self):
        self.in_flight = 0
        self.peak = 0
        self.finished = 0

    async def call(self, method, *params):
        seconds, value = params
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await trio.sleep(seconds)
        finally:
            self.in_flight -= 1
            self.finished += 1
        return value


def best_schedule(durations, slots):
    """When the last of `durations` ends, if each starts as soon as one of `slots` is free."""
    free_at = [0.0] * min(slots, max(len(durations), 1))
    end = 0.0
    for seconds in durations:
        start = heapq.heappop(free_at)
        heapq.heappush(free_at, start + seconds)
        end = max(end, start + seconds)
    return end


async def run_call_all(call_all, durations, max_in_flight, lazily=False):
    client = FakeClient()
    unfinished = []

    def calls():
        for index, seconds in enumerate(durations):
            unfinished.append(index + 1 - client.finished)  # taken from here, not yet finished
            yield ("sleep_then", [seconds, f"result {index}"])

    start = trio.current_time()
    results = await call_all(client, calls() if lazily else list(calls()), max_in_flight)
    return results, trio.current_time() - start, client.peak, max(unfinished, default=0)


@grader("Task 3 · call_all")
def check_call_all(cases, call_all):
    rng = random.Random(7)
    for durations, max_in_flight, label in [
        ([1] * 10, 3, "10 calls of 1 s, 3 in flight"),
        ([rng.choice([1, 2, 3, 5]) for _ in range(30)], 4, "30 calls of 1 to 5 s, 4 in flight"),
        ([2, 1, 3], 1, "3 calls, 1 in flight: lockstep"),
        ([2, 1, 3], 10, "3 calls, 10 in flight allowed"),
    ]:
        expected_time = best_schedule(durations, max_in_flight)
        results, took, peak, _ = cases.run_async(
            label, run_call_all, call_all, durations, max_in_flight, deadline=1000
        )
        wanted = [f"result {index}" for index in range(len(durations))]
        cases.true(
            f"{label}: results in the order of the calls",
            results == wanted,
            f"expected {short(wanted)}, got {short(results)}",
            hint="Store each result at its call's index, not in the order calls finish.",
        )
        cases.true(
            f"{label}: never more than {max_in_flight} in flight",
            peak <= max_in_flight,
            f"{peak} calls were in flight at once",
            hint="Take a slot (trio.Semaphore(max_in_flight)) before each call starts.",
        )
        cases.true(
            f"{label}: a free slot is used at once",
            took == expected_time,
            f"expected {expected_time:g} s, took {took:g} s",
            hint="Start the next call as soon as any call finishes, not when a whole batch "
            "has finished.",
        )
    results, took, _, _ = cases.run_async("no calls at all", run_call_all, call_all, [], 3)
    cases.true("no calls", (results, took) == ([], 0), f"expected [] at once, got {short(results)}")
    results, took, peak, most_unfinished = cases.run_async(
        "a generator of 1,000 calls, 5 in flight",
        partial(run_call_all, lazily=True),
        call_all,
        [1] * 1000,
        5,
        deadline=1000,
    )
    cases.true(
        "a generator of 1,000 calls: all answered",
        len(results) == 1000 and took == 200 and peak == 5,
        f"expected 1000 results after 200 s, 5 in flight; got {len(results)} after {took:g} s, "
        f"peak {peak}",
    )
    cases.true(
        "calls are taken from the iterable only when a slot is free",
        most_unfinished <= 5 + 1,
        f"{most_unfinished} calls were taken from the generator and not yet finished, at one "
        "moment; with 5 in flight, at most 6 (5 running, 1 waiting for a slot) need be",
        hint="Acquire the slot in the loop, before taking the next call and starting its task: "
        "then at most max_in_flight tasks exist, however long the iterable.",
    )
