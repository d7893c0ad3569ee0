"""Lamport and vector clocks, and happens-before over traces: by hand, then on random runs."""

from __future__ import annotations

import functools
import random

import pytest

from reference.net.links import Link, Uniform
from reference.net.node import Node
from reference.net.simnet import Simulation
from reference.net.trace import Deliver, Drop, Duplicate, Note, Partition, Send, Start, Trace
from reference.order.clocks import LamportClock, Order, VectorClock
from reference.order.happens_before import (
    HappensBefore,
    IncompleteTrace,
    node_events,
    timestamps,
)

# --- Lamport clocks ---------------------------------------------------------------------


def test_a_lamport_clock_ticks_stamps_sends_and_jumps_past_what_it_receives():
    clock = LamportClock()
    assert clock.tick() == 1
    assert clock.on_send() == 2
    assert clock.on_receive(7) == 8
    assert clock.on_receive(3) == 9  # an old timestamp still moves the clock on by one
    assert clock.time == 9


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None, True])
def test_a_lamport_clock_refuses_a_timestamp_that_is_not_a_count(bad):
    with pytest.raises(ValueError, match="Lamport timestamp"):
        LamportClock().on_receive(bad)


# --- Vector clocks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "order"),
    [
        ({"x": 1}, {"x": 2}, Order.BEFORE),
        ({"x": 1}, {"x": 1, "y": 1}, Order.BEFORE),
        ({"x": 2, "y": 1}, {"x": 1, "y": 1}, Order.AFTER),
        ({"x": 1, "y": 2}, {"x": 1, "y": 2}, Order.EQUAL),
        ({}, {}, Order.EQUAL),
        ({"x": 2, "y": 1}, {"x": 1, "y": 2}, Order.CONCURRENT),
        ({"x": 1}, {"y": 1}, Order.CONCURRENT),
    ],
)
def test_vector_compare_names_the_four_cases(a, b, order):
    assert VectorClock(a).compare(VectorClock(b)) is order
    mirror = {Order.BEFORE: Order.AFTER, Order.AFTER: Order.BEFORE}
    assert VectorClock(b).compare(VectorClock(a)) is mirror.get(order, order)


def test_merge_takes_the_entrywise_maximum_and_increment_counts_one_event():
    clock = VectorClock({"a": 3, "b": 1})
    clock.merge(VectorClock({"b": 4, "c": 2}))
    assert clock.as_dict() == {"a": 3, "b": 4, "c": 2}
    clock.increment("a")
    clock.increment("d")
    assert clock.as_dict() == {"a": 4, "b": 4, "c": 2, "d": 1}
    assert clock["zz"] == 0


def test_zero_entries_do_not_make_two_vectors_differ():
    assert VectorClock({"a": 1, "b": 0}) == VectorClock({"a": 1})
    assert VectorClock({"a": 1, "b": 0}).as_dict() == {"a": 1}
    assert VectorClock({"a": 1}) != VectorClock({"a": 2})


def test_a_copy_is_independent_of_its_original():
    clock = VectorClock({"a": 1})
    copy = clock.copy()
    clock.increment("a")
    assert copy.as_dict() == {"a": 1}


@pytest.mark.parametrize("bad", [{"a": -1}, {"a": 1.0}, {3: 1}, {"a": "1"}])
def test_a_vector_refuses_entries_that_are_not_counts(bad):
    with pytest.raises(ValueError, match="vector"):
        VectorClock(bad)


# --- Happens-before by hand ------------------------------------------------------------


def hand_made() -> Trace:
    """a sends 1 to b (delivered), 2 to b (lost), 3 to c (duplicated: copy 4 delivered, the
    original dropped); c then sends 5 to b."""
    return Trace(
        [
            Start(0.0, "a"),  # a0
            Start(0.0, "b"),  # b0
            Start(0.0, "c"),  # c0
            Send(0.1, "a", "b", 1, "one"),  # a1
            Send(0.2, "a", "b", 2, "two"),  # a2
            Drop(0.2, "a", "b", 2, "loss"),
            Send(0.3, "a", "c", 3, "three"),  # a3
            Duplicate(0.3, "a", "c", 4, 3),
            Partition(0.35, ("a",), ("c",), False),
            Deliver(0.4, "a", "b", 1),  # b1
            Deliver(0.5, "a", "c", 4),  # c1: the copy of 3
            Drop(0.6, "a", "c", 3, "partition"),
            Note(0.7, "c", "got three"),  # c2
            Send(0.8, "c", "b", 5, "five"),  # c3
            Deliver(0.9, "c", "b", 5),  # b2
        ]
    )


def test_events_are_named_by_node_and_place_in_that_nodes_history():
    events = node_events(hand_made())
    assert [event.id for event in events] == [
        ("a", 0), ("b", 0), ("c", 0), ("a", 1), ("a", 2), ("a", 3),
        ("b", 1), ("c", 1), ("c", 2), ("c", 3), ("b", 2),
    ]  # fmt: skip
    assert events[6].position == 9 and isinstance(events[6].event, Deliver)


