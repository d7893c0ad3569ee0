"""Reliable delivery: backoff, the receiver step by step, and both senders under faults."""

from __future__ import annotations

import functools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.delivery.reliable import (
    ENTRY_COST,
    Backoff,
    ReliableReceiver,
    SlidingWindowSender,
    StopAndWaitSender,
    buffered_size,
    parse_ack,
    parse_data,
)
from reference.net.links import Fixed, Link, Uniform
from reference.net.simnet import Simulation
from reference.net.trace import Deliver, Send


class FakeContext:
    """A context that records what a node does, for step-by-step tests."""

    def __init__(self, node_id: str = "me") -> None:
        self.node_id = node_id
        self.storage: dict = {}
        self.random = random.Random(0)
        self.sent: list[tuple[str, object]] = []
        self.timers: dict = {}
        self.notes: list[str] = []

    def send(self, dst, msg):
        self.sent.append((dst, msg))

    def set_timer(self, delay, name):
        self.timers[name] = delay

    def cancel_timer(self, name):
        self.timers.pop(name, None)

    def now(self):
        return 0.0

    def note(self, text):
        self.notes.append(text)


def started(node, ctx=None):
    node.ctx = ctx or FakeContext()
    node.on_start()
    return node


# --- Backoff ----------------------------------------------------------------------------


