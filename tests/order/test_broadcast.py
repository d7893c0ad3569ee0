"""The broadcast protocols step by step, against bad input, in the chapter's scenarios,
and over real UDP."""

from __future__ import annotations

import functools

import pytest
import trio

from reference.delivery.reliable import Backoff
from reference.net.links import Link, Uniform
from reference.net.node import Node
from reference.net.simnet import Simulation
from reference.net.trace import Note, Trace
from reference.net.udp import open_udp_network
from reference.order.broadcast import FifoBroadcast, parse_step_note, step_note
from reference.order.broadcast_checks import (
    causal_violation,
    delivery_orders,
    exactly_once_violation,
    fifo_violation,
    total_order_violation,
)
from reference.order.broadcast_scenarios import (
    apply,
    balances,
    bank_account,
    group_simulation,
    lost_keys,
    schedule_broadcasts,
)
from reference.order.causal import CausalBroadcast, deliverable
from reference.order.clocks import VectorClock
from reference.order.total_order import LamportBroadcast, SequencerBroadcast

PROTOCOLS = [FifoBroadcast, CausalBroadcast, SequencerBroadcast, LamportBroadcast]
by_name = functools.partial(pytest.mark.parametrize, ids=lambda protocol: protocol.__name__)


def notes(sim: Simulation, node: str) -> list[str]:
    return [event.text for event in sim.trace if event.kind == "note" and event.node == node]


# --- The delivery rule of causal broadcast ------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "stamp", "delivered", "expected"),
    [
        ("a", {"a": 1}, {}, True),
        ("a", {"a": 2}, {"a": 1}, True),
        ("a", {"a": 3}, {"a": 1}, False),  # a#2 is missing
        ("a", {"a": 1}, {"a": 1}, False),  # already delivered
        ("b", {"a": 1, "b": 1}, {}, False),  # b had delivered a#1 first
        ("b", {"a": 1, "b": 1}, {"a": 1}, True),
        ("b", {"a": 1, "b": 1}, {"a": 5, "c": 2}, True),
        ("b", {"a": 2, "b": 3, "c": 1}, {"a": 2, "b": 2, "c": 0}, False),
    ],
)
def test_a_message_is_deliverable_when_it_is_next_and_its_past_is_delivered(
    sender, stamp, delivered, expected
):
    assert deliverable(sender, VectorClock(stamp), VectorClock(delivered)) is expected


# --- Each protocol on a calm network --------------------------------------------------------


@by_name("protocol", PROTOCOLS)
def test_every_member_delivers_every_broadcast_including_its_own(protocol):
    sim = group_simulation(protocol, ["a", "b", "c"])
    schedule_broadcasts(sim, [(0.0, "a", "x"), (0.001, "b", "y"), (0.1, "a", "z")])
    sim.run()
    for node in "abc":
        delivered = sim.node(node).delivered
        assert sorted(delivered) == [("a", 1, "x"), ("a", 2, "z"), ("b", 1, "y")], node
    assert "broadcast a#1: 'x'" in notes(sim, "a")
    assert "deliver b#1: 'y'" in notes(sim, "c")


def test_broadcast_returns_the_message_id():
    sim = group_simulation(FifoBroadcast, ["a", "b"])
    sim.run(until=0.001)
    assert sim.node("a").broadcast("x") == ("a", 1)
    assert sim.node("a").broadcast("y") == ("a", 2)


def test_the_sequencer_orders_everything_and_the_others_follow():
    sim = group_simulation(SequencerBroadcast, ["a", "b", "c"], sequencer="b")
    schedule_broadcasts(sim, [(0.0, "a", "x"), (0.0, "c", "y"), (0.0, "b", "z")])
    sim.run()
    orders = delivery_orders(sim.trace)
    assert orders["a"] == orders["b"] == orders["c"] == [("b", 1), ("a", 1), ("c", 1)]
    sent_by_a = [event.msg for event in sim.trace if event.kind == "send" and event.src == "a"]
    assert [msg[2] for msg in sent_by_a if msg[0] == "data"] == [("submit", 1, "x")]


