"""The simulator: virtual time, faults, crashes, clocks and a reproducible trace."""

from __future__ import annotations

import functools
import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reference.delivery.reliable import ReliableReceiver, SlidingWindowSender
from reference.net.links import Clock, Exponential, Fixed, Link, Uniform, fate
from reference.net.node import Node, NodeDown, UnknownNode
from reference.net.simnet import Simulation
from reference.net.trace import Deliver, Drop, Duplicate, Note, Send, TimerFired

ROOT = Path(__file__).resolve().parents[2]


class Recorder(Node):
    """Remembers what arrived; sends whatever the test asks it to."""

    def __init__(self) -> None:
        self.received: list[tuple[float, str, object]] = []
        self.timers: list[tuple[float, object]] = []

    def on_message(self, src, msg):
        self.received.append((self.ctx.now(), src, msg))

    def on_timer(self, name):
        self.timers.append((self.ctx.now(), name))


def two_nodes(seed: int = 0, link: Link | None = None) -> Simulation:
    sim = Simulation(seed, link=link or Link())
    sim.add_node("a", Recorder)
    sim.add_node("b", Recorder)
    sim.run(until=0.0)  # start both
    return sim


def send_at(sim: Simulation, time_: float, src: str, dst: str, msg) -> None:
    sim.call_at(time_, lambda: sim.node(src).ctx.send(dst, msg))


def messages_of(sim: Simulation, kind) -> list:
    return [event for event in sim.trace if isinstance(event, kind)]


# --- Time and events ----------------------------------------------------------------


def test_fixed_delay_delivers_at_send_time_plus_delay():
    sim = two_nodes(link=Link(delay=Fixed(0.25)))
    send_at(sim, 1.0, "a", "b", "hello")
    sim.run()
    assert sim.node("b").received == [(1.25, "a", "hello")]
    assert sim.now == 1.25


def test_run_until_stops_at_that_time_and_advances_the_clock():
    sim = two_nodes(link=Link(delay=Fixed(1.0)))
    send_at(sim, 0.0, "a", "b", 1)
    send_at(sim, 2.0, "a", "b", 2)
    sim.run(until=1.5)
    assert [msg for _, _, msg in sim.node("b").received] == [1]
    assert sim.now == 1.5
    sim.run()
    assert [msg for _, _, msg in sim.node("b").received] == [1, 2]


def test_max_events_bounds_a_node_that_never_lets_time_pass():
    class Spinner(Node):
        def on_start(self):
            self.ctx.set_timer(0.0, "spin")

        def on_timer(self, name):
            self.ctx.set_timer(0.0, "spin")

    sim = Simulation()
    sim.add_node("s", Spinner)
    assert sim.run(until=1.0, max_events=1000) == 1000
    assert sim.now == 0.0


def test_events_at_the_same_time_run_in_the_order_they_were_scheduled():
    sim = two_nodes(link=Link(delay=Fixed(0.5)))
    for n in range(20):
        send_at(sim, 1.0, "a", "b", n)
    sim.run()
    assert [msg for _, _, msg in sim.node("b").received] == list(range(20))


def test_call_at_in_the_past_is_refused():
    sim = two_nodes()
    sim.run(until=5.0)
    with pytest.raises(ValueError, match="already"):
        sim.call_at(4.0, print)


# --- Links: loss, duplication, delay, bandwidth -------------------------------------


def test_loss_drops_about_the_configured_fraction():
    sim = two_nodes(seed=7, link=Link(loss=0.3))
    for n in range(5000):
        send_at(sim, 0.0, "a", "b", n)
    sim.run()
    drops = messages_of(sim, Drop)
    assert {d.reason for d in drops} == {"loss"}
    assert 0.27 < len(drops) / 5000 < 0.33
    assert len(sim.node("b").received) == 5000 - len(drops)


def test_duplication_delivers_a_second_copy_with_its_own_id():
    sim = two_nodes(link=Link(duplicate=1.0))
    send_at(sim, 0.0, "a", "b", "once")
    sim.run()
    assert [msg for _, _, msg in sim.node("b").received] == ["once", "once"]
    (send,) = messages_of(sim, Send)
    (copy,) = messages_of(sim, Duplicate)
    assert copy.copy_of == send.msg_id and copy.msg_id != send.msg_id
    assert sorted(d.msg_id for d in messages_of(sim, Deliver)) == [send.msg_id, copy.msg_id]


def test_random_delays_reorder_messages_within_their_bounds():
    sim = two_nodes(seed=3, link=Link(delay=Uniform(0.1, 0.3)))
    for n in range(50):
        send_at(sim, n * 0.01, "a", "b", n)
    sim.run()
    received = sim.node("b").received
    order = [msg for _, _, msg in received]
    assert sorted(order) == list(range(50)) and order != list(range(50))
    for arrived, _, n in received:
        assert 0.1 <= arrived - n * 0.01 <= 0.3 + 1e-9


