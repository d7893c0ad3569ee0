"""Tests for reference/delivery/durable_queue.py: the durable queue on SQLite and its Trio worker.

Time is a fake clock handed to the queue, so visibility timeouts and delays
are checked without waiting. The crash tests run real consumer processes
(tests/delivery/queue_consumer.py) and synchronize with them through their stdout.
"""

from __future__ import annotations

import itertools
import math
import selectors
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import trio
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from reference.delivery.durable_queue import (
    DEFAULT_MAX_BODY_SIZE,
    BodyTooLarge,
    DeadLetter,
    DurableQueue,
    LeaseLost,
    Message,
    QueueStatistics,
)
from reference.delivery.worker import WorkerStatistics, run_worker

REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


@pytest.fixture
def queue(path: Path, clock: FakeClock):
    with DurableQueue(path, clock=clock, max_attempts=3) as queue:
        yield queue


def statistics(ready=0, in_flight=0, delayed=0, dead=0) -> QueueStatistics:
    return QueueStatistics(ready=ready, in_flight=in_flight, delayed=delayed, dead=dead)


# --- put, get, ack ---------------------------------------------------------


def test_put_get_ack_round_trip(queue: DurableQueue) -> None:
    message_id = queue.put(b"hello\x00world")
    message = queue.get(visibility_timeout=30)
    assert message is not None
    assert (message.id, message.body, message.attempts) == (message_id, b"hello\x00world", 1)
    assert queue.statistics() == statistics(in_flight=1)
    queue.ack(message)
    assert queue.statistics() == statistics()
    assert queue.get(visibility_timeout=30) is None


def test_get_on_an_empty_queue_returns_none(queue: DurableQueue) -> None:
    assert queue.get(visibility_timeout=30) is None
    assert queue.get_many(10, visibility_timeout=30) == []


def test_messages_come_out_in_the_order_they_went_in(queue: DurableQueue) -> None:
    ids = queue.put_many([b"a", b"b", b"c"])
    queue.put(b"d")
    bodies = [queue.get(visibility_timeout=30).body for _ in range(4)]
    assert bodies == [b"a", b"b", b"c", b"d"]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_ids_are_never_reused(queue: DurableQueue) -> None:
    first = queue.put(b"x")
    queue.ack(queue.get(visibility_timeout=30))
    assert queue.put(b"y") > first


def test_get_many_takes_at_most_the_limit(queue: DurableQueue) -> None:
    queue.put_many([b"%d" % n for n in range(5)])
    batch = queue.get_many(3, visibility_timeout=30)
    assert [m.body for m in batch] == [b"0", b"1", b"2"]
    assert [m.body for m in queue.get_many(3, visibility_timeout=30)] == [b"3", b"4"]
    assert queue.statistics() == statistics(in_flight=5)


def test_messages_survive_closing_and_reopening(path: Path, clock: FakeClock) -> None:
    with DurableQueue(path, clock=clock) as queue:
        message_id = queue.put(b"kept")
    with DurableQueue(path, clock=clock) as queue:
        message = queue.get(visibility_timeout=30)
    assert (message.id, message.body) == (message_id, b"kept")


