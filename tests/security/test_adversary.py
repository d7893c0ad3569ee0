"""The attacker node on the simulator: what each attack does to the traffic it carries."""

from __future__ import annotations

from typing import Any

import pytest

from reference.net.links import Fixed, Link
from reference.net.node import Node
from reference.net.simnet import Simulation
from reference.security.adversary import (
    Adversary,
    Attack,
    Drop,
    Eavesdrop,
    Inject,
    Reorder,
    Replay,
    Tamper,
)


class Sender(Node):
    """Sends `messages` to the attacker, one every 0.1 s, and records the answers."""

    def __init__(self, messages: list) -> None:
        self.messages = messages
        self.answers: list = []

    def on_start(self) -> None:
        for index in range(len(self.messages)):
            self.ctx.set_timer(index * 0.1, index)

    def on_timer(self, name: Any) -> None:
        self.ctx.send("mallory", self.messages[name])

    def on_message(self, src: str, msg: Any) -> None:
        self.answers.append(msg)


class Receiver(Node):
    """Records what arrives, when, and answers each message with its upper case."""

    def __init__(self) -> None:
        self.received: list[tuple[float, str, Any]] = []

    def on_message(self, src: str, msg: Any) -> None:
        self.received.append((round(self.ctx.now(), 6), src, msg))
        self.ctx.send(src, msg.upper())


def run(attack: Attack, messages=("a", "b", "c"), *, routes=None) -> Simulation:
    sim = Simulation(0, link=Link(delay=Fixed(0.01)))
    sim.add_node("alice", lambda: Sender(list(messages)))
    routes = routes or {"alice": "bob", "bob": "alice"}
    sim.add_node("mallory", lambda: Adversary(attack, routes, target="alice"))
    sim.add_node("bob", Receiver)
    sim.run(until=5.0)
    return sim


def received(sim: Simulation) -> list[tuple[float, str, Any]]:
    return sim.node("bob").received


def notes(sim: Simulation) -> list[tuple[float, str]]:
    return [(round(e.time, 6), e.text) for e in sim.trace if e.kind == "note"]


def test_an_attack_that_does_nothing_forwards_everything_both_ways():
    sim = run(Attack())
    assert received(sim) == [(0.02, "mallory", "a"), (0.12, "mallory", "b"), (0.22, "mallory", "c")]
    assert sim.node("alice").answers == ["A", "B", "C"]  # the answers pass untouched
    assert notes(sim) == []


def test_eavesdropping_records_every_message_and_changes_none():
    attack = Eavesdrop()
    sim = run(attack)
    assert attack.recorded == ["a", "b", "c"]
    assert [msg for _, _, msg in received(sim)] == ["a", "b", "c"]
    assert notes(sim) == [
        (0.01, "copied message 0"),
        (0.11, "copied message 1"),
        (0.21, "copied message 2"),
    ]


def test_tampering_changes_only_the_chosen_message():
    sim = run(Tamper(lambda msg: msg + "!", which=1))
    assert [msg for _, _, msg in received(sim)] == ["a", "b!", "c"]
    assert notes(sim) == [(0.11, "changed message 1")]


def test_a_replay_sends_the_same_message_again_later():
    sim = run(Replay(which=0, after=1.0))
    assert received(sim)[0] == (0.02, "mallory", "a")
    assert received(sim)[-1] == (1.02, "mallory", "a")
    assert notes(sim) == [(0.01, "kept a copy of message 0"), (1.01, "replayed message 0")]


def test_reordering_delivers_the_held_message_after_the_next():
    sim = run(Reorder(which=0, lag=0.05))
    assert [msg for _, _, msg in received(sim)] == ["b", "a", "c"]
    assert notes(sim)[-1] == (0.16, "released message 0 after message 1")


def test_a_drop_removes_one_message():
    sim = run(Drop(which=2))
    assert [msg for _, _, msg in received(sim)] == ["a", "b"]
    assert notes(sim) == [(0.21, "dropped message 2")]


def test_an_injected_message_arrives_from_the_attacker_like_any_other():
    sim = run(Inject("bob", lambda: "forged", at=0.5), messages=["a"])
    assert received(sim) == [(0.02, "mallory", "a"), (0.51, "mallory", "forged")]
    assert notes(sim) == [(0.5, "injected a forged message")]


def test_a_message_without_a_route_is_dropped_with_a_note():
    sim = run(Attack(), routes={"bob": "alice"})
    assert received(sim) == []
    assert notes(sim)[0] == (0.01, "no route from alice: dropped")


@pytest.mark.parametrize("attack", [Eavesdrop(), Replay(), Reorder(), Drop(), Attack()])
def test_the_attacker_is_one_more_lifeline_in_the_trace(attack):
    sim = run(attack)
    sends = [(e.src, e.dst) for e in sim.trace if e.kind == "send"]
    assert ("alice", "bob") not in sends and ("alice", "mallory") in sends
    assert sim.trace.nodes() == ["alice", "mallory", "bob"]
