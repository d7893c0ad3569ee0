"""Fault schedules: recorded from a trace, replayed to the same trace, fault-free where silent."""

import functools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.debug import planted
from reference.debug.faults import MessageFault, Replay, Schedule, record, replay
from reference.delivery.reliable import ReliableReceiver, SlidingWindowSender
from reference.net.links import Fixed, Link, Uniform
from reference.net.simnet import Simulation
from reference.net.trace import Crash, Deliver, Drop, Duplicate, Heal, Partition, Send, Start


def build_window(sim):
    sim.add_node("a", functools.partial(SlidingWindowSender, "b", range(30), window=4))
    sim.add_node("b", ReliableReceiver)


def stormy_run(seed, link):
    """Loss, duplicates, partitions (one way too) and crashes of both ends."""
    sim = Simulation(seed, link=link)
    build_window(sim)
    rng, t = random.Random(seed), 0.0
    for _ in range(3):
        t += rng.uniform(0.02, 0.25)
        sim.call_at(t, functools.partial(sim.partition, ["a"], ["b"], one_way=rng.random() < 0.5))
        t += rng.uniform(0.02, 0.25)
        sim.call_at(t, sim.heal)
        t += rng.uniform(0.02, 0.25)
        sim.call_at(t, sim.crash, rng.choice("ab"))
        t += rng.uniform(0.0, 0.25)
        sim.call_at(t, sim.restart, rng.choice("ab"))
    sim.run(until=t + 1.0)
    return sim


@pytest.mark.parametrize("delay", [Fixed(0.01), Uniform(0.005, 0.05)])
@pytest.mark.parametrize("seed", range(6))
def test_a_recorded_schedule_replays_to_the_same_trace(seed, delay):
    sim = stormy_run(seed, Link(loss=0.3, duplicate=0.2, delay=delay))
    schedule = record(sim, plain_delay=0.01)
    kinds = {type(fault) for fault in schedule.faults}
    assert {MessageFault, Crash, Start, Partition, Heal} <= kinds, f"seed {seed}"
    assert replay(build_window, schedule).trace.text() == sim.trace.text(), f"seed {seed}"


def test_the_planted_raft_run_replays_to_the_same_trace():
    sim = planted.raft_run(3, until=8.0)
    assert replay(planted.build_raft(), record(sim)).trace.text() == sim.trace.text()


def test_a_schedule_without_faults_replays_fault_free_on_a_lossy_link():
    lossy = Link(loss=0.5, duplicate=0.5, delay=Uniform(0.005, 0.05))
    sim = replay(build_window, Schedule(seed=7, until=5.0, link=lossy, plain_delay=0.02))
    counts = sim.trace.counts()
    assert counts.get("drop", 0) == counts.get("duplicate", 0) == counts.get("crash", 0) == 0
    sends = {e.msg_id: e.time for e in sim.trace if isinstance(e, Send)}
    arrivals = [e for e in sim.trace if isinstance(e, Deliver)]
    assert len(arrivals) == len(sends) == 60  # 30 data, 30 acks: nothing resent
    assert all(e.time == sends[e.msg_id] + 0.02 for e in arrivals)
    assert sim.storage("b")["delivered"] == list(range(30))
    assert record(sim, plain_delay=0.02).faults == ()


def test_record_names_each_message_by_its_link_and_number_and_keeps_only_faults():
    sim = stormy_run(2, Link(loss=0.3, duplicate=0.2, delay=Fixed(0.01)))
    sends = [e for e in sim.trace if isinstance(e, Send)]
    numbered = {}
    for event in sends:
        numbered[event.msg_id] = (
            event.src,
            event.dst,
            sum((s.src, s.dst) == (event.src, event.dst) for s in sends[: sends.index(event) + 1]),
        )
    lost = {numbered[e.msg_id] for e in sim.trace if isinstance(e, Drop) and e.reason == "loss"}
    copied = {numbered[e.copy_of] for e in sim.trace if isinstance(e, Duplicate)}
    fates = {
        (f.src, f.dst, f.nth): f.delays for f in record(sim).faults if isinstance(f, MessageFault)
    }
    assert {key for key, delays in fates.items() if delays == ()} == lost
    assert {key for key, delays in fates.items() if len(delays) == 2} == copied
    assert all(len(delays) in (0, 2) for delays in fates.values())  # a fixed delay is never late


def test_a_scheduled_fault_overrides_the_link_and_leaves_other_links_alone():
    schedule = Schedule(seed=1, until=2.0, faults=(MessageFault("a", "b", 1, ()),))
    sim = replay(build_window, schedule)
    first = next(e for e in sim.trace if isinstance(e, Send))
    assert (first.src, first.dst) == ("a", "b")
    assert [e.msg_id for e in sim.trace if isinstance(e, Drop)] == [first.msg_id]
    late = Schedule(seed=1, until=2.0, faults=(MessageFault("b", "a", 1, (0.5, 0.7)),))
    sim = replay(build_window, late)
    ack = next(e for e in sim.trace if isinstance(e, Send) and e.src == "b")
    copies = [e for e in sim.trace if isinstance(e, Deliver) and e.src == "b" and e.time > 0.4]
    assert [e.time for e in copies] == [ack.time + 0.5, ack.time + 0.7]


def test_a_replay_is_a_simulation_whose_unused_hook_changes_nothing():
    sim = stormy_run(4, Link(loss=0.3, duplicate=0.2, delay=Fixed(0.01)))
    assert isinstance(replay(build_window, record(sim)), Replay)
    again = stormy_run(4, Link(loss=0.3, duplicate=0.2, delay=Fixed(0.01)))
    assert again.trace.text() == sim.trace.text()


def test_record_needs_a_plain_delay_when_the_link_delay_varies():
    sim = Simulation(0, link=Link(delay=Uniform(0.01, 0.02)))
    with pytest.raises(ValueError, match="plain_delay"):
        record(sim)
    with pytest.raises(ValueError, match="bandwidth"):
        record(Simulation(0, link=Link(bandwidth=10.0)))


@given(st.floats(0, 1e6), st.floats(0, 1e3))
def test_a_delay_read_back_from_a_trace_lands_exactly_on_the_arrival(sent, delay):
    arrived = sent + delay  # what the simulator records
    assert sent + (arrived - sent) == arrived  # what a replay of the recorded delay computes
