"""The counter CRDTs: merge is commutative, associative and idempotent (hypothesis); one
node step by step; bad states ignored; and replicas converge over many seeds with loss,
duplication, crashes and partitions that heal."""

from __future__ import annotations

import functools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.net.links import Link, Uniform
from reference.net.simnet import Simulation
from reference.order.crdt import GCounterNode, PNCounterNode, merge, merge_counts, value
from tests.delivery.test_reliable import FakeContext, started

# --- Merge: a join -----------------------------------------------------------------------

counts = st.dictionaries(st.sampled_from("abcde"), st.integers(0, 50))
states = st.fixed_dictionaries({"up": counts, "down": counts})


@given(counts, counts)
def test_merge_counts_is_commutative(a, b):
    assert merge_counts(a, b) == merge_counts(b, a)


@given(counts, counts, counts)
def test_merge_counts_is_associative(a, b, c):
    assert merge_counts(merge_counts(a, b), c) == merge_counts(a, merge_counts(b, c))


@given(counts)
def test_merge_counts_is_idempotent(a):
    assert merge_counts(a, a) == a


@given(counts, counts)
def test_merge_counts_keeps_everything_either_side_counted(a, b):
    merged = merge_counts(a, b)
    for side in (a, b):
        assert all(merged[node] >= count for node, count in side.items())
    assert all(merged[node] in (a.get(node, 0), b.get(node, 0)) for node in merged)


@given(states, states, states)
def test_merge_of_pn_states_is_a_join(a, b, c):
    assert merge(a, b) == merge(b, a)
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    assert merge(a, a) == a


def test_value_is_increments_minus_decrements():
    assert value({"up": {"a": 3, "b": 4}}) == 7
    assert value({"up": {"a": 3, "b": 4}, "down": {"b": 2}}) == 5
    assert merge_counts({"a": 5, "b": 1}, {"b": 7}) == {"a": 5, "b": 7}


# --- One node, step by step ------------------------------------------------------------------


def test_increment_counts_locally_and_gossip_sends_the_whole_state():
    node = started(GCounterNode(["me", "p", "q"], period=0.5, fanout=2))
    assert node.ctx.timers == {"gossip": 0.5}
    node.increment()
    node.increment(4)
    assert node.value == 5 and node.ctx.sent == []
    node.on_timer("gossip")
    assert sorted(dst for dst, _ in node.ctx.sent) == ["p", "q"]
    assert all(msg == ("counter", {"up": {"me": 5}}) for _, msg in node.ctx.sent)
    assert node.ctx.timers == {"gossip": 0.5}


def test_a_received_state_is_merged_and_a_duplicate_changes_nothing():
    node = started(GCounterNode(["me", "p"]))
    node.increment(2)
    for _ in range(2):
        node.on_message("p", ("counter", {"up": {"me": 1, "p": 3}}))
    assert node.state == {"up": {"me": 2, "p": 3}}
    assert node.value == 5


def test_pn_counter_decrements_in_its_own_half():
    node = started(PNCounterNode(["me", "p"]))
    node.increment(5)
    node.decrement(2)
    node.on_message("p", ("counter", {"up": {"p": 1}, "down": {"p": 4}}))
    assert node.state == {"down": {"me": 2, "p": 4}, "up": {"me": 5, "p": 1}}
    assert node.value == 0


def test_state_survives_a_restart():
    ctx = FakeContext("me")
    started(GCounterNode(["me", "p"]), ctx).increment(3)
    assert started(GCounterNode(["me", "p"]), ctx).value == 3


@pytest.mark.parametrize(
    "msg",
    [
        ("counter", {"up": {"stranger": 1}}),
        ("counter", {"up": {"p": -1}}),
        ("counter", {"up": {"p": 1.5}}),
        ("counter", {"up": {"p": True}}),
        ("counter", {"up": {"p": 1}, "down": {}}),
        ("counter", {}),
        ("counter", {"up": [1]}),
        ("counter", [["up", {}]]),
        ("count", {"up": {}}),
        "counter",
    ],
)
def test_a_malformed_state_is_ignored_and_noted(msg):
    node = started(GCounterNode(["me", "p"]))
    node.increment()
    node.on_message("p", msg)
    assert node.state == {"up": {"me": 1}}
    assert node.ctx.notes == ["ignored a malformed state from p"]