def test_lamport_order_breaks_timestamp_ties_by_node_id():
    sim = group_simulation(LamportBroadcast, ["a", "b", "c"])
    schedule_broadcasts(sim, [(0.0, "c", "x"), (0.0, "a", "y")])  # both stamped 1
    sim.run()
    assert delivery_orders(sim.trace)["c"] == [("a", 1), ("c", 1)]


def test_lamport_waits_to_hear_from_every_member():
    sim = group_simulation(LamportBroadcast, ["a", "b", "c"])
    sim.set_link("a", "c", Link(loss=1.0), one_way=True)  # c never hears from a
    schedule_broadcasts(sim, [(0.0, "b", "x")])
    sim.run(until=1.0)
    assert sim.node("a").delivered == sim.node("b").delivered == [("b", 1, "x")]
    assert sim.node("c").delivered == []


def test_a_restarted_member_carries_on_from_storage():
    sim = group_simulation(CausalBroadcast, ["a", "b"], link=Link(delay=Uniform(0.01, 0.05)))
    schedule_broadcasts(sim, [(0.0, "a", "x"), (0.1, "b", "y")])
    sim.call_at(0.2, sim.restart, "b")
    schedule_broadcasts(sim, [(0.3, "b", "z"), (0.3, "a", "w")])
    sim.run()
    assert exactly_once_violation(sim.trace, ["a", "b"]) is None
    assert sim.node("b").delivered == [("a", 1, "x"), ("b", 1, "y"), ("b", 2, "z"), ("a", 2, "w")]


# --- Bad input ----------------------------------------------------------------------------


class Rogue(Node):
    """Sends raw reliable-link frames to `target` at start, and ignores whatever comes back."""

    def __init__(self, target: str, frames: list) -> None:
        self.target = target
        self.frames = frames

    def on_start(self) -> None:
        for frame in self.frames:
            self.ctx.send(self.target, frame)


GARBAGE = [
    ("data", 0, "not a list"),
    ("data", 0, ("fifo", -1, "x")),
    ("data", 0, ("causal", {"a": "1"}, "x")),
    ("data", 0, ("causal", [1, 2], "x")),
    ("data", 0, ("causal", {"a": 1}, "x")),  # from the rogue, yet it does not count itself
    ("data", 0, ("ordered", 1, "rogue", 1, "x")),  # only the sequencer orders
    ("data", 0, ("message", "1", 1, "x")),
    ("data", 0, ("acknowledge",)),
    ("data", 0, ()),
]


def rogue_run(protocol, frame) -> Simulation:
    sim = Simulation(1)
    sim.add_node("a", functools.partial(protocol, ["a", "b", "rogue"]))
    sim.add_node("b", functools.partial(protocol, ["a", "b", "rogue"]))
    sim.add_node("rogue", functools.partial(Rogue, "a", [frame, ("junk",), "junk", ("ack", -1)]))
    sim.run(until=1.0)
    return sim


@by_name("protocol", PROTOCOLS)
@pytest.mark.parametrize("frame", GARBAGE)
def test_malformed_messages_are_noted_and_ignored(protocol, frame):
    sim = rogue_run(protocol, frame)
    assert "ignored a malformed broadcast message from rogue" in notes(sim, "a")
    assert notes(sim, "a").count("ignored a malformed frame from rogue") == 2
    assert "ignored an unexpected message from rogue" in notes(sim, "a")  # the bad ack
    assert sim.node("a").delivered == []
    sim.node("a").broadcast("still here")
    sim.run(until=2.0)
    if protocol is LamportBroadcast:  # it waits to hear from every member, the rogue too
        assert [held[3] for held in sim.storage("b")["broadcast"]["queue"]] == ["still here"]
    else:
        assert ("a", 1, "still here") in sim.node("b").delivered