def test_exponential_delay_has_its_minimum_and_roughly_its_mean():
    rng = random.Random(1)
    samples = [Exponential(mean=0.05, minimum=0.01).sample(rng) for _ in range(20000)]
    assert min(samples) >= 0.01
    assert 0.058 < sum(samples) / len(samples) < 0.062


def test_bandwidth_queues_messages_behind_each_other():
    sim = two_nodes(link=Link(delay=Fixed(0.1), bandwidth=100.0))
    for n in range(5):
        send_at(sim, 0.0, "a", "b", n)
    sim.run()
    arrivals = [round(t, 9) for t, _, _ in sim.node("b").received]
    assert arrivals == [0.11, 0.12, 0.13, 0.14, 0.15]


def test_per_link_settings_apply_one_way_when_asked():
    sim = two_nodes(link=Link(delay=Fixed(0.1)))
    sim.set_link("a", "b", Link(loss=1.0), one_way=True)
    send_at(sim, 0.0, "a", "b", "lost")
    send_at(sim, 0.0, "b", "a", "kept")
    sim.run()
    assert sim.node("b").received == []
    assert sim.node("a").received == [(0.1, "b", "kept")]


def test_fate_draws_loss_then_delay_then_duplicate_then_delay():
    # Both hosts call fate: this order keeps old seeds' traces (and chapter 04's) as they were.
    link = Link(loss=0.4, duplicate=0.5, delay=Uniform(0.1, 0.2))
    outcomes = set()
    for seed in range(30):
        rng, replay = random.Random(seed), random.Random(seed)
        if replay.random() < 0.4:
            expected = ()
        else:
            first = replay.uniform(0.1, 0.2)
            expected = (first, replay.uniform(0.1, 0.2)) if replay.random() < 0.5 else (first,)
        assert fate(link, rng) == expected and rng.getstate() == replay.getstate(), seed
        outcomes.add(len(expected))
    assert outcomes == {0, 1, 2}


def test_fate_draws_nothing_for_a_chance_of_zero():
    rng = random.Random(5)
    before = rng.getstate()
    assert fate(Link(delay=Fixed(0.1)), rng) == (0.1,)
    assert rng.getstate() == before


@pytest.mark.parametrize(
    "settings",
    [{"loss": 1.5}, {"loss": -0.1}, {"duplicate": 2}, {"bandwidth": 0}],
)
def test_nonsense_link_settings_are_refused(settings):
    with pytest.raises(ValueError):
        Link(**settings)


# --- Partitions -----------------------------------------------------------------------


def test_two_way_partition_cuts_both_directions_until_healed():
    sim = two_nodes(link=Link(delay=Fixed(0.1)))
    sim.call_at(1.0, sim.partition, ["a"], ["b"])
    send_at(sim, 1.5, "a", "b", "a-during")
    send_at(sim, 1.5, "b", "a", "b-during")
    sim.call_at(2.0, sim.heal)
    send_at(sim, 2.5, "a", "b", "a-after")
    sim.run()
    assert [m for _, _, m in sim.node("b").received] == ["a-after"]
    assert sim.node("a").received == []
    assert [d.reason for d in messages_of(sim, Drop)] == ["partition", "partition"]


def test_one_way_partition_cuts_one_direction_only():
    sim = two_nodes(link=Link(delay=Fixed(0.1)))
    sim.partition(["a"], ["b"], one_way=True)
    send_at(sim, 0.0, "a", "b", "cut")
    send_at(sim, 0.0, "b", "a", "through")
    sim.run()
    assert sim.node("b").received == []
    assert [m for _, _, m in sim.node("a").received] == ["through"]


def test_a_message_in_flight_when_the_partition_starts_is_lost():
    sim = two_nodes(link=Link(delay=Fixed(1.0)))
    send_at(sim, 0.0, "a", "b", "in flight")
    sim.call_at(0.5, sim.partition, ["a"], ["b"])
    sim.run()
    assert sim.node("b").received == []
    (drop,) = messages_of(sim, Drop)
    assert (drop.time, drop.reason) == (1.0, "partition")


def test_healing_named_sides_leaves_other_partitions_in_place():
    sim = Simulation(link=Link(delay=Fixed(0.1)))
    for name in "abc":
        sim.add_node(name, Recorder)
    sim.run(until=0.0)
    sim.partition(["a"], ["b", "c"])
    sim.heal(["a"], ["b"])
    send_at(sim, 0.0, "a", "b", "healed")
    send_at(sim, 0.0, "a", "c", "still cut")
    sim.run()
    assert [m for _, _, m in sim.node("b").received] == ["healed"]
    assert sim.node("c").received == []


