"""Graders for exercises/03-communication-paradigms.ipynb: the pending-call table, deadlines,
and bounded concurrency.

`PendingCalls` is driven step by step (no event loop) through hand-picked
cases — out-of-order replies, duplicates, late replies after `discard`,
ids never issued or not integers at all (True and 1.0 are not the id 1), a
lost connection, two tables at once — and then through seeded random
sequences of operations, compared with `reference/rpc/pending.py`.

`call_with_deadline` and `call_all` run on Trio's virtual clock (which does
not start at 0) against a fake connection and a fake client whose replies
take known times, so the graders can tell from the clock whether a deadline
fired when it should and whether calls overlapped as they should. The fake
connection's table has issued ids before, so an answer must use the id it
is given; several calls share one connection at once; and seeded random
timings are compared with what a correct answer does.
"""

import heapq
import math
import random
from functools import partial

import trio

from exercises.grading import grader
from reference.rpc.pending import PendingCalls as ReferencePendingCalls
from reference.rpc.pending import UnknownCallId
from reference.rpc.wire import RemoteError, Request

# --- Task 1: PendingCalls ---------------------------------------------------------------------

NOT_INTEGERS = [True, False, 1.0, "1", None, [1], (0,)]


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
        elif roll < 0.7:
            steps.append(("pop", rng.randint(-1, issued + 1)))
        elif roll < 0.75:
            steps.append(("pop", rng.choice(NOT_INTEGERS)))
        elif roll < 0.95:
            steps.append(("discard", rng.randint(0, issued)))
        else:
            steps.append(("pop_all", None))
    return steps


@grader("Task 1 · PendingCalls")
def check_pending_calls(cases, table_class):
    table = cases.call("PendingCalls()", table_class)
    ids = cases.call("add three waiters", lambda: [table.add(w) for w in ["a", "b", "c"]])
    cases.same(
        "ids are 0, 1, 2", ids, [0, 1, 2], hint="Count up from 0: each call gets the next id."
    )
    cases.equal("len() after three adds", lambda: len(table), 3)
    cases.equal(
        "the reply for id 2 arrives first",
        lambda: table.pop(2),
        "c",
        hint="pop(call_id) returns the waiter stored under that id.",
    )
    cases.equal("len() after that reply", lambda: len(table), 2, hint="pop removes the entry.")
    cases.equal(
        "a second reply for id 2",
        lambda: table.pop(2),
        None,
        hint="Once popped, an id is gone: a second reply for it is late, pop returns None "
        "(else a duplicate reply would reach its caller twice).",
    )
    cases.equal(
        "late_replies after the duplicate",
        lambda: table.late_replies,
        1,
        hint="Count every reply whose id was issued but is no longer waiting.",
    )
    for not_an_id in NOT_INTEGERS:
        cases.raises(
            f"pop({not_an_id!r}) while id 1 is waiting: not an integer id",
            lambda call_id=not_an_id: table.pop(call_id),
            UnknownCallId,
            hint="Ids are ints: True == 1 and 1.0 == 1 in Python, and both hash like 1, so test "
            "the type (isinstance(call_id, bool) or not isinstance(call_id, int)) before "
            "looking the id up.",
        )
    cases.equal("len() unchanged by ids that are not integers", lambda: len(table), 2)
    cases.call("discard(0): its caller gives up", lambda: table.discard(0))
    cases.equal("len() after discard(0)", lambda: len(table), 1)
    cases.equal(
        "late_replies unchanged by discard", lambda: table.late_replies, 1, hint="Only pop counts."
    )
    cases.equal(
        "the reply for the discarded id 0",
        lambda: table.pop(0),
        None,
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
    for never_issued in [4, 99, -1]:
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
        hint="Return a list of every waiter still in the table (a list, not a view of a dict "
        "you then clear).",
    )
    cases.equal("len() after pop_all", lambda: len(table), 0, hint="pop_all empties the table.")
    cases.equal("a reply after pop_all", lambda: table.pop(1), None)
    cases.equal(
        "a second table, made after the first, starts at id 0",
        lambda: [table_class().add("x"), table.add("e")],
        [0, 4],
        hint="Keep the next id on self, made in __init__: a counter on the class is shared by "
        "every table.",
    )

    rng = random.Random(3)
    for run in range(30):
        steps = random_steps(rng, 40)
        expected = model_run(ReferencePendingCalls, steps)
        got = cases.call(f"random run {run}", lambda steps=steps: model_run(table_class, steps))
        step = next((n for n, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b), None)
        cases.true(
            f"random run {run} of 40 operations",
            step is None,
            f"after {steps[: (step or 0)]}, {steps[step or 0]} gave (operation, argument, "
            f"result, len, late_replies) = {got[step or 0]!r}; expected "
            f"{expected[step or 0]!r}",
        )