def test_a_stranger_is_ignored_and_a_node_outside_its_group_refuses_to_start():
    sim = Simulation(1)
    sim.add_node("a", functools.partial(FifoBroadcast, ["a", "b"]))
    sim.add_node("stranger", functools.partial(Rogue, "a", [("data", 0, ("fifo", 1, "x"))]))
    sim.run(until=1.0)
    assert "ignored a message from stranger, who is not in the group" in notes(sim, "a")
    sim.add_node("c", functools.partial(FifoBroadcast, ["a", "b"]))
    with pytest.raises(ValueError, match="not in its group"):
        sim.run()
    with pytest.raises(ValueError, match="sequencer"):
        SequencerBroadcast(["a", "b"], sequencer="z")


def test_the_hold_back_queue_is_bounded():
    waiting = [("data", k, ("causal", {"rogue": k + 1, "ghost": 1}, k)) for k in range(3)]
    sim = Simulation(1)
    group = ["a", "ghost", "rogue"]
    sim.add_node("a", functools.partial(CausalBroadcast, group, max_held=2))
    sim.add_node("rogue", functools.partial(Rogue, "a", waiting))
    sim.run(until=1.0)
    assert notes(sim, "a") == ["hold-back queue full (2): dropped a message"]
    assert len(sim.storage("a")["broadcast"]["held"]) == 2


def test_step_notes_read_back():
    text = step_note("deliver", ("a#b", 12), ("deposit", 5))
    assert text == "deliver a#b#12: deposit 5"
    assert parse_step_note(text) == ("deliver", ("a#b", 12))
    assert parse_step_note("ignored a malformed frame from x") is None


# --- The chapter's scenarios --------------------------------------------------------------


def test_under_fifo_carol_reads_the_answer_before_the_question():
    sim = lost_keys(FifoBroadcast)
    assert delivery_orders(sim.trace)["carol"] == [("bob", 1), ("alice", 1)]
    violation = causal_violation(sim.trace)
    assert violation.nodes == ("carol",)
    assert violation.messages == (("alice", 1), ("bob", 1))
    assert str(violation) == (
        "causal order violated: carol delivered bob#1 before alice#1, though alice#1 → bob#1"
    )
    assert fifo_violation(sim.trace) is None


def test_causal_broadcast_holds_the_answer_back():
    sim = lost_keys(CausalBroadcast)
    assert delivery_orders(sim.trace)["carol"] == [("alice", 1), ("bob", 1)]
    assert causal_violation(sim.trace) is None
    assert sim.trace.counts()["timer"] == 0  # no retransmission clutters the diagram


@by_name("protocol", [FifoBroadcast, CausalBroadcast])
def test_without_total_order_the_replicas_diverge(protocol):
    sim = bank_account(protocol)
    assert balances(sim) == {"a": 165, "b": 165, "c": 160}
    assert total_order_violation(sim.trace).nodes == ("a", "c")


@by_name("protocol", [SequencerBroadcast, LamportBroadcast])
def test_with_total_order_the_replicas_agree(protocol):
    sim = bank_account(protocol)
    assert len(set(balances(sim).values())) == 1
    assert total_order_violation(sim.trace) is None


def test_the_account_operations():
    assert apply(apply(100, ("deposit", 50)), ("interest", 10)) == 165
    assert apply(apply(100, ("interest", 10)), ("deposit", 50)) == 160
    with pytest.raises(ValueError, match="unknown operation"):
        apply(100, ("withdraw", 5))


# --- The same nodes over real UDP -------------------------------------------------------------


@by_name("protocol", PROTOCOLS)
async def test_the_protocols_run_unchanged_over_lossy_udp(protocol, autojump_clock):
    group = ["a", "b", "c"]
    link = Link(loss=0.2, duplicate=0.2, delay=Uniform(0.001, 0.02))
    options = {"backoff": Backoff(initial=0.05)}
    async with open_udp_network(link=link, seed=5) as net:
        for node in group:
            await net.add_node(node, functools.partial(protocol, group, **options))
        for k in range(6):
            net.node(group[k % 3]).broadcast(f"m{k}")
            await trio.sleep(0.01)
        with trio.fail_after(60):
            await net.wait_until(lambda: all(len(net.node(n).delivered) == 6 for n in group))
    assert exactly_once_violation(net.trace, group) is None
    assert fifo_violation(net.trace) is None
    if protocol is not FifoBroadcast:
        assert causal_violation(net.trace) is None
    if protocol in (SequencerBroadcast, LamportBroadcast):
        assert total_order_violation(net.trace) is None
    assert net.trace.counts()["drop"] > 0