def test_partition_arguments_are_checked():
    sim = two_nodes()
    with pytest.raises(ValueError, match="both sides"):
        sim.partition(["a"], ["a", "b"])
    with pytest.raises(TypeError, match="list of node ids"):
        sim.partition("a", "b")
    with pytest.raises(UnknownNode):
        sim.partition(["a"], ["zed"])


# --- Crashes and restarts -----------------------------------------------------------


class Counter(Node):
    """Counts ticks in memory and in storage; ticks every second."""

    def __init__(self) -> None:
        self.volatile_ticks = 0

    def on_start(self):
        self.ctx.storage["starts"] = self.ctx.storage.get("starts", 0) + 1
        self.ctx.set_timer(1.0, "tick")

    def on_timer(self, name):
        self.volatile_ticks += 1
        self.ctx.storage["ticks"] = self.ctx.storage.get("ticks", 0) + 1
        self.ctx.set_timer(1.0, "tick")


def test_crash_loses_volatile_state_and_timers_but_keeps_storage():
    sim = Simulation()
    sim.add_node("c", Counter)
    sim.run(until=3.5)
    before = sim.node("c")
    assert before.volatile_ticks == 3
    sim.crash("c")
    assert not sim.is_up("c")
    with pytest.raises(NodeDown):
        sim.node("c")
    sim.run(until=10.0)  # no timer fires while it is down
    assert sim.storage("c") == {"starts": 1, "ticks": 3}
    sim.restart("c")
    sim.run(until=12.5)
    after = sim.node("c")
    assert after is not before and after.volatile_ticks == 2
    assert sim.storage("c") == {"starts": 2, "ticks": 5}


def test_messages_to_a_crashed_node_are_dropped_and_later_ones_reach_the_new_one():
    sim = two_nodes(link=Link(delay=Fixed(0.1)))
    sim.call_at(1.0, sim.crash, "b")
    send_at(sim, 1.5, "a", "b", "while down")
    sim.call_at(2.0, sim.restart, "b")
    send_at(sim, 2.5, "a", "b", "after restart")
    sim.run()
    assert [m for _, _, m in sim.node("b").received] == ["after restart"]
    assert [d.reason for d in messages_of(sim, Drop)] == ["down"]


def test_an_old_timer_never_fires_in_the_restarted_node():
    sim = Simulation()
    sim.add_node("r", Recorder)
    sim.call_at(0.0, lambda: sim.node("r").ctx.set_timer(1.0, "t"))
    sim.call_at(0.5, sim.restart, "r")
    sim.run()
    assert sim.node("r").timers == []
    assert messages_of(sim, TimerFired) == []


def test_crash_is_idempotent_and_restart_of_a_running_node_reboots_it():
    sim = Simulation()
    sim.add_node("c", Counter)
    sim.run(until=0.0)
    sim.crash("c")
    sim.crash("c")
    sim.restart("c")
    sim.restart("c")
    assert sim.storage("c")["starts"] == 3
    assert sim.trace.counts()["crash"] == 2


# --- Timers and clocks ----------------------------------------------------------------


def test_setting_a_timer_again_replaces_it_and_cancel_forgets_it():
    sim = Simulation()
    sim.add_node("r", Recorder)
    sim.run(until=0.0)
    ctx = sim.node("r").ctx
    ctx.set_timer(1.0, "replaced")
    ctx.set_timer(3.0, "replaced")
    ctx.set_timer(2.0, ("cancelled", 1))
    ctx.cancel_timer(("cancelled", 1))
    ctx.cancel_timer("never set")
    sim.run()
    assert sim.node("r").timers == [(3.0, "replaced")]


def test_a_cancelled_timer_neither_fires_nor_moves_the_clock():
    sim = Simulation()
    sim.add_node("r", Recorder)
    sim.run(until=0.0)
    ctx = sim.node("r").ctx
    ctx.set_timer(1.0, "kept")
    ctx.set_timer(9.0, "cancelled")
    ctx.cancel_timer("cancelled")
    assert sim.run() == 1
    assert sim.now == 1.0


def test_a_negative_timer_delay_is_refused():
    sim = two_nodes()
    with pytest.raises(ValueError):
        sim.node("a").ctx.set_timer(-1.0, "t")