def test_the_file_is_in_wal_mode(queue: DurableQueue, path: Path) -> None:
    other = sqlite3.connect(path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        other.close()


def test_a_closed_queue_refuses_work(path: Path) -> None:
    with DurableQueue(path) as queue:
        pass
    with pytest.raises(sqlite3.ProgrammingError):
        queue.put(b"late")


# --- visibility timeouts and receipts --------------------------------------


def test_a_leased_message_is_invisible_until_its_timeout(
    queue: DurableQueue, clock: FakeClock
) -> None:
    queue.put(b"job")
    first = queue.get(visibility_timeout=30)
    clock.advance(29.5)
    assert queue.get(visibility_timeout=30) is None
    clock.advance(0.5)
    again = queue.get(visibility_timeout=30)
    assert (again.id, again.attempts) == (first.id, 2)
    assert again.receipt != first.receipt


def test_a_late_ack_does_not_take_the_message_from_its_new_holder(
    path: Path, clock: FakeClock
) -> None:
    with (
        DurableQueue(path, clock=clock) as slow,
        DurableQueue(path, clock=clock) as fast,
    ):
        slow.put(b"job")
        slow_copy = slow.get(visibility_timeout=10)
        clock.advance(11)
        fast_copy = fast.get(visibility_timeout=10)
        assert fast_copy.id == slow_copy.id

        with pytest.raises(LeaseLost) as caught:
            slow.ack(slow_copy)
        assert caught.value.message == slow_copy
        with pytest.raises(LeaseLost):
            slow.nack(slow_copy)
        # fast's lease is untouched: still in flight, not visible, ackable.
        assert slow.statistics() == statistics(in_flight=1)
        assert slow.get(visibility_timeout=10) is None
        fast.ack(fast_copy)
        assert fast.statistics() == statistics()


def test_an_expired_lease_nobody_took_can_still_be_acked(
    queue: DurableQueue, clock: FakeClock
) -> None:
    queue.put(b"job")
    message = queue.get(visibility_timeout=10)
    clock.advance(60)
    assert queue.statistics() == statistics(ready=1)
    queue.ack(message)
    assert queue.get(visibility_timeout=10) is None


def test_acking_twice_is_refused(queue: DurableQueue) -> None:
    queue.put(b"job")
    message = queue.get(visibility_timeout=10)
    queue.ack(message)
    with pytest.raises(LeaseLost):
        queue.ack(message)


def test_a_forged_receipt_is_refused(queue: DurableQueue) -> None:
    queue.put(b"job")
    message = queue.get(visibility_timeout=10)
    forged = Message(message.id, message.body, message.attempts, receipt="0" * 32)
    with pytest.raises(LeaseLost):
        queue.ack(forged)
    assert queue.statistics() == statistics(in_flight=1)


def test_ack_many_reports_the_leases_it_lost(queue: DurableQueue, clock: FakeClock) -> None:
    queue.put_many([b"a", b"b", b"c"])
    old = queue.get_many(3, visibility_timeout=10)
    clock.advance(11)
    retaken = queue.get(visibility_timeout=10)  # takes "a" again
    assert retaken.body == b"a"
    assert queue.ack_many(old) == [old[0]]
    assert queue.statistics() == statistics(in_flight=1)


# --- nack, delays, dead letters --------------------------------------------


def test_nack_makes_a_message_visible_at_once(queue: DurableQueue) -> None:
    queue.put(b"job")
    queue.nack(queue.get(visibility_timeout=30))
    again = queue.get(visibility_timeout=30)
    assert (again.body, again.attempts) == (b"job", 2)


def test_nack_with_a_delay(queue: DurableQueue, clock: FakeClock) -> None:
    queue.put(b"job")
    queue.nack(queue.get(visibility_timeout=30), delay=5)
    assert queue.statistics() == statistics(delayed=1)
    clock.advance(4.9)
    assert queue.get(visibility_timeout=30) is None
    clock.advance(0.1)
    assert queue.get(visibility_timeout=30).attempts == 2


def test_a_message_that_keeps_timing_out_goes_to_the_dead_letters(
    queue: DurableQueue, clock: FakeClock
) -> None:
    message_id = queue.put(b"poison")
    for attempt in (1, 2, 3):  # max_attempts=3
        assert queue.get(visibility_timeout=10).attempts == attempt
        clock.advance(10)
    assert queue.get(visibility_timeout=10) is None
    assert queue.dead_letters() == [DeadLetter(message_id, b"poison", 3, clock.now)]
    assert queue.statistics() == statistics(dead=1)


def test_the_last_nack_goes_straight_to_the_dead_letters(
    queue: DurableQueue, clock: FakeClock
) -> None:
    queue.put(b"poison")
    for attempt in (1, 2):
        queue.nack(queue.get(visibility_timeout=10), delay=100)
        assert queue.statistics() == statistics(delayed=1), attempt
        clock.advance(100)
    queue.nack(queue.get(visibility_timeout=10), delay=100)  # the third and last attempt
    assert queue.statistics() == statistics(dead=1)  # no 100 s wait to find that out


def test_dead_letters_do_not_block_the_messages_behind_them(
    queue: DurableQueue, clock: FakeClock
) -> None:
    queue.put_many([b"poison-1", b"poison-2"])
    for _ in range(3):
        queue.get_many(2, visibility_timeout=10)
        clock.advance(10)
    queue.put(b"good")
    assert [m.body for m in queue.get_many(5, visibility_timeout=10)] == [b"good"]
    assert [d.body for d in queue.dead_letters()] == [b"poison-1", b"poison-2"]


def test_requeued_dead_letters_keep_their_id_and_get_fresh_attempts(
    queue: DurableQueue, clock: FakeClock
) -> None:
    ids = queue.put_many([b"a", b"b"])
    for _ in range(3):
        for message in queue.get_many(2, visibility_timeout=10):
            queue.nack(message)
    assert [d.id for d in queue.dead_letters()] == ids
    assert queue.requeue_dead_letters([ids[1], 12345]) == 1
    again = queue.get(visibility_timeout=10)
    assert (again.id, again.body, again.attempts) == (ids[1], b"b", 1)
    assert queue.requeue_dead_letters() == 1
    assert queue.statistics() == statistics(ready=1, in_flight=1)


# --- bad input -------------------------------------------------------------


def test_body_size_is_bounded(path: Path) -> None:
    with DurableQueue(path, max_body_size=16) as queue:
        queue.put(b"x" * 16)
        with pytest.raises(BodyTooLarge) as caught:
            queue.put(b"x" * 17)
        assert (caught.value.size, caught.value.limit) == (17, 16)
        with pytest.raises(BodyTooLarge):
            queue.put_many([b"ok", b"x" * 17])
        assert queue.statistics() == statistics(ready=1)  # the batch was refused whole


def test_the_default_body_limit(queue: DurableQueue) -> None:
    queue.put(bytes(DEFAULT_MAX_BODY_SIZE))
    with pytest.raises(BodyTooLarge):
        queue.put(bytes(DEFAULT_MAX_BODY_SIZE + 1))


def test_bodies_are_bytes(queue: DurableQueue) -> None:
    with pytest.raises(TypeError, match="bytes, not str"):
        queue.put("text")
    queue.put(bytearray(b"ba"))
    queue.put(memoryview(b"mv"))
    queue.put(b"")
    bodies = [m.body for m in queue.get_many(3, visibility_timeout=1)]
    assert bodies == [b"ba", b"mv", b""]
    assert all(type(body) is bytes for body in bodies)


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf])
def test_a_visibility_timeout_must_be_positive_and_finite(
    queue: DurableQueue, timeout: float
) -> None:
    with pytest.raises(ValueError, match="visibility_timeout"):
        queue.get(visibility_timeout=timeout)


