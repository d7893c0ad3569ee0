"""The chat member: signed posts shown once, in causal order, acknowledged, kept across restarts."""

import functools
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from reference.capstone.member import ChatMember, UnknownMessage
from reference.capstone.relay import Relay
from reference.net.links import Link, Uniform
from reference.net.simnet import Simulation

NAMES = ("alice", "bob", "carol")


def private_key(name: str) -> bytes:
    return hashlib.sha256(f"test key of {name}".encode()).digest()


def public_key(name: str) -> bytes:
    key = Ed25519PrivateKey.from_private_bytes(private_key(name))
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


DIRECTORY = {name: public_key(name) for name in NAMES}


def chat(seed: int = 1, link: Link = Link(delay=Uniform(0.01, 0.05)), **options) -> Simulation:
    sim = Simulation(seed, link=link)
    sim.add_node("broker", Relay)
    for name in NAMES:
        factory = functools.partial(
            ChatMember, name, "r1", NAMES, private_key(name), DIRECTORY, **options
        )
        sim.add_node(name, factory)
    return sim


def texts(sim: Simulation, name: str) -> list[str]:
    return [shown.text for shown in sim.node(name).shown]


def test_a_post_and_a_reply_reach_everyone_in_order():
    sim = chat()
    sim.run(until=0.5)
    question = sim.node("alice").post("lost my keys")
    sim.run(until=1.0)
    answer = sim.node("bob").post("found them", reply_to=question)
    sim.run(until=5.0)
    for name in NAMES:
        assert texts(sim, name) == ["lost my keys", "found them"], name
        assert sim.node(name).shown[1].reply_to == question
        assert sim.node(name).shown[1].id == answer == ("bob", 1)
    for name in NAMES:
        assert sim.storage(name)["unacked"] == {}, name


def test_a_reply_to_an_unseen_message_is_refused_at_the_poster():
    sim = chat()
    sim.run(until=0.5)
    with pytest.raises(UnknownMessage):
        sim.node("bob").post("what?", reply_to=("alice", 1))


def test_loss_and_duplicates_are_outlasted_and_shown_once():
    sim = chat(seed=7, link=Link(loss=0.3, duplicate=0.3, delay=Uniform(0.01, 0.2)))
    sim.run(until=0.5)
    first = sim.node("alice").post("one")
    sim.run(until=2.0)
    sim.node("carol").post("two", reply_to=first)
    sim.run(until=60.0)
    for name in NAMES:
        assert sorted(texts(sim, name)) == ["one", "two"], name
        assert sim.storage(name)["unacked"] == {}, name


def test_a_restarted_member_keeps_its_history_and_numbering_and_catches_up():
    sim = chat(seed=3)
    sim.run(until=0.5)
    sim.node("alice").post("before")
    sim.run(until=2.0)
    sim.crash("carol")
    sim.node("bob").post("while carol is down")
    sim.run(until=4.0)
    sim.restart("carol")
    sim.run(until=10.0)
    assert texts(sim, "carol") == ["before", "while carol is down"]
    assert sim.node("alice").post("after") == ("alice", 2)
    sim.run(until=15.0)
    assert texts(sim, "carol")[-1] == "after"
