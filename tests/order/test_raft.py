"""Raft as a node: step by step, then its safety properties after every event, many seeds."""

from __future__ import annotations

import random

import pytest

from reference.net.links import Link, Uniform
from reference.order.kv import KVNode
from reference.order.raft import CANDIDATE, FOLLOWER, LEADER, RaftNode, RaftTiming
from reference.order.raft_invariants import (
    RaftMonitor,
    RaftSafetyViolation,
    run_checked,
    stable_leader,
)
from reference.order.raft_scenarios import add_client, kv_cluster, schedule_faults
from tests.delivery.test_reliable import FakeContext, started

CLUSTER = ["a", "b", "c"]


def server(name="a", ctx=None):
    return started(RaftNode(CLUSTER), ctx or FakeContext(name))


def sent(node, kind):
    return [(dst, msg) for dst, msg in node.ctx.sent if msg[0] == kind]


def elected(name="a"):
    node = server(name)
    node.on_timer("election")
    node.on_message("b", ("vote", 1, True))
    node.ctx.sent.clear()
    return node


# --- Step by step ------------------------------------------------------------------


def test_a_follower_that_hears_nothing_stands_for_election():
    node = server()
    low, high = RaftTiming().election_timeout
    assert node.role == FOLLOWER and low <= node.ctx.timers["election"] <= high
    node.on_timer("election")
    assert node.role == CANDIDATE
    assert node.ctx.storage["current_term"] == 1 and node.ctx.storage["voted_for"] == "a"
    assert sent(node, "request_vote") == [
        ("b", ("request_vote", 1, 0, 0)),
        ("c", ("request_vote", 1, 0, 0)),
    ]


def test_a_majority_of_votes_makes_a_leader_that_appends_a_no_op_and_heartbeats():
    node = server()
    node.on_timer("election")
    node.on_message("b", ("vote", 1, False))
    assert node.role == CANDIDATE
    node.on_message("c", ("vote", 1, True))
    assert node.role == LEADER and node.log == [(1, None)]
    assert "election" not in node.ctx.timers and "heartbeat" in node.ctx.timers
    assert ("b", ("append_entries", 1, 0, 0, [(1, None)], 0)) in node.ctx.sent


def test_a_vote_is_granted_once_per_term_and_persisted():
    node = server()
    node.on_message("b", ("request_vote", 1, 0, 0))
    node.on_message("c", ("request_vote", 1, 0, 0))
    assert [msg for _, msg in node.ctx.sent] == [("vote", 1, True), ("vote", 1, False)]
    again = server(ctx=node.ctx)  # a restart: same storage
    again.on_message("c", ("request_vote", 1, 0, 0))
    assert node.ctx.sent[-1] == ("c", ("vote", 1, False))


def test_a_later_term_makes_a_leader_step_down():
    node = elected()
    node.on_message("c", ("append_reply", 5, False, 0))
    assert node.role == FOLLOWER and node.current_term == 5 and node.voted_for is None
    assert "heartbeat" not in node.ctx.timers and "election" in node.ctx.timers


def test_the_leader_commits_on_a_majority_and_followers_learn_it():
    leader = elected()
    assert leader.propose("x") == 2 and leader.commit_index == 0
    leader.on_message("b", ("append_reply", 1, True, 2))
    assert leader.commit_index == 2 and leader.last_applied == 2
    follower = server("b")
    follower.on_message("a", ("append_entries", 1, 0, 0, list(leader.log), 2))
    assert follower.leader_id == "a" and follower.commit_index == 2
    assert follower.ctx.sent[-1] == ("a", ("append_reply", 1, True, 2))


def test_figure_8_a_new_leader_does_not_commit_an_old_entry_by_counting_replicas():
    ctx = FakeContext("a")
    ctx.storage.update(current_term=3, voted_for=None, log=[(1, "x"), (2, "y")])
    leader = server(ctx=ctx)
    leader.on_timer("election")
    leader.on_message("b", ("vote", 4, True))
    assert leader.log[-1] == (4, None)  # its no-op of term 4
    leader.on_message("b", ("append_reply", 4, True, 2))  # "y" (term 2) is on a majority
    assert leader.commit_index == 0
    leader.on_message("b", ("append_reply", 4, True, 3))  # so is the term-4 no-op
    assert leader.commit_index == 3


def test_a_follower_only_commits_what_it_matched():
    follower = server("b")
    follower.on_message("a", ("append_entries", 1, 0, 0, [(1, None)], 5))
    assert follower.commit_index == 1