def test_other_arguments_are_checked(queue: DurableQueue, path: Path) -> None:
    queue.put(b"job")
    with pytest.raises(ValueError, match="max_messages"):
        queue.get_many(0, visibility_timeout=1)
    message = queue.get(visibility_timeout=1)
    with pytest.raises(ValueError, match="delay"):
        queue.nack(message, delay=-1)
    with pytest.raises(ValueError, match="synchronous"):
        DurableQueue(path, synchronous="SOMETIMES; DROP TABLE messages")
    with pytest.raises(ValueError, match="max_attempts"):
        DurableQueue(path, max_attempts=0)
    assert queue.statistics() == statistics(in_flight=1)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        DurableQueue(bogus)


# --- a model-based test: random operations against a dictionary ------------


class QueueAgainstModel(RuleBasedStateMachine):
    """Every operation on the queue is mirrored on a plain dictionary; they must agree."""

    max_attempts = 3

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.TemporaryDirectory()
        self.clock = FakeClock()
        self.queue = DurableQueue(
            Path(self.directory.name) / "q.db",
            clock=self.clock,
            max_attempts=self.max_attempts,
            synchronous="OFF",
        )
        self.live: dict[int, dict] = {}  # id -> body, attempts, visible_at, receipt
        self.dead: dict[int, bytes] = {}
        self.acked: set[int] = set()
        self.deliveries: list[Message] = []  # every delivery ever, stale ones too

    def teardown(self) -> None:
        self.queue.close()
        self.directory.cleanup()

    @rule(body=st.binary(max_size=8))
    def put(self, body: bytes) -> None:
        message_id = self.queue.put(body)
        assert message_id not in self.live and message_id not in self.acked
        self.live[message_id] = dict(body=body, attempts=0, visible_at=self.clock.now, receipt=None)

    @rule(timeout=st.sampled_from([1.0, 5.0, 10.0]))
    def get(self, timeout: float) -> None:
        now = self.clock.now
        expected = None
        for message_id in sorted(
            (i for i, m in self.live.items() if m["visible_at"] <= now),
            key=lambda i: (self.live[i]["visible_at"], i),
        ):
            if self.live[message_id]["attempts"] >= self.max_attempts:
                self.dead[message_id] = self.live.pop(message_id)["body"]
            else:
                expected = message_id
                break
        message = self.queue.get(visibility_timeout=timeout)
        if expected is None:
            assert message is None
            return
        model = self.live[expected]
        model["attempts"] += 1
        model["visible_at"] = now + timeout
        model["receipt"] = message.receipt
        assert (message.id, message.body, message.attempts) == (
            expected,
            model["body"],
            model["attempts"],
        )
        self.deliveries.append(message)

    def holds(self, message: Message) -> bool:
        model = self.live.get(message.id)
        return model is not None and model["receipt"] == message.receipt

    @precondition(lambda self: self.deliveries)
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        message = data.draw(st.sampled_from(self.deliveries))
        if self.holds(message):
            self.queue.ack(message)
            del self.live[message.id]
            self.acked.add(message.id)
        else:
            with pytest.raises(LeaseLost):
                self.queue.ack(message)

    @precondition(lambda self: self.deliveries)
    @rule(data=st.data(), delay=st.sampled_from([0.0, 3.0]))
    def nack(self, data: st.DataObject, delay: float) -> None:
        message = data.draw(st.sampled_from(self.deliveries))
        if not self.holds(message):
            with pytest.raises(LeaseLost):
                self.queue.nack(message, delay)
        elif self.live[message.id]["attempts"] >= self.max_attempts:
            self.queue.nack(message, delay)
            self.dead[message.id] = self.live.pop(message.id)["body"]
        else:
            self.queue.nack(message, delay)
            self.live[message.id].update(visible_at=self.clock.now + delay, receipt=None)

    @rule(seconds=st.sampled_from([0.5, 1.0, 4.0, 20.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def requeue(self) -> None:
        assert self.queue.requeue_dead_letters() == len(self.dead)
        for message_id, body in self.dead.items():
            self.live[message_id] = dict(
                body=body, attempts=0, visible_at=self.clock.now, receipt=None
            )
        self.dead.clear()

    @invariant()
    def counts_agree(self) -> None:
        now = self.clock.now
        ready = sum(m["visible_at"] <= now for m in self.live.values())
        in_flight = sum(
            m["visible_at"] > now and m["receipt"] is not None for m in self.live.values()
        )
        assert self.queue.statistics() == QueueStatistics(
            ready, in_flight, len(self.live) - ready - in_flight, len(self.dead)
        )
        assert {d.id: d.body for d in self.queue.dead_letters()} == self.dead


TestQueueAgainstModel = QueueAgainstModel.TestCase
TestQueueAgainstModel.settings = settings(max_examples=60, stateful_step_count=30)


# --- extending a lease -----------------------------------------------------


def test_extend_keeps_a_message_past_its_first_timeout(
    queue: DurableQueue, clock: FakeClock, path: Path
) -> None:
    queue.put(b"long job")
    message = queue.get(visibility_timeout=30)
    clock.advance(25)
    queue.extend(message, 30)  # 30 s from now, not from the first get
    clock.advance(29)
    with DurableQueue(path, clock=clock) as other_consumer:
        assert other_consumer.get(visibility_timeout=30) is None
        clock.advance(2)
        assert other_consumer.get(visibility_timeout=30).attempts == 2


def test_extend_is_refused_once_the_lease_is_gone(queue: DurableQueue, clock: FakeClock) -> None:
    queue.put(b"expired")
    first = queue.get(visibility_timeout=30)
    clock.advance(31)
    again = queue.get(visibility_timeout=30)  # delivered again: the first receipt is void
    assert again.id == first.id
    with pytest.raises(LeaseLost):
        queue.extend(first, 60)
    queue.extend(again, 60)
    queue.put(b"acked")
    acked = queue.get(visibility_timeout=30)
    queue.ack(acked)
    with pytest.raises(LeaseLost):
        queue.extend(acked, 60)
    with pytest.raises(ValueError, match="visibility_timeout"):
        queue.extend(again, 0)
    clock.advance(59)
    assert queue.statistics() == statistics(in_flight=1)


def test_put_listeners_hear_what_becomes_ready_until_they_unsubscribe(
    queue: DurableQueue,
) -> None:
    heard = []
    unsubscribe = queue.subscribe_puts(lambda: heard.append("ready"))
    queue.put(b"one")
    message = queue.get(visibility_timeout=30)
    queue.nack(message, delay=10)  # not ready yet: nobody is told
    assert heard == ["ready"]
    unsubscribe()
    queue.put(b"two")
    assert heard == ["ready"]


# --- the Trio worker -------------------------------------------------------


async def test_worker_acks_what_the_handler_finishes(queue: DurableQueue) -> None:
    queue.put_many([b"a", b"b", b"c"])
    seen = []

    async def handler(message: Message) -> None:
        seen.append(message.body)

    result = await run_worker(queue, handler, visibility_timeout=30, stop_when_empty=True)
    assert seen == [b"a", b"b", b"c"]
    assert result == WorkerStatistics(acked=3)
    assert queue.statistics() == statistics()


async def test_worker_nacks_on_error_until_the_dead_letters(queue: DurableQueue) -> None:
    queue.put_many([b"good", b"poison"])
    calls = Counter()

    async def handler(message: Message) -> None:
        calls[message.body] += 1
        if message.body == b"poison":
            raise RuntimeError("cannot digest this")

    result = await run_worker(queue, handler, visibility_timeout=30, stop_when_empty=True)
    assert calls == {b"good": 1, b"poison": 3}  # max_attempts=3
    assert result == WorkerStatistics(acked=1, nacked=3)
    assert [d.body for d in queue.dead_letters()] == [b"poison"]


async def test_worker_retries_after_the_retry_delay(queue: DurableQueue, clock: FakeClock) -> None:
    queue.put(b"flaky")
    attempts = []

    async def handler(message: Message) -> None:
        attempts.append(message.attempts)
        if message.attempts == 1:
            raise ConnectionError("downstream is down")

    first = await run_worker(
        queue, handler, visibility_timeout=30, retry_delay=60, stop_when_empty=True
    )
    assert (first, queue.statistics()) == (WorkerStatistics(nacked=1), statistics(delayed=1))
    clock.advance(60)
    second = await run_worker(queue, handler, visibility_timeout=30, stop_when_empty=True)
    assert (second, attempts) == (WorkerStatistics(acked=1), [1, 2])


async def test_worker_counts_a_lease_it_lost_and_does_not_steal_it_back(
    queue: DurableQueue, path: Path, clock: FakeClock
) -> None:
    queue.put(b"slow job")
    with DurableQueue(path, clock=clock) as other_consumer:
        taken_over = []

        async def slow_handler(message: Message) -> None:
            clock.advance(31)  # the handler overran its visibility timeout...
            taken_over.append(other_consumer.get(visibility_timeout=30))  # ...and lost it

        result = await run_worker(queue, slow_handler, visibility_timeout=30, stop_when_empty=True)
        assert result == WorkerStatistics(leases_lost=1)
        assert queue.statistics() == statistics(in_flight=1)
        other_consumer.ack(taken_over[0])
    assert queue.statistics() == statistics()


async def test_cancelling_a_worker_gives_its_message_back(queue: DurableQueue) -> None:
    queue.put(b"long job")
    started = trio.Event()

    async def endless_handler(message: Message) -> None:
        started.set()
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: run_worker(queue, endless_handler, visibility_timeout=300))
        await started.wait()
        nursery.cancel_scope.cancel()
    assert queue.statistics() == statistics(ready=1)  # not stuck in flight for 300 s
    assert queue.get(visibility_timeout=1).attempts == 2


async def test_worker_polls_for_messages_put_later(
    queue: DurableQueue, autojump_clock: trio.testing.MockClock
) -> None:
    handled = trio.Event()

    async def handler(message: Message) -> None:
        handled.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: run_worker(queue, handler, visibility_timeout=30, poll_interval=5)
        )
        await trio.sleep(60)  # virtual time: the worker has polled an empty queue a while
        assert not handled.is_set()
        await trio.to_thread.run_sync(queue.put, b"late")
        await handled.wait()
        nursery.cancel_scope.cancel()
    assert queue.statistics() == statistics()  # acked before the cancellation landed


async def test_worker_runs_handlers_concurrently(queue: DurableQueue) -> None:
    queue.put_many([b"%d" % n for n in range(12)])
    active = 0
    most_active = 0
    four_running = trio.Event()

    async def handler(message: Message) -> None:
        nonlocal active, most_active
        active += 1
        most_active = max(most_active, active)
        if active == 4:
            four_running.set()
        await four_running.wait()  # with fewer than 4 handlers at once this never returns
        active -= 1

    with trio.fail_after(10):  # a hang guard (real clock), not a timing assertion
        result = await run_worker(
            queue, handler, visibility_timeout=30, concurrency=4, stop_when_empty=True
        )
    assert (result, most_active) == (WorkerStatistics(acked=12), 4)


# --- real processes: competing consumers, and a consumer killed with SIGKILL ---


@contextmanager
def consumer_process(path: Path, events: Path, *options: str) -> Iterator[subprocess.Popen]:
    """Run tests/delivery/queue_consumer.py; on leaving, kill it if it still runs, and reap it."""
    with subprocess.Popen(
        [sys.executable, "-m", "tests.delivery.queue_consumer", str(path), str(events), *options],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            yield process
        finally:
            process.kill()


def tell_each(processes: list[subprocess.Popen], line: str) -> None:
    for process in processes:
        process.stdin.write(line + "\n")
        process.stdin.flush()


def read_line(process: subprocess.Popen, timeout: float = 20) -> str:
    """The child's next stdout line; a hang guard, not a timing assertion."""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            process.kill()
            raise AssertionError(f"consumer said nothing for {timeout} s")
    return process.stdout.readline().strip()


def read_events(events: Path) -> list[tuple[str, int]]:
    if not events.exists():
        return []
    return [
        (kind, int(message_id))
        for kind, message_id, *_ in (line.split() for line in events.read_text().splitlines())
    ]


def test_competing_consumer_processes_never_share_a_message(path: Path, tmp_path: Path) -> None:
    with DurableQueue(path) as queue:
        ids = queue.put_many([b"job-%d" % n for n in range(150)])
    logs = [tmp_path / f"consumer-{n}.log" for n in range(3)]
    options = (
        "--batch",
        "1",
        "--synchronous",
        "NORMAL",
        "--work-seconds",
        "0.002",
        "--wait-for-go",
        "--pause-after-first",
    )
    with ExitStack() as stack:
        consumers = [stack.enter_context(consumer_process(path, log, *options)) for log in logs]
        assert [read_line(c) for c in consumers] == ["ready"] * 3
        tell_each(consumers, "go")  # all three start taking at once
        # Each holds a message of its own before any goes on: they compete, they do not
        # take turns, and no scheduling luck can let one consumer take all the work.
        first = [read_line(c) for c in consumers]
        assert all(line.startswith("took ") for line in first), first
        assert len(set(first)) == 3, f"two consumers were handed the same message: {first}"
        tell_each(consumers, "carry on")
        assert [c.wait(timeout=30) for c in consumers] == [0, 0, 0]
    per_consumer = [Counter(i for kind, i in read_events(log) if kind == "deliver") for log in logs]
    assert all(per_consumer), f"a consumer took no work: {[sum(c.values()) for c in per_consumer]}"
    deliveries = sum(per_consumer, Counter())
    assert sorted(deliveries) == ids
    assert set(deliveries.values()) == {1}  # no message was handed to two consumers
    with DurableQueue(path) as queue:
        assert queue.statistics() == statistics()


def test_a_consumer_killed_mid_batch_loses_nothing(path: Path, tmp_path: Path) -> None:
    with DurableQueue(path) as queue:
        ids = queue.put_many([b"job-%d" % n for n in range(20)])
    before, after = tmp_path / "before-crash.log", tmp_path / "after-restart.log"
    options = ("--batch", "5", "--visibility-timeout", "30")

    # Batch 1 (messages 1-5) is acked; in batch 2 it acks message 6, processes 7, and is
    # killed before acking it: 7, 8, 9 and 10 are held, unacked.
    with consumer_process(path, before, *options, "--hold-after", "7") as victim:
        assert read_line(victim) == "holding 4"
        with DurableQueue(path) as queue:
            assert queue.statistics() == statistics(ready=10, in_flight=4)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=20) == -signal.SIGKILL

    # A new consumer, 31 s later by its clock: the dead consumer's leases have expired.
    with consumer_process(path, after, *options, "--clock-offset", "31") as survivor:
        assert survivor.wait(timeout=20) == 0

    first_run, second_run = read_events(before), read_events(after)
    acked_before_crash = {i for kind, i in first_run if kind == "ack"}
    assert acked_before_crash == set(ids[:6])
    processed = Counter(i for kind, i in first_run + second_run if kind == "process")
    assert set(processed) == set(ids)  # nothing lost
    delivered_after = {i for kind, i in second_run if kind == "deliver"}
    assert not delivered_after & acked_before_crash  # nothing acknowledged came back
    assert delivered_after == set(ids[6:])
    # Message 7 was processed but not acked when the consumer died: at-least-once
    # means it is processed again. Everything else is processed exactly once.
    assert {i for i, n in processed.items() if n > 1} == {ids[6]}
    assert f"deliver {ids[6]} 2" in after.read_text().splitlines()
    acks = Counter(i for kind, i in first_run + second_run if kind == "ack")
    assert sorted(acks) == ids and set(acks.values()) == {1}
    with DurableQueue(path) as queue:
        assert queue.statistics() == statistics()
        assert queue.dead_letters() == []


async def test_an_idle_worker_backs_off_up_to_its_cap(
    queue: DurableQueue, autojump_clock: trio.testing.MockClock, monkeypatch
) -> None:
    polls: list[float] = []
    enough = trio.Event()
    get = queue.get

    def counted_get(visibility_timeout: float) -> Message | None:
        polls.append(autojump_clock.current_time())
        if len(polls) == 12:
            trio.from_thread.run_sync(enough.set)
        return get(visibility_timeout)

    monkeypatch.setattr(queue, "get", counted_get)

    async def handler(message: Message) -> None:
        raise AssertionError("there is nothing to handle")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: run_worker(
                queue, handler, visibility_timeout=30, poll_interval=0.5, max_poll_interval=8
            )
        )
        await enough.wait()  # no deadline here, so virtual time moves only by the worker's waits
        nursery.cancel_scope.cancel()
    gaps = [round(later - earlier, 6) for earlier, later in itertools.pairwise(polls)]
    assert gaps == [0.5, 1, 2, 4, 8, 8, 8, 8, 8, 8, 8]