# --- Task 2: call_with_deadline ---------------------------------------------------------------

TIMED_OUT_AT_ONCE = (
    "It timed out at once: trio.fail_after(seconds) counts from now, while "
    "trio.fail_at(seconds) is a point on the clock, long past (the clock does not start at 0)."
)
ISSUED_BEFORE = 7  # the fake connection's table has issued ids 0 to 6 before the first call


class FakeConnection:
    """Plays the RPC connection: `pending`, `await send(request)`, and a server.

    The server answers each request after `reply_after` seconds with
    `double(params[0])`; `send` itself takes `send_takes` seconds (a
    connection under backpressure). With `reply_during_send`, the reply is
    delivered before `send` even returns. Each request's timings can also be
    set by its first parameter, through `timings`.
    """

    def __init__(self, nursery, *, reply_after=0.0, send_takes=0.0, reply_during_send=False):
        self.pending = ReferencePendingCalls()
        for _ in range(ISSUED_BEFORE):
            self.pending.discard(self.pending.add(None))
        self.nursery = nursery
        self.reply_after = reply_after
        self.send_takes = send_takes
        self.reply_during_send = reply_during_send
        self.timings = {}
        self.requests = []
        self.problems = []

    async def send(self, request):
        if not isinstance(request, Request):
            self.problems.append(f"send() was given {request!r}, not a Request")
            return
        self.requests.append(request)
        send_takes, reply_after = self.timings.get(
            request.params[0], (self.send_takes, self.reply_after)
        )
        if self.reply_during_send:
            self.deliver(request)
        await trio.sleep(send_takes)
        if not self.reply_during_send:
            self.nursery.start_soon(self.reply_later, request, reply_after)

    async def reply_later(self, request, reply_after):
        await trio.sleep(reply_after)
        self.deliver(request)

    def deliver(self, request):
        try:
            waiter = self.pending.pop(request.id)
        except UnknownCallId:
            self.problems.append(
                f"the request carried id {request.id!r}, which the table never issued: "
                "use the id that connection.pending.add gave you"
            )
            return
        if waiter is not None:
            waiter.set(request.params[0] * 2)


async def outcome(call_with_deadline, connection, number, seconds):
    """Call `double(number)`; return (result or "TooSlowError", seconds taken)."""
    start = trio.current_time()
    try:
        result = await call_with_deadline(connection, "double", [number], seconds)
    except trio.TooSlowError:
        result = "TooSlowError"
    return result, trio.current_time() - start


async def call_on(call_with_deadline, seconds, outer_timeout=math.inf, **connection_options):
    """One call through a FakeConnection; return (result, time taken, entries left, connection)."""
    async with trio.open_nursery() as nursery:
        connection = FakeConnection(nursery, **connection_options)
        result, took = "cancelled from outside", outer_timeout
        with trio.move_on_after(outer_timeout):
            result, took = await outcome(call_with_deadline, connection, 21, seconds)
        entries_left = len(connection.pending)
    # The nursery waited for the fake server's replies, late ones included.
    return result, took, entries_left, connection


async def calls_at_once(call_with_deadline, calls):
    """Several calls on one connection at the same time; `calls` has (number, seconds, send
    takes, reply after) for each. Return each call's (result, took), and the connection."""
    outcomes = [None] * len(calls)

    async def one(index, number, seconds):
        outcomes[index] = await outcome(call_with_deadline, connection, number, seconds)

    async with trio.open_nursery() as nursery:
        connection = FakeConnection(nursery)
        for index, (number, seconds, send_takes, reply_after) in enumerate(calls):
            connection.timings[number] = (send_takes, reply_after)
            nursery.start_soon(one, index, number, seconds)
    return outcomes, connection