def test_a_refused_append_backs_up_to_the_followers_log():
    leader = elected()
    for command in "xyz":
        leader.propose(command)
    leader.ctx.sent.clear()
    leader.on_message("c", ("append_reply", 1, False, 0))
    assert leader.next_index["c"] == 1
    assert sent(leader, "append_entries")[-1][1][2:4] == (0, 0)


def test_a_stale_leader_is_told_the_term_and_nothing_changes():
    follower = server("b")
    follower.on_message("c", ("request_vote", 3, 0, 0))
    follower.on_message("a", ("append_entries", 1, 0, 0, [(1, "x")], 1))
    assert follower.log == [] and follower.ctx.sent[-1] == ("a", ("append_reply", 3, False, 0))


@pytest.mark.parametrize(
    "junk",
    [
        ("vote", -1, True),
        ("vote", 1, "yes"),
        ("append_entries", 1, 0, 0, "entries", 0),
        ("append_entries", 1, 0, 0, [("one", "x")], 0),
        ("append_reply", 1, 1, 0),
        ("request_vote", 1, 0),
        "hello",
        None,
    ],
)
def test_malformed_messages_are_noted_and_ignored(junk):
    node = server()
    node.on_message("b", junk)
    assert node.ctx.sent == [] and node.current_term == 0
    assert node.ctx.notes == ["ignored a malformed message from b"]


def test_a_cluster_of_one_elects_itself_and_commits_alone():
    node = started(RaftNode(["a"]), FakeContext("a"))
    node.on_timer("election")
    assert node.role == LEADER and node.commit_index == 1


@pytest.mark.parametrize(
    "settings", [{"heartbeat": 0.2}, {"election_timeout": (0.3, 0.2)}, {"max_batch": 0}]
)
def test_nonsense_timing_is_refused(settings):
    with pytest.raises(ValueError):
        RaftTiming(**settings)


def test_a_node_must_be_in_its_cluster():
    with pytest.raises(ValueError, match="not in its cluster"):
        server("z")
    with pytest.raises(ValueError, match="distinct"):
        RaftNode(["a", "a"])


# --- Safety after every event, under every fault -------------------------------------

HOSTILE = Link(loss=0.1, duplicate=0.1, delay=Uniform(0.002, 0.03))
HEAL_AT, LEADER_WITHIN = 4.0, 2.0


def stormy_run(seed: int, servers: int = 3, node=KVNode) -> tuple[RaftMonitor, float | None]:
    """Faults until HEAL_AT, every property checked after every event; when a stable
    leader was seen after the heal (None if not within LEADER_WITHIN)."""
    sim, names = kv_cluster(seed, servers, link=HOSTILE, node=node)
    operations = [("put", "x", n) if n % 3 else ("get", "x") for n in range(200)]
    add_client(sim, "k", names, operations=operations)
    schedule_faults(sim, names, ["k"], random.Random(seed), start=0.2, end=HEAL_AT)
    monitor = RaftMonitor(sim, names)
    run_checked(sim, HEAL_AT, monitor)
    while sim.run(until=HEAL_AT + LEADER_WITHIN, max_events=1):
        monitor.check()
        if stable_leader(sim, names) is not None:
            return monitor, sim.now
    return monitor, None


@pytest.mark.parametrize("servers, seeds", [(3, range(100)), (5, range(100, 130))])
def test_safety_holds_after_every_event_and_a_leader_follows_the_heal(servers, seeds):
    crashes = commits = 0
    for seed in seeds:
        monitor, elected_at = stormy_run(seed, servers)
        assert elected_at is not None, f"seed {seed}: no leader {LEADER_WITHIN}s after the heal"
        crashes += monitor.sim.trace.counts()["crash"]
        commits += len(monitor.committed)
    assert crashes > len(seeds) and commits > 10 * len(seeds)  # the runs really did something


class VoterWhoIgnoresLogs(KVNode):
    """Broken: grants a vote on the term alone, without the up-to-date check."""

    def _on_request_vote(self, src, term, last_index, last_log_term):
        granted = term == self.current_term and self.voted_for in (None, src)
        if granted:
            self.ctx.storage["voted_for"] = src
            self._reset_election_timer()
        self.ctx.send(src, ("vote", self.current_term, granted))


def test_the_monitor_catches_a_raft_that_votes_without_checking_logs():
    caught = []
    for seed in range(40):
        try:
            stormy_run(seed, node=VoterWhoIgnoresLogs)
        except RaftSafetyViolation as violation:
            caught.append(str(violation))
    assert caught, "no seed caught a vote rule without the log check"
    assert caught[0].startswith("seed ")