def signal_first_poll(queue: DurableQueue, monkeypatch) -> trio.Event:
    """An event set once the worker's first `get` has returned (it runs in a thread)."""
    polled = trio.Event()
    get = queue.get

    def signalling_get(visibility_timeout: float) -> Message | None:
        message = get(visibility_timeout)
        trio.from_thread.run_sync(polled.set)
        return message

    monkeypatch.setattr(queue, "get", signalling_get)
    return polled


async def test_a_put_in_the_same_process_wakes_an_idle_worker_at_once(
    queue: DurableQueue, autojump_clock: trio.testing.MockClock, monkeypatch
) -> None:
    handled_at = []
    handled = trio.Event()
    first_poll_done = signal_first_poll(queue, monkeypatch)

    async def handler(message: Message) -> None:
        handled_at.append(trio.current_time())
        handled.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: run_worker(
                queue, handler, visibility_timeout=30, poll_interval=1000, max_poll_interval=1000
            )
        )
        await first_poll_done.wait()  # it found nothing, and waits 1000 s for the next poll
        await trio.sleep(10)
        put_at = trio.current_time()
        queue.put(b"now")  # in this thread: no virtual time passes until the handler runs
        await handled.wait()
        nursery.cancel_scope.cancel()
    assert handled_at == [put_at]


async def test_a_put_from_another_thread_wakes_an_idle_worker(
    queue: DurableQueue, monkeypatch
) -> None:
    handled = trio.Event()
    first_poll_done = signal_first_poll(queue, monkeypatch)

    async def handler(message: Message) -> None:
        handled.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: run_worker(
                queue, handler, visibility_timeout=30, poll_interval=1000, max_poll_interval=1000
            )
        )
        await first_poll_done.wait()  # it found nothing, and waits 1000 s for the next poll
        putter = threading.Thread(target=queue.put, args=(b"from a thread",))
        putter.start()
        with trio.fail_after(10):  # a hang guard (real clock): the next poll is 1000 s away
            await handled.wait()
        putter.join()
        nursery.cancel_scope.cancel()
    assert queue.statistics() == statistics()


async def test_worker_poll_intervals_are_checked(queue: DurableQueue) -> None:
    async def handler(message: Message) -> None:
        pass

    with pytest.raises(ValueError, match="poll_interval"):
        await run_worker(
            queue, handler, visibility_timeout=30, poll_interval=10, max_poll_interval=1
        )
