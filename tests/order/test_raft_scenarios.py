"""The chapter's Raft scenes do what their docstrings say, the same way on every run."""

from __future__ import annotations

import random

import pytest

from reference.order.kv import LocalReadKVNode
from reference.order.raft import FOLLOWER, LEADER
from reference.order.raft_scenarios import (
    election,
    kv_cluster,
    leader_of,
    log_repair,
    partitioned_old_leader,
    schedule_faults,
)

SERVERS = ["s1", "s2", "s3"]


def test_an_election_gives_one_leader_that_everyone_follows():
    sim = election(1)
    leader = leader_of(sim, SERVERS)
    notes = [(e.node, e.text) for e in sim.trace if e.kind == "note"]
    assert notes[-1] == (leader, "leader in term 1") and (leader, "candidate in term 1") in notes
    assert all(sim.node(name).leader_id == leader for name in SERVERS)


def test_the_same_seed_gives_the_same_trace():
    assert election(3).trace.text() == election(3).trace.text()
    assert election(3).trace.text() != election(4).trace.text()


@pytest.mark.parametrize("seed", range(3))
def test_the_old_leader_reads_stale_only_when_it_reads_locally(seed):
    good = partitioned_old_leader(seed).node("k1").history
    bad = partitioned_old_leader(seed, node=LocalReadKVNode).node("k1").history
    assert good[-1][0] == bad[-1][0] == ("get", "x")
    assert good[-1][2] == 2 and good[-1][3] > 4.0  # answered after the heal, with the new value
    assert bad[-1][2] == 1 and bad[-1][3] < 4.0  # answered at once, from the old leader's copy


def test_before_the_heal_the_old_leader_still_thinks_it_leads():
    sim = partitioned_old_leader(1, until=3.5)
    leaders = sorted(
        (sim.node(name).current_term, name) for name in SERVERS if sim.node(name).role == LEADER
    )
    assert len(leaders) == 2 and leaders[0][0] < leaders[1][0]


def test_log_repair_replaces_the_old_leaders_uncommitted_entry():
    before = log_repair(1, until=2.9)
    leaders = [name for name in SERVERS if before.node(name).role == LEADER]
    old = min(leaders, key=lambda name: before.node(name).current_term)
    commands = [command for _, command in before.node(old).log]
    lost_at = commands.index(("k1", 1, ("put", "x", "lost")))
    after = log_repair(1)
    assert after.node(old).role == FOLLOWER
    logs = [after.storage(name)["log"] for name in SERVERS]
    assert logs[0] == logs[1] == logs[2]
    assert logs[0][lost_at][0] > before.node(old).log[lost_at][0]  # a later term won the index
    final = [command for _, command in logs[0]]
    assert final.count(("k1", 1, ("put", "x", "lost"))) == 1  # written again by the retry
    assert final.index(("k1", 1, ("put", "x", "lost"))) > lost_at
    assert after.node("k1").history[0][2:] != (None, None)  # the client's retry got through


def test_random_faults_heal_by_the_end_and_leave_clocks_drifting():
    sim, servers = kv_cluster(5)
    schedule_faults(sim, servers, [], random.Random(5), start=0.0, end=3.0, drift=0.1)
    sim.run(until=3.0)
    kinds = sim.trace.counts()
    assert kinds["crash"] > 0 and kinds["partition"] > 0 and kinds["heal"] > 0
    assert all(sim.is_up(name) for name in servers)
    rates = [sim.node(name).ctx.clock.rate for name in servers]
    assert all(0.9 <= rate <= 1.1 for rate in rates) and len(set(rates)) == 3