def test_clock_offset_and_drift_change_now_and_timer_length():
    sim = Simulation()
    sim.add_node("fast", Recorder, clock=Clock(offset=100.0, rate=2.0))
    sim.add_node("true", Recorder)
    sim.run(until=0.0)
    sim.node("fast").ctx.set_timer(4.0, "four local seconds")
    sim.node("true").ctx.set_timer(4.0, "four seconds")
    sim.run(until=1.0)
    assert sim.node("fast").ctx.now() == 102.0
    assert sim.node("true").ctx.now() == 1.0
    sim.run()
    assert sim.node("fast").timers == [(104.0, "four local seconds")]  # at true time 2
    assert sim.node("true").timers == [(4.0, "four seconds")]
    with pytest.raises(ValueError):
        Clock(rate=0.0)


def test_set_clock_steps_a_clock_while_running():
    sim = Simulation()
    sim.add_node("n", Recorder)
    sim.call_at(5.0, sim.set_clock, "n", Clock(offset=-2.0))
    sim.run(until=6.0)
    assert sim.node("n").ctx.now() == 4.0


def test_on_note_sees_each_note_as_it_is_written():
    seen = []
    sim = Simulation(on_note=seen.append)
    sim.add_node("a", Recorder)
    sim.call_at(1.5, lambda: sim.node("a").ctx.note("hello"))
    sim.run()
    assert seen == messages_of(sim, Note) == [Note(1.5, "a", "hello")]


# --- Bad input ------------------------------------------------------------------------


def test_bad_node_ids_and_destinations_raise_named_errors():
    sim = two_nodes()
    with pytest.raises(UnknownNode, match="nobody"):
        sim.node("a").ctx.send("nobody", "hi")
    with pytest.raises(UnknownNode):
        sim.storage("nobody")
    with pytest.raises(TypeError):
        sim.add_node(7, Recorder)
    with pytest.raises(ValueError, match="already"):
        sim.add_node("a", Recorder)


def test_an_exception_in_a_handler_stops_the_run_loudly():
    class Broken(Node):
        def on_message(self, src, msg):
            raise ZeroDivisionError("the node's own bug")

    sim = Simulation()
    sim.add_node("a", Recorder)
    sim.add_node("b", Broken)
    send_at(sim, 0.0, "a", "b", "boom")
    with pytest.raises(ZeroDivisionError):
        sim.run()


# --- Determinism ----------------------------------------------------------------------


def chaotic_trace(seed: int) -> str:
    """A run with every fault, sets in messages and partition sides: its trace text."""
    sim = Simulation(seed, link=Link(loss=0.3, duplicate=0.2, delay=Uniform(0.01, 0.05)))
    messages = [{"n": n, "tags": {f"tag{n}", f"x{n * 7}", "shared"}} for n in range(40)]
    sim.add_node("sender", functools.partial(SlidingWindowSender, "receiver", messages, window=6))
    sim.add_node("receiver", ReliableReceiver, clock=Clock(offset=3.0, rate=1.01))
    sim.add_node("bystander", Recorder)
    sim.set_link("sender", "receiver", Link(loss=0.2, delay=Exponential(0.02, 0.005)))
    sim.call_at(0.3, sim.partition, {"sender", "bystander"}, {"receiver"})
    sim.call_at(0.9, sim.heal)
    sim.call_at(1.2, sim.crash, "receiver")
    sim.call_at(1.6, sim.restart, "receiver")
    sim.call_at(2.0, functools.partial(sim.partition, {"receiver"}, {"sender"}, one_way=True))
    sim.call_at(2.4, functools.partial(sim.heal, {"receiver"}, {"sender"}, one_way=True))
    sim.run(until=60.0)
    assert len(sim.storage("receiver")["delivered"]) == 40
    return sim.trace.text()


def test_the_same_seed_gives_the_same_trace_and_another_seed_another():
    assert chaotic_trace(11) == chaotic_trace(11)
    assert chaotic_trace(11) != chaotic_trace(12)


def test_the_trace_does_not_depend_on_the_hash_seed():
    code = (
        "import hashlib; from tests.net.test_simnet import chaotic_trace; "
        "print(hashlib.sha256(chaotic_trace(5).encode()).hexdigest())"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        digests.add(result.stdout.strip())
    digests.add(hashlib.sha256(chaotic_trace(5).encode()).hexdigest())
    assert len(digests) == 1, digests


def test_the_simulator_never_reads_the_clock_or_the_global_rng(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the simulator used global time or randomness")

    for name in ("random", "uniform", "expovariate", "choice", "shuffle", "randint"):
        monkeypatch.setattr(random, name, forbidden)
    for name in ("time", "monotonic", "perf_counter", "sleep"):
        monkeypatch.setattr(time, name, forbidden)
    chaotic_trace(3)
    for module in ("simnet.py", "network.py", "links.py", "node.py", "trace.py"):
        source = (ROOT / "reference" / "net" / module).read_text()
        assert "import time" not in source and "random.random(" not in source, module