def expected_outcome(number, seconds, send_takes, reply_after):
    done = send_takes + reply_after
    return (number * 2, done) if done < seconds else ("TooSlowError", seconds)


def random_calls(rng, count):
    """(number, seconds allowed, send takes, reply after) for `count` calls; never a tie."""
    timings = [0.75, 1.25, 2.75, 4.25], [0, 0, 0.5, 2], [0, 1, 3]
    return [
        (number, *(rng.choice(choices) for choices in timings))
        for number in rng.sample(range(1, 1000), count)
    ]


@grader("Task 2 · call_with_deadline")
def check_call_with_deadline(cases, call_with_deadline):
    result, took, pending, connection = cases.run_async(
        "a reply after 1 s, deadline 5 s", partial(call_on, reply_after=1), call_with_deadline, 5
    )
    cases.true(
        "a reply after 1 s, deadline 5 s: the request sent",
        len(connection.requests) == 1 and not connection.problems,
        f"expected one Request sent; sent {connection.requests!r}, problems: "
        f"{connection.problems!r}",
        hint="Build Request(call_id, method, params) with the id from connection.pending.add, "
        "and await connection.send(it).",
    )
    request = connection.requests[0]
    cases.same(
        "a reply after 1 s, deadline 5 s: the request's id, method and params",
        (request.id, request.method, request.params),
        (ISSUED_BEFORE, "double", [21]),
        hint="Use the id that connection.pending.add returned, and the method and params you "
        "were given.",
    )
    cases.same(
        "a reply after 1 s, deadline 5 s: the result",
        result,
        42,
        hint=TIMED_OUT_AT_ONCE
        if (result, took) == ("TooSlowError", 0)
        else "Add a Reply to connection.pending, send, then wait for reply.arrived and return "
        "reply.value.",
    )
    cases.close(
        "a reply after 1 s, deadline 5 s: returned when the reply came",
        took,
        1,
        unit=" s",
        hint="Return as soon as the reply has arrived.",
    )
    cases.same("a reply after 1 s: the table is empty after the call", pending, 0)
    cases.same(
        "a reply after 1 s: a reply in time is not late",
        connection.pending.late_replies,
        0,
        hint="The reader popped the entry already: leave the table with discard, which does "
        "nothing then. pop would count the reply as late.",
    )
    result, took, pending, connection = cases.run_async(
        "a reply after 10 s, deadline 2 s",
        partial(call_on, reply_after=10),
        call_with_deadline,
        2,
        deadline=60,
    )
    cases.same(
        "a reply after 10 s, deadline 2 s: TooSlowError",
        result,
        "TooSlowError",
        hint="Wrap the call in trio.fail_after(seconds): it raises trio.TooSlowError.",
    )
    cases.close(
        "a reply after 10 s, deadline 2 s: TooSlowError at the deadline",
        took,
        2,
        unit=" s",
        hint=TIMED_OUT_AT_ONCE if took == 0 else "Give up at the deadline, not later.",
    )
    cases.same(
        "the timed-out call leaves the table",
        pending,
        0,
        hint="On the way out (try/finally), connection.pending.discard(call_id).",
    )
    cases.true(
        "its late reply is dropped and counted",
        connection.pending.late_replies == 1 and not connection.problems,
        f"late_replies = {connection.pending.late_replies}, problems: {connection.problems!r}",
    )
    result, _, _, connection = cases.run_async(
        "a server that answers before send() returns",
        partial(call_on, reply_during_send=True),
        call_with_deadline,
        5,
    )
    cases.true(
        "a reply as fast as the send",
        result == 42 and not connection.problems,
        f"got {result!r}; problems: {connection.problems!r}",
        hint="Put the Reply in the table before sending: the reply can beat send() back.",
    )
    for send_takes, reply_after in [(10, 0), (1.5, 1.5)]:
        result, took, pending, connection = cases.run_async(
            f"a send that takes {send_takes:g} s (backpressure), a reply {reply_after:g} s "
            "later, deadline 2 s",
            partial(call_on, send_takes=send_takes, reply_after=reply_after),
            call_with_deadline,
            2,
            deadline=60,
        )
        cases.same(
            f"a send of {send_takes:g} s and a reply {reply_after:g} s later: the deadline "
            "covers the send too",
            (result, round(took, 9), pending),
            ("TooSlowError", 2, 0),
            hint="One fail_after around both the send and the wait: the caller's deadline "
            "counts from the start of the call, not once for each step.",
        )
    result, took, pending, connection = cases.run_async(
        "the caller's own scope cancels the call after 1 s (deadline 5 s)",
        partial(call_on, outer_timeout=1, reply_after=3),
        call_with_deadline,
        5,
        deadline=60,
    )
    cases.same(
        "cancelled from outside: the entry still goes",
        pending,
        0,
        hint="Cancellation from an enclosing scope is not a TooSlowError: discard the entry "
        "in a finally block, so it goes however the call ends.",
    )

    rng = random.Random(5)
    for run in range(6):
        calls = random_calls(rng, rng.randint(1, 6))
        described = "; ".join(
            f"double({n}) with {s:g} s allowed, a send of {t:g} s, a reply {r:g} s later"
            for n, s, t, r in calls
        )
        case = f"random calls {run}, all at once on one connection: {described}"
        outcomes, connection = cases.run_async(
            case, calls_at_once, call_with_deadline, calls, deadline=60
        )
        cases.same(
            f"{case}: each call's (result, seconds)",
            [(result, round(took, 9)) for result, took in outcomes],
            [expected_outcome(*call) for call in calls],
            hint="Each call waits for its own reply, by its own id, under its own deadline.",
        )
        cases.true(
            f"{case}: every entry leaves the table, and nothing else goes wrong",
            len(connection.pending) == 0 and not connection.problems,
            f"{len(connection.pending)} entries left; problems: {connection.problems!r}",
        )


