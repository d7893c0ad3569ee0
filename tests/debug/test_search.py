"""The exhaustive search: planted bugs found with a replayable path, correct rules pass."""

from __future__ import annotations

import pytest

from reference.debug.raft_election import (
    CarelessElectionNode,
    ElectionNode,
    ForgetfulElectionNode,
    cluster,
    election_invariant,
    simulate,
)
from reference.debug.search import format_path, replay, search
from reference.debug.search_world import Step, World
from reference.net.node import Node
from reference.net.spacetime import draw
from reference.net.trace import Deliver, Drop, Send, TimerFired

INVARIANT = election_invariant()


# --- A toy: a message sent with one retry, and a property of the end of the run ----


class OneRetrySender(Node):
    """Sends ("x",) to b, and once more if no ack has come when its timer fires."""

    def on_start(self):
        self.retries, self.acked = 1, False
        self.ctx.send("b", ("x",))
        self.ctx.set_timer(1.0, "retry")

    def on_timer(self, name):
        if not self.acked and self.retries:
            self.retries -= 1
            self.ctx.send("b", ("x",))
            if self.retries:
                self.ctx.set_timer(1.0, "retry")

    def on_message(self, src, msg):
        self.acked = True
        self.ctx.cancel_timer("retry")


class Receiver(Node):
    def on_start(self):
        self.received = 0

    def on_message(self, src, msg):
        self.received += 1
        self.ctx.send(src, ("ack",))


TOY = {"a": OneRetrySender, "b": Receiver}


def toy_never_fails(nodes):
    return None


def b_has_x(nodes):
    return None if nodes["b"].received else "the run is over and b never got x"


def test_a_lost_message_and_a_lost_retry_is_the_shortest_path():
    result = search(TOY, toy_never_fails, final=b_has_x, depth=6, shortest=True)
    assert result.path == (
        Step("drop", "a", "b", "('x',)"),
        Step("timer", "", "a", "'retry'"),
        Step("drop", "a", "b", "('x',)"),
    )
    assert result.violation == "the run is over and b never got x"


def test_without_losses_or_with_one_the_toy_always_ends_well():
    for losses in (0, 1):
        result = search(TOY, toy_never_fails, final=b_has_x, depth=8, losses=losses)
        assert not result.found, format_path(result)


def test_a_timer_is_a_step_that_any_moment_may_take():
    world = World(TOY)
    state = world.start()
    steps = world.steps(state, losses=True, duplicates=True)
    assert [step.kind for step in steps] == ["deliver", "drop", "duplicate", "timer"]
    state = world.step(state, steps[-1])  # the retry fires before x arrives
    assert state.in_flight == (("a", "b", "('x',)"), ("a", "b", "('x',)"))
    assert state.timers == ((), ())  # no retries left: no timer set again


def test_duplication_counts_twice_at_the_receiver():
    class OneShot(Node):
        def on_start(self):
            self.ctx.send("b", ("x",))

    def at_most_once(nodes):
        return None if nodes["b"].received <= 1 else "b got x twice"

    one_shot = {"a": OneShot, "b": Receiver}
    found = search(one_shot, at_most_once, depth=4, duplicates=1, shortest=True)
    assert [step.kind for step in found.path] == ["duplicate", "deliver", "deliver"]
    assert not search(one_shot, at_most_once, depth=4).found  # duplicates=0 by default


# --- Raft's vote rule ----------------------------------------------------------------


def test_the_forgetful_vote_gives_two_leaders_in_one_term():
    result = search(cluster(ForgetfulElectionNode), INVARIANT, depth=8, shortest=True)
    assert result.violation == "two leaders in term 2: s1 and s2"
    assert len(result.path) == 6
    printed = format_path(result)
    assert "1. timer    s1: 'election'" in printed
    assert "=> two leaders in term 2" in printed
    again = replay(cluster(ForgetfulElectionNode), result.path, INVARIANT)
    assert again.violation == result.violation
    assert replay(cluster(ElectionNode), result.path[:-1], INVARIANT).violation is None
    kinds = {type(event) for event in again.trace}
    assert {Send, Deliver, TimerFired} <= kinds
    assert draw(again.trace) is not None


def test_a_path_that_cannot_happen_is_refused():
    path = (Step("deliver", "s1", "s2", "('vote', 9, True)"),)
    with pytest.raises(ValueError, match="cannot happen"):
        replay(cluster(), path)


def test_the_careless_vote_elects_a_leader_without_the_committed_entry():
    result = search(cluster(CarelessElectionNode), INVARIANT, depth=6, shortest=True)
    assert result.violation == "s3 leads term 2 without committed ((1, 'x'),)"
    assert [str(step) for step in result.path] == [
        "timer    s3: 'election'",
        "deliver  s3->s1: ('request_vote', 2, 0, 0)",
        "deliver  s1->s3: ('vote', 2, True)",
    ]


def test_the_correct_rule_is_safe_within_a_bound_deeper_than_the_bug():
    result = search(cluster(ElectionNode), INVARIANT, depth=7)
    assert not result.found, format_path(result)
    assert (result.states, result.transitions, result.depth) == (44_687, 130_326, 7)


def test_hashing_visits_fewer_states_for_the_same_verdict():
    for node in (ElectionNode, ForgetfulElectionNode):
        hashed = search(cluster(node), INVARIANT, depth=6)
        plain = search(cluster(node), INVARIANT, depth=6, hashing=False)
        assert hashed.found == plain.found == (node is ForgetfulElectionNode)
        assert hashed.states * 5 < plain.states
        if node is ElectionNode:
            assert plain.states == 235_666  # every path of at most 6 steps


def test_the_generic_copy_explores_the_same_states_as_a_snapshot():
    class CopiedElectionNode(ElectionNode):
        snapshot = restore = None  # no snapshot contract: the world deep-copies the node

    by_snapshot = search(cluster(ElectionNode), INVARIANT, depth=5)
    by_copy = search(cluster(CopiedElectionNode), INVARIANT, depth=5)
    assert (by_copy.states, by_copy.transitions) == (by_snapshot.states, by_snapshot.transitions)


def test_losses_add_states_and_replay_as_drops():
    with_losses = search(cluster(ElectionNode), INVARIANT, depth=5)
    without = search(cluster(ElectionNode), INVARIANT, depth=5, losses=0)
    assert with_losses.states > without.states
    timer_then_drop = (
        Step("timer", "", "s1", "'election'"),
        Step("drop", "s1", "s2", "('request_vote', 2, 1, 1)"),
    )
    replayed = replay(cluster(), timer_then_drop)
    assert any(isinstance(event, Drop) and event.reason == "loss" for event in replayed.trace)


def test_the_search_is_deterministic():
    first = search(cluster(ForgetfulElectionNode), INVARIANT, depth=8)
    second = search(cluster(ForgetfulElectionNode), INVARIANT, depth=8)
    assert first == second and first.found


def test_random_testing_rarely_sees_the_forgetful_vote():
    seeds = range(100)
    exposed = [seed for seed in seeds if simulate(seed, ForgetfulElectionNode)]
    assert exposed == [2, 94]
    assert not any(simulate(seed, ElectionNode) for seed in seeds)