def test_program_order_and_messages_make_happens_before():
    hb = HappensBefore(hand_made())
    assert hb.before(("a", 0), ("a", 3))
    assert hb.before(("a", 1), ("b", 1))  # a delivered message
    assert not hb.before(("b", 1), ("a", 1))
    assert hb.before(("a", 3), ("c", 1))  # the duplicate's delivery receives the original send
    assert hb.before(("a", 3), ("b", 2))  # transitively, through c
    assert hb.relation(("a", 2), ("b", 1)) is Order.CONCURRENT
    assert hb.relation(("b", 2), ("a", 0)) is Order.AFTER
    assert hb.relation(("c", 2), ("c", 2)) is Order.EQUAL
    assert hb.past(("c", 1)) == [("a", 0), ("c", 0), ("a", 1), ("a", 2), ("a", 3)]


def test_a_lost_message_joins_nothing():
    hb = HappensBefore(hand_made())
    assert hb.relation(("a", 2), ("b", 1)) is Order.CONCURRENT  # message 2 was lost
    assert not hb.before(("a", 2), ("b", 0))


def test_timestamps_of_the_hand_made_trace():
    stamps = timestamps(hand_made())
    assert stamps["a", 3].lamport == 4 and stamps["a", 3].vector.as_dict() == {"a": 4}
    assert stamps["b", 1].lamport == 3 and stamps["b", 1].vector.as_dict() == {"a": 2, "b": 2}
    assert stamps["c", 1].lamport == 5 and stamps["c", 1].vector.as_dict() == {"a": 4, "c": 2}
    assert stamps["b", 2].lamport == 8
    assert stamps["b", 2].vector.as_dict() == {"a": 4, "b": 3, "c": 4}


def test_a_delivery_without_its_send_is_an_incomplete_trace():
    trace = Trace([Start(0.0, "b"), Deliver(0.1, "a", "b", 9)])
    with pytest.raises(IncompleteTrace, match="message 9"):
        HappensBefore(trace)
    with pytest.raises(IncompleteTrace):
        timestamps(trace)


def test_asking_about_an_event_that_is_not_there_names_it():
    hb = HappensBefore(hand_made())
    with pytest.raises(KeyError, match="'z', 0"):
        hb.before(("z", 0), ("a", 0))
    with pytest.raises(KeyError, match="'a', 99"):
        hb.relation(("a", 99), ("a", 99))
    assert hb.event(["a", 1]).event.msg_id == 1  # a list is as good as a tuple


# --- On random runs -------------------------------------------------------------------


class Chatter(Node):
    """Sends to random peers at random moments, sometimes answers, sometimes notes."""

    def __init__(self, peers: list[str], budget: int) -> None:
        self.peers = peers
        self.budget = budget

    def on_start(self) -> None:
        self.ctx.set_timer(self.ctx.random.uniform(0, 0.05), "chat")

    def on_timer(self, name) -> None:
        self._act()
        if self.budget > 0:
            self.ctx.set_timer(self.ctx.random.uniform(0, 0.05), "chat")

    def on_message(self, src, msg) -> None:
        if self.ctx.random.random() < 0.3:
            self._act()

    def _act(self) -> None:
        if self.budget <= 0:
            return
        self.budget -= 1
        if self.ctx.random.random() < 0.2:
            self.ctx.note("thinking")
        else:
            self.ctx.send(self.ctx.random.choice(self.peers), self.budget)


def random_trace(seed: int) -> Trace:
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(rng.randint(2, 4))]
    link = Link(loss=rng.choice([0.0, 0.2]), duplicate=rng.choice([0.0, 0.3]))
    sim = Simulation(seed, link=Link(link.loss, link.duplicate, Uniform(0.001, 0.04)))
    for name in names:
        peers = [peer for peer in names if peer != name]
        sim.add_node(name, functools.partial(Chatter, peers, rng.randint(1, 4)))
    sim.run()
    return sim.trace


SEEDS = range(2000)


def test_the_clocks_agree_with_happens_before_on_random_runs():
    counts = dict.fromkeys(Order, 0)
    for seed in SEEDS:
        trace = random_trace(seed)
        hb, stamps = HappensBefore(trace), timestamps(trace)
        ids = [event.id for event in hb.events]
        for i, a in enumerate(ids):
            for b in ids[i:]:  # b is a or later in the trace: AFTER is checked by symmetry
                relation = hb.relation(a, b)
                counts[relation] += 1
                assert stamps[a].vector.compare(stamps[b].vector) is relation, f"seed {seed}"
                if relation is Order.BEFORE:
                    assert stamps[a].lamport < stamps[b].lamport, f"seed {seed}"
    assert counts[Order.AFTER] == 0  # a later event never happens before an earlier one
    assert min(counts[Order.BEFORE], counts[Order.CONCURRENT], counts[Order.EQUAL]) > 1000


def test_the_random_runs_lose_and_duplicate_messages():
    kinds = {event.kind for seed in range(50) for event in random_trace(seed)}
    assert {"drop", "duplicate", "deliver", "note"} <= kinds


def test_a_smaller_lamport_timestamp_does_not_mean_happened_before():
    """The converse fails: some concurrent pair has L(a) < L(b)."""
    for seed in SEEDS:
        trace = random_trace(seed)
        hb, stamps = HappensBefore(trace), timestamps(trace)
        for a in hb.events:
            for b in hb.events:
                concurrent = hb.relation(a.id, b.id) is Order.CONCURRENT
                if concurrent and stamps[a.id].lamport < stamps[b.id].lamport:
                    return
    pytest.fail("every concurrent pair had equal Lamport timestamps")