@pytest.mark.parametrize("amount", [0, -1, 1.0, True])
def test_a_counter_moves_by_a_positive_integer(amount):
    node = started(PNCounterNode(["me"]))
    with pytest.raises(ValueError, match="integer >= 1"):
        node.increment(amount)
    with pytest.raises(ValueError, match="integer >= 1"):
        node.decrement(amount)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="distinct"):
        GCounterNode(["a", "a"])
    with pytest.raises(ValueError, match="period"):
        GCounterNode(["a"], period=0)
    with pytest.raises(ValueError, match="not in its cluster"):
        started(GCounterNode(["a"]), FakeContext("b"))


# --- Convergence on the simulator ---------------------------------------------------------

HOSTILE = Link(loss=0.3, duplicate=0.3, delay=Uniform(0.005, 0.1))


def random_run(protocol, seed: int) -> tuple[Simulation, dict[str, dict[str, int]]]:
    """3-6 replicas count for 2 s under loss, duplication, crashes and partitions; the
    network heals at 2 s. Returns the simulation (run to 5 s) and what was really counted."""
    rng = random.Random(seed)
    cluster = [f"r{i}" for i in range(rng.randint(3, 6))]
    sim = Simulation(seed, link=HOSTILE)
    for name in cluster:
        sim.add_node(name, functools.partial(protocol, cluster, period=0.05))
    counted: dict[str, dict[str, int]] = {"up": {}, "down": {}}

    def count(who, half, amount):
        if sim.is_up(who):
            node = sim.node(who)
            node.increment(amount) if half == "up" else node.decrement(amount)
            counted[half][who] = counted[half].get(who, 0) + amount

    halves = ["up", "down"] if protocol is PNCounterNode else ["up"]
    for _ in range(rng.randint(1, 40)):
        who, half = rng.choice(cluster), rng.choice(halves)
        sim.call_at(rng.uniform(0, 2), count, who, half, rng.randint(1, 5))
    for _ in range(rng.randint(0, 3)):
        side = rng.sample(cluster, rng.randint(1, len(cluster) - 1))
        start = rng.uniform(0, 2)
        sim.call_at(start, sim.partition, side, [n for n in cluster if n not in side])
        sim.call_at(rng.uniform(start, 2), sim.heal)
    victim = rng.choice(cluster)
    crash_at = rng.uniform(0, 2)
    sim.call_at(crash_at, sim.crash, victim)
    sim.call_at(rng.uniform(crash_at, 2), sim.restart, victim)
    sim.call_at(2.0, sim.heal)
    sim.run(until=5.0)
    return sim, {half: dict(sorted(counted[half].items())) for half in halves}


@pytest.mark.parametrize("protocol", [GCounterNode, PNCounterNode])
def test_replicas_converge_on_the_exact_count_after_the_network_heals(protocol):
    for seed in range(60):
        sim, counted = random_run(protocol, seed)
        for name in sim.node_ids:
            assert sim.node(name).state == counted, f"seed {seed}: {name} disagrees"
            assert sim.node(name).value == value(counted), f"seed {seed}"


def test_a_partitioned_replica_counts_on_and_catches_up_after_the_heal():
    cluster = ["a", "b", "c"]
    sim = Simulation(1, link=Link(delay=Uniform(0.005, 0.02)))
    for name in cluster:
        sim.add_node(name, functools.partial(GCounterNode, cluster))
    sim.call_at(0.0, sim.partition, ["c"], ["a", "b"])
    sim.call_at(0.1, lambda: sim.node("a").increment(5))
    sim.call_at(0.2, lambda: sim.node("c").increment(2))
    sim.run(until=1.0)
    assert [sim.node(name).value for name in cluster] == [5, 5, 2]
    sim.heal()
    sim.run(until=2.0)
    assert [sim.node(name).value for name in cluster] == [7, 7, 7]