# --- Task 3: call_all -------------------------------------------------------------------------


class FakeClient:
    """`await call("sleep_then", seconds, value)` returns `value` after `seconds`;
    `await call("fail_after", seconds, message)` raises RemoteError after `seconds`."""

    def __init__(self):
        self.in_flight = 0
        self.peak = 0
        self.started = 0
        self.completed = 0  # ran their full time, rather than being cancelled

    async def call(self, method, *params):
        seconds, value = params
        self.started += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await trio.sleep(seconds)
        finally:
            self.in_flight -= 1
        self.completed += 1
        if method == "fail_after":
            raise RemoteError("ValueError", value)
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


async def run_call_all(call_all, calls, max_in_flight, lazily=False, raising=False):
    """Run call_all over `calls`; return (results, seconds, client, the most calls taken from
    the iterable and not yet finished at one moment). With `raising`, a call is meant to fail,
    and what call_all raises takes the place of the results."""
    client = FakeClient()
    unfinished = []

    def each_call():
        for taken, call in enumerate(calls, start=1):
            unfinished.append(taken - (client.started - client.in_flight))
            yield call

    start = trio.current_time()
    try:
        results = await call_all(
            client, each_call() if lazily else list(each_call()), max_in_flight
        )
    except Exception as exc:
        if not raising:
            raise
        results = exc
    return results, trio.current_time() - start, client, max(unfinished, default=0)


def sleeps(durations):
    return [("sleep_then", [seconds, f"result {index}"]) for index, seconds in enumerate(durations)]


def raised(outcome, message):
    """Whether `outcome` is the RemoteError `message`, alone or inside exception groups."""
    while isinstance(outcome, BaseExceptionGroup) and len(outcome.exceptions) == 1:
        outcome = outcome.exceptions[0]
    return isinstance(outcome, RemoteError) and outcome.message == message


def check_schedule(cases, call_all, durations, max_in_flight, label):
    results, took, client, _ = cases.run_async(
        label, run_call_all, call_all, sleeps(durations), max_in_flight, deadline=1000
    )
    cases.same(
        f"{label}: results in the order of the calls",
        results,
        [f"result {index}" for index in range(len(durations))],
        hint="Store each result at its call's index, not in the order calls finish.",
    )
    cases.true(
        f"{label}: never more than {max_in_flight} in flight",
        client.peak <= max_in_flight,
        f"{client.peak} calls were in flight at once",
        hint="Take a slot (trio.Semaphore(max_in_flight)) before each call starts.",
    )
    best = best_schedule(durations, max_in_flight)
    cases.true(
        f"{label}: a free slot is used at once",
        took <= best + 1e-9,
        f"expected the calls to be done after {best:g} s (each started as soon as a slot is "
        f"free), they took {took:g} s",
        hint="Start the next call as soon as any call finishes, not when a whole batch "
        "has finished.",
    )