def test_backoff_grows_exponentially_up_to_the_cap():
    schedule = Backoff(initial=0.1, multiplier=2.0, cap=1.0, jitter=0.0)
    assert [schedule.delay(n, 0.9) for n in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_jitter_takes_up_to_its_fraction_off_the_ceiling():
    schedule = Backoff(initial=1.0, multiplier=2.0, cap=8.0, jitter=0.5)
    assert schedule.delay(2, 0.0) == 4.0
    assert schedule.delay(2, 0.5) == 3.0
    assert schedule.delay(2, 0.999) == pytest.approx(2.002)
    full = Backoff(initial=1.0, cap=8.0, jitter=1.0)
    assert full.delay(10, 0.75) == 2.0


def test_a_huge_attempt_number_gives_the_cap_not_an_overflow():
    assert Backoff(initial=0.1, multiplier=2.0, cap=3.0, jitter=0.0).delay(5000, 0.0) == 3.0
    assert Backoff(initial=0.1, multiplier=10, cap=3.0, jitter=0.0).delay(10**4, 0.0) == 3.0


@pytest.mark.parametrize(
    "settings",
    [{"initial": 0}, {"initial": 5, "cap": 1}, {"multiplier": 0.5}, {"jitter": 1.5}],
)
def test_nonsense_backoff_settings_are_refused(settings):
    with pytest.raises(ValueError):
        Backoff(**settings)


def test_a_negative_attempt_is_refused():
    with pytest.raises(ValueError):
        Backoff().delay(-1, 0.0)


# --- Message parsing ------------------------------------------------------------------


@pytest.mark.parametrize(
    "msg, expected",
    [
        (("data", 3, "x"), (3, "x")),
        (["data", 0, None], (0, None)),
        (("data", -1, "x"), None),
        (("data", 1.0, "x"), None),
        (("data", True, "x"), None),
        (("data", 1), None),
        ("data", None),
        ({"data": 1}, None),
        (("ack", 1, 0), None),
    ],
)
def test_parse_data(msg, expected):
    assert parse_data(msg) == expected


@pytest.mark.parametrize(
    "msg, expected",
    [
        (("ack", 3, 2), (3, 2)),
        (["ack", 0, 0], (0, 0)),
        (("ack", 3, "2"), None),
        (("ack", 3), None),
        (("data", 3, 2), None),
        (None, None),
    ],
)
def test_parse_ack(msg, expected):
    assert parse_ack(msg) == expected


# --- The receiver, step by step -----------------------------------------------------------


def test_receiver_delivers_in_order_and_acknowledges_each_message():
    receiver = started(ReliableReceiver())
    ctx = receiver.ctx
    receiver.on_message("s", ("data", 1, "b"))
    assert ctx.storage.get("delivered") is None
    assert ctx.sent == [("s", ("ack", 0, 1))]
    receiver.on_message("s", ("data", 0, "a"))
    assert ctx.storage["delivered"] == ["a", "b"]
    assert ctx.sent[-1] == ("s", ("ack", 2, 0))


def test_receiver_drops_duplicates_but_acknowledges_them_again():
    receiver = started(ReliableReceiver())
    for _ in range(3):
        receiver.on_message("s", ("data", 0, "a"))
    receiver.on_message("s", ("data", 2, "c"))
    receiver.on_message("s", ("data", 2, "c"))
    assert receiver.ctx.storage["delivered"] == ["a"]
    assert [msg for _, msg in receiver.ctx.sent] == [
        ("ack", 1, 0),
        ("ack", 1, 0),
        ("ack", 1, 0),
        ("ack", 1, 2),
        ("ack", 1, 2),
    ]


def test_receiver_keeps_one_sequence_per_sender():
    receiver = started(ReliableReceiver())
    receiver.on_message("x", ("data", 0, "x0"))
    receiver.on_message("y", ("data", 0, "y0"))
    receiver.on_message("y", ("data", 1, "y1"))
    assert receiver.ctx.storage["delivered"] == ["x0", "y0", "y1"]
    assert receiver.ctx.sent[-1] == ("y", ("ack", 2, 1))


def test_receiver_state_lives_in_storage_so_a_new_object_carries_on():
    ctx = FakeContext()
    first = started(ReliableReceiver(), ctx)
    first.on_message("s", ("data", 0, "a"))
    first.on_message("s", ("data", 2, "c"))
    second = started(ReliableReceiver(), ctx)  # a restart: same storage, new object
    second.on_message("s", ("data", 0, "a"))
    second.on_message("s", ("data", 1, "b"))
    assert ctx.storage["delivered"] == ["a", "b", "c"]


def test_receiver_buffers_a_bounded_amount_ahead():
    receiver = started(ReliableReceiver(max_buffer=4))
    receiver.on_message("s", ("data", 4, "too far"))
    receiver.on_message("s", ("data", 3, "just fits"))
    assert receiver.ctx.sent == [("s", ("ack", 0, 3))]
    assert receiver.ctx.storage["receiver/s"]["buffer"] == {3: "just fits"}


def held_bytes(storage: dict) -> int:
    """The payload bytes a receiver's buffers hold, measured from its storage."""
    records = [state for key, state in storage.items() if key.startswith("receiver/")]
    return sum(len(payload) for state in records for payload in state["buffer"].values())


def test_a_flood_from_many_senders_stays_within_the_byte_budget():
    budget = 50_000
    receiver = started(ReliableReceiver(max_buffered_bytes=budget))
    ctx = receiver.ctx
    for name in range(200):  # invented names, none ever sends its message 0
        for seq in range(1, 21):
            receiver.on_message(f"liar{name}", ("data", seq, "x" * 1000))
    kept = budget // buffered_size("x" * 1000)  # 45 messages of 1,000 bytes, and no more
    assert held_bytes(ctx.storage) == kept * 1000 and len(ctx.sent) == kept  # only they are acked
    assert receiver.buffered_bytes == kept * (1000 + 2 + ENTRY_COST) <= budget
    assert len(ctx.storage) == 3  # the senders that were refused everything left no record
    receiver.on_message("honest", ("data", 0, "in order"))  # needs no room: delivered all the same
    assert ctx.storage["delivered"] == ["in order"] and ctx.sent[-1] == ("honest", ("ack", 1, 0))


def test_the_budget_is_counted_again_from_storage_after_a_restart():
    ctx = FakeContext()
    first = started(ReliableReceiver(max_buffered_bytes=3 * buffered_size("b")), ctx)
    for seq, payload in [(1, "b"), (2, "c"), (3, "d")]:
        first.on_message("s", ("data", seq, payload))
    second = started(ReliableReceiver(max_buffered_bytes=3 * buffered_size("b")), ctx)
    assert second.buffered_bytes == first.buffered_bytes == 3 * buffered_size("b")
    second.on_message("t", ("data", 1, "x"))  # full: refused, not acknowledged
    assert ctx.sent == [("s", ("ack", 0, n)) for n in (1, 2, 3)]
    second.on_message("s", ("data", 0, "a"))
    assert ctx.storage["delivered"] == ["a", "b", "c", "d"] and second.buffered_bytes == 0


def test_a_message_too_far_ahead_leaves_no_record():
    receiver = started(ReliableReceiver(max_buffer=4))
    receiver.on_message("stranger", ("data", 4, "x"))
    assert receiver.ctx.storage == {} and receiver.ctx.sent == []


@pytest.mark.parametrize("settings", [{"max_buffer": 0}, {"max_buffered_bytes": -1}])
def test_nonsense_receiver_settings_are_refused(settings):
    with pytest.raises(ValueError):
        ReliableReceiver(**settings)


def test_receiver_ignores_malformed_messages():
    receiver = started(ReliableReceiver())
    for junk in ["hello", ("data", -1, "x"), ("data",), None, ("ack", 0, 0)]:
        receiver.on_message("s", junk)
    assert receiver.ctx.sent == []
    assert len(receiver.ctx.notes) == 5


def test_receiver_deliver_can_be_overridden():
    class Uppercase(ReliableReceiver):
        def deliver(self, src, payload):
            self.ctx.storage.setdefault("seen", []).append((src, payload.upper()))

    receiver = started(Uppercase())
    receiver.on_message("s", ("data", 0, "hi"))
    assert receiver.ctx.storage == {
        "receiver/s": {"next_expected": 1, "buffer": {}},
        "seen": [("s", "HI")],
    }


# --- The senders, step by step ------------------------------------------------------------


def test_stop_and_wait_sends_the_next_message_only_after_an_ack():
    sender = started(StopAndWaitSender("r", ["a", "b"]))
    ctx = sender.ctx
    assert ctx.sent == [("r", ("data", 0, "a"))]
    sender.on_message("r", ("ack", 0, 5))  # acknowledges nothing new
    assert len(ctx.sent) == 1
    sender.on_timer(("retransmit", "r"))
    assert ctx.sent[-1] == ("r", ("data", 0, "a")) and sender.attempt == 1
    sender.on_message("r", ("ack", 1, 0))
    assert ctx.sent[-1] == ("r", ("data", 1, "b")) and sender.attempt == 0
    sender.on_message("r", ("ack", 0, 1))  # a selective ack of the message in flight
    assert sender.done and ctx.timers == {}
    sender.submit("c")
    assert ctx.sent[-1] == ("r", ("data", 2, "c"))


def test_stop_and_wait_times_out_longer_after_each_retry():
    sender = started(StopAndWaitSender("r", ["a"], backoff=Backoff(jitter=0.0)))
    timeouts = [sender.ctx.timers[("retransmit", "r")]]
    for _ in range(4):
        sender.on_timer(("retransmit", "r"))
        timeouts.append(sender.ctx.timers[("retransmit", "r")])
    assert timeouts == [0.1, 0.2, 0.4, 0.8, 1.6]


def test_sliding_window_fills_its_window_and_slides_on_acks():
    sender = started(SlidingWindowSender("r", "abcdef", window=3))
    ctx = sender.ctx
    assert [msg[1] for _, msg in ctx.sent] == [0, 1, 2]
    assert set(ctx.timers) == {("retransmit", "r", n) for n in range(3)}
    sender.on_message("r", ("ack", 0, 1))  # 1 arrived, 0 did not: the window cannot slide
    assert len(ctx.sent) == 3 and ("retransmit", "r", 1) not in ctx.timers
    sender.on_message("r", ("ack", 2, 0))
    assert [msg[1] for _, msg in ctx.sent] == [0, 1, 2, 3, 4]
    sender.on_message("r", ("ack", 6, 5))  # acknowledges beyond what was sent: clamped
    assert sender.base == 5 and not sender.done


def test_sliding_window_retransmits_only_the_message_whose_timer_ran_out():
    sender = started(SlidingWindowSender("r", "abc", window=3))
    sender.on_timer(("retransmit", "r", 1))
    assert sender.ctx.sent[-1] == ("r", ("data", 1, "b"))
    assert sender.attempts == {0: 0, 1: 1, 2: 0}


def test_sliding_window_resends_a_message_overtaken_three_times_at_once():
    sender = started(SlidingWindowSender("r", range(8), window=8))
    ctx = sender.ctx
    for later in (1, 2):
        sender.on_message("r", ("ack", 0, later))
    assert len(ctx.sent) == 8
    sender.on_message("r", ("ack", 0, 3))
    assert ctx.sent[-1] == ("r", ("data", 0, 0)) and sender.attempts[0] == 1
    sender.on_message("r", ("ack", 0, 4))  # only once: no storm of resends
    assert len(ctx.sent) == 9


def test_senders_ignore_acks_from_strangers_and_junk():
    for sender in (StopAndWaitSender("r", "ab"), SlidingWindowSender("r", "ab")):
        started(sender)
        sent = list(sender.ctx.sent)
        sender.on_message("mallory", ("ack", 2, 1))
        sender.on_message("r", ("ack", -2, 1))
        sender.on_message("r", "ack")
        assert sender.ctx.sent == sent and not sender.done
        assert len(sender.ctx.notes) == 3


def test_a_window_must_hold_a_message():
    with pytest.raises(ValueError):
        SlidingWindowSender("r", window=0)


# --- On the simulator ------------------------------------------------------------------


def transfer(sender_factory, *, seed=0, link=None, messages=range(30), until=None):
    sim = Simulation(seed, link=link or Link(delay=Fixed(0.01)))
    sim.add_node("a", functools.partial(sender_factory, "b", messages))
    sim.add_node("b", ReliableReceiver)
    sim.run(until=until)
    return sim


def in_flight_counts(sim: Simulation) -> list[int]:
    """Distinct data sequence numbers sent but not yet acknowledged, after each send."""
    acked_below, outstanding, counts = 0, set(), []
    for event in sim.trace:
        if isinstance(event, Send) and event.msg[0] == "data":
            outstanding.add(event.msg[1])
            outstanding = {seq for seq in outstanding if seq >= acked_below}
            counts.append(len(outstanding))
        elif isinstance(event, Send) and event.msg[0] == "ack":
            acked_below = max(acked_below, event.msg[1])
    return counts


def test_stop_and_wait_never_has_two_messages_in_flight():
    sim = transfer(StopAndWaitSender)
    assert sim.storage("b")["delivered"] == list(range(30))
    assert max(in_flight_counts(sim)) == 1


def test_sliding_window_keeps_at_most_a_window_in_flight():
    sim = transfer(functools.partial(SlidingWindowSender, window=5))
    assert sim.storage("b")["delivered"] == list(range(30))
    assert max(in_flight_counts(sim)) == 5


def test_a_window_beats_stop_and_wait_tenfold_at_ten_percent_loss():
    lossy = Link(loss=0.1, delay=Fixed(0.01))
    slow = transfer(StopAndWaitSender, link=lossy, messages=range(300), seed=1).now
    fast = transfer(
        functools.partial(SlidingWindowSender, window=32), link=lossy, messages=range(300), seed=1
    ).now
    assert slow / fast > 10


def test_a_restarted_sender_resends_its_outbox():
    sim = Simulation(3, link=Link(delay=Fixed(0.01)))
    sim.add_node("a", functools.partial(SlidingWindowSender, "b", range(100), window=4))
    sim.add_node("b", ReliableReceiver)
    sim.call_at(0.1, sim.crash, "a")
    sim.call_at(0.5, sim.restart, "a")
    sim.call_at(0.6, lambda: sim.node("a").submit("late"))
    sim.run()
    assert sim.storage("b")["delivered"] == [*range(100), "late"]
    assert sim.node("a").done


# --- The property: exactly once, in order, whatever the network does ----------------------

HOSTILE = Link(loss=0.3, duplicate=0.2, delay=Uniform(0.005, 0.05))


def hostile_run(
    sender_factory, seed: int, count: int = 60, senders=("a",), receiver=ReliableReceiver
) -> Simulation:
    """30% loss, 20% duplicates, reordering, partitions that heal, crashes of both ends,
    all while the transfer is under way. Each sender sends `messages(name, count)` to "b"."""
    schedule = random.Random(seed)
    sim = Simulation(seed, link=HOSTILE)
    for name in senders:
        sim.add_node(name, functools.partial(sender_factory, "b", messages(name, count)))
    sim.add_node("b", receiver)
    t = 0.0
    for _ in range(4):
        t += schedule.uniform(0.02, 0.25)
        one_way = schedule.random() < 0.5
        sim.call_at(t, functools.partial(sim.partition, senders, ["b"], one_way=one_way))
        t += schedule.uniform(0.02, 0.25)
        sim.call_at(t, sim.heal)
        t += schedule.uniform(0.02, 0.25)
        victim = "b" if schedule.random() < 0.7 else senders[-1]
        sim.call_at(t, sim.crash, victim)
        t += schedule.uniform(0.0, 0.25)
        sim.call_at(t, sim.restart, victim)
    sim.run(until=t + 300.0)
    return sim


def messages(sender: str, count: int) -> list[str]:
    return [f"{sender}:m{n}" for n in range(count)]


def faults_during_transfer(sim: Simulation) -> set[str]:
    """Why messages were dropped before the last delivery to the application."""
    last = max(e.time for e in sim.trace if isinstance(e, Deliver) and e.dst == "b")
    return {e.reason for e in sim.trace if e.kind == "drop" and e.time < last}


@settings(max_examples=40)
@given(seed=st.integers(0, 2**32 - 1))
def test_stop_and_wait_delivers_exactly_once_in_order_under_every_fault(seed):
    sim = hostile_run(StopAndWaitSender, seed)
    assert sim.storage("b")["delivered"] == messages("a", 60), f"seed {seed}"
    assert sim.node("a").done


@settings(max_examples=40)
@given(seed=st.integers(0, 2**32 - 1), window=st.integers(2, 16))
def test_sliding_window_delivers_exactly_once_in_order_under_every_fault(seed, window):
    sim = hostile_run(functools.partial(SlidingWindowSender, window=window), seed)
    assert sim.storage("b")["delivered"] == messages("a", 60), f"seed {seed}"
    assert sim.node("a").done
    counts = sim.trace.counts()
    assert counts["crash"] == 4 and counts["duplicate"] > 0 and counts["drop"] > 0


SENDERS = ("a", "c", "d")
SMALL_BUDGET = buffered_size("a:m10")  # room for one message out of order, across all senders


@settings(max_examples=20)
@given(seed=st.integers(0, 2**32 - 1), window=st.integers(2, 8))
def test_a_small_budget_shared_by_three_senders_loses_nothing(seed, window):
    receiver = functools.partial(ReliableReceiver, max_buffered_bytes=SMALL_BUDGET)
    sender = functools.partial(SlidingWindowSender, window=window)
    sim = hostile_run(sender, seed, count=30, senders=SENDERS, receiver=receiver)
    delivered = sim.storage("b")["delivered"]
    for name in SENDERS:
        mine = [payload for payload in delivered if payload.startswith(f"{name}:")]
        assert mine == messages(name, 30), f"seed {seed}, sender {name}"
        assert sim.node(name).done, f"seed {seed}, sender {name}"
    assert len(delivered) == 3 * 30, f"seed {seed}"
    handled = sum(isinstance(e, Deliver) and e.dst == "b" for e in sim.trace)
    acked = sum(isinstance(e, Send) and e.src == "b" for e in sim.trace)
    assert handled > acked, f"seed {seed}: the budget never refused a message"


def test_the_faults_really_happen_while_messages_are_in_flight():
    for sender in (StopAndWaitSender, functools.partial(SlidingWindowSender, window=8)):
        hit = [faults_during_transfer(hostile_run(sender, seed)) for seed in range(10)]
        assert sum(reasons == {"loss", "partition", "down"} for reasons in hit) >= 5, hit