def test_only_the_next_ordered_message_from_the_sequencer_is_delivered():
    frames = [
        ("data", 0, ("ordered", 2, "a", 1, "early")),
        ("data", 1, ("ordered", 1, "a", 1, "x")),
    ]
    sim = Simulation(1)
    sim.add_node("a", functools.partial(SequencerBroadcast, ["a", "boss"], sequencer="boss"))
    sim.add_node("boss", functools.partial(Rogue, "a", frames))
    sim.run(until=1.0)
    assert sim.node("a").delivered == [("a", 1, "x")]
    assert notes(sim, "a")[0] == "ignored a malformed broadcast message from boss"


# --- The checks on hand-made traces ---------------------------------------------------------


def steps(*lines: str) -> Trace:
    """A trace of step notes: ``"b deliver a 1"`` is b delivering a#1."""
    trace = Trace()
    for time, line in enumerate(lines):
        node, kind, origin, n = line.split()
        trace.append(Note(float(time), node, step_note(kind, (origin, int(n)), "x")))
    return trace


def test_fifo_check_finds_a_later_message_delivered_first():
    trace = steps("a broadcast a 1", "a broadcast a 2", "b deliver a 2", "b deliver a 1")
    violation = fifo_violation(trace)
    assert violation.messages == (("a", 1), ("a", 2)) and violation.nodes == ("b",)
    assert str(violation) == "FIFO violated: b delivered a#2 before a#1"
    assert fifo_violation(steps("a broadcast a 1", "b deliver a 1")) is None


def test_causal_check_follows_chains_of_deliveries():
    chain = ["a broadcast a 1", "b deliver a 1", "b broadcast b 1"]
    chain += ["c deliver a 1", "c deliver b 1", "c broadcast c 1"]  # a#1 → b#1 → c#1
    violation = causal_violation(steps(*chain, "d deliver c 1"))
    assert violation.nodes == ("d",) and violation.messages[1] == ("c", 1)
    assert violation.messages[0] in {("a", 1), ("b", 1)}
    skipped = causal_violation(steps(*chain, "d deliver b 1", "d deliver c 1"))
    assert skipped.messages == (("a", 1), ("b", 1))
    in_order = [*chain, "d deliver a 1", "d deliver b 1", "d deliver c 1"]
    assert causal_violation(steps(*in_order)) is None
    concurrent = ["a broadcast a 1", "b broadcast b 1", "c deliver b 1", "c deliver a 1"]
    assert causal_violation(steps(*concurrent)) is None


def test_total_order_check_compares_every_pair_of_members():
    same = ["a deliver a 1", "a deliver b 1", "b deliver a 1", "b deliver b 1"]
    assert total_order_violation(steps(*same, "c deliver a 1")) is None
    violation = total_order_violation(steps(*same, "c deliver b 1", "c deliver a 1"))
    assert violation.nodes == ("a", "c") and violation.messages == (("a", 1), ("b", 1))


def test_exactly_once_check_finds_missing_repeated_and_invented_messages():
    sent = ["a broadcast a 1", "a deliver a 1"]
    assert exactly_once_violation(steps(*sent, "b deliver a 1"), ["a", "b"]) is None
    missing = exactly_once_violation(steps(*sent), ["a", "b"])
    assert str(missing) == "exactly once violated: b never delivered a#1"
    twice = exactly_once_violation(steps(*sent, "b deliver a 1", "b deliver a 1"), ["a", "b"])
    assert twice.explanation == "b delivered a#1 twice"
    invented = exactly_once_violation(steps(*sent, "b deliver z 9"), ["a", "b"])
    assert invented.explanation == "b delivered z#9, which nobody broadcast"