@grader("Task 3 · call_all")
def check_call_all(cases, call_all):
    rng = random.Random(7)
    for durations, max_in_flight, label in [
        ([1] * 10, 3, "10 calls of 1 s, 3 in flight"),
        ([rng.choice([1, 2, 3, 5]) for _ in range(30)], 4, "30 calls of 1 to 5 s, 4 in flight"),
        ([2, 1, 3], 1, "3 calls, 1 in flight: lockstep"),
        ([2, 1, 3], 10, "3 calls, 10 in flight allowed"),
    ]:
        check_schedule(cases, call_all, durations, max_in_flight, label)
    results, took, _, _ = cases.run_async("no calls at all", run_call_all, call_all, [], 3)
    cases.same("no calls: an empty list", results, [])
    cases.close("no calls: at once", took, 0, unit=" s")
    for run in range(8):
        durations = [rng.randint(1, 8) / 2 for _ in range(rng.randint(1, 25))]
        max_in_flight = rng.randint(1, 8)
        label = f"random calls {run}: {len(durations)} calls of {durations} s, {max_in_flight} in "
        check_schedule(cases, call_all, durations, max_in_flight, label + "flight")

    failing = sleeps([10, 10, 10, 10, 10])
    failing[2] = ("fail_after", [2, "call 2 failed"])
    outcome, took, client, _ = cases.run_async(
        "5 calls of 10 s, 3 in flight; the third raises after 2 s",
        partial(run_call_all, raising=True),
        call_all,
        failing,
        3,
        deadline=100,
    )
    cases.true(
        "a call that raises: call_all raises its error",
        raised(outcome, "call 2 failed"),
        f"call_all {'returned' if isinstance(outcome, list) else 'raised'} {outcome!r}",
        hint="Let the error out: don't catch it in the task that makes the call. (The nursery "
        "may wrap it in an ExceptionGroup: that is fine.)",
    )
    cases.true(
        "a call that raises: at once, and the other calls are cancelled",
        math.isclose(took, 2) and client.in_flight == 0 and client.completed == 1,
        f"call_all raised after {took:g} s, when {client.completed} calls had finished and "
        f"{client.in_flight} were still in flight",
        hint="When one call fails, give up on the others: the nursery cancels them when a "
        "task raises. Don't wait for them to finish before raising.",
    )

    results, took, client, most_unfinished = cases.run_async(
        "a generator of 1,000 calls, 5 in flight",
        partial(run_call_all, lazily=True),
        call_all,
        sleeps([1] * 1000),
        5,
        deadline=1000,
    )
    cases.true(
        "a generator of 1,000 calls: all answered",
        len(results) == 1000 and math.isclose(took, 200) and client.peak == 5,
        f"expected 1000 results after 200 s, 5 in flight; got {len(results)} after {took:g} s, "
        f"peak {client.peak}",
    )
    cases.true(
        "calls are taken from the iterable only when a slot is free",
        most_unfinished <= 5 + 1,
        f"{most_unfinished} calls were taken from the generator and not yet finished, at one "
        "moment; with 5 in flight, at most 6 (5 running, 1 waiting for a slot) need be",
        hint="Acquire the slot in the loop, before taking the next call and starting its task: "
        "then at most max_in_flight tasks exist, however long the iterable.",
    )

    async def two_at_once():
        outcomes = {}

        async def one(name, calls, max_in_flight):
            outcomes[name] = await run_call_all(call_all, calls, max_in_flight)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(one, "first", sleeps([1, 1, 1, 1]), 2)
            nursery.start_soon(one, "second", sleeps([3, 1]), 1)
        return outcomes

    outcomes = cases.run_async("two call_all at the same time, with limits 2 and 1", two_at_once)
    cases.same(
        "two call_all at the same time: each its own results, in its own time",
        {name: (results, round(took, 9)) for name, (results, took, _, _) in outcomes.items()},
        {
            "first": ([f"result {n}" for n in range(4)], 2),
            "second": (["result 0", "result 1"], 4),
        },
        hint="Make the results list and the semaphore inside the call, not outside it.",
    )
