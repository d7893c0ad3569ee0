"""The chat member: signed posts shown once, in causal order, acknowledged, kept across restarts."""

import functools

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reference.capstone.campaign import chat_permissions, member_keys
from reference.capstone.chat_message import ChatMessage, Digest, sign_digest, sign_post
from reference.capstone.member import ChatMember, Guarantees, UnknownMessage
from reference.capstone.relay import Relay, Tampering
from reference.net.links import Fixed, Link, Uniform
from reference.net.node import Node
from reference.net.simnet import Simulation
from reference.order.clocks import VectorClock
from reference.security.envelopes import Header, sign_envelope
from reference.wire.cbor import dumps, loads

NAMES = ("alice", "bob", "carol")
PRIVATE, DIRECTORY = member_keys((*NAMES, "mallory"))
del DIRECTORY["mallory"]  # mallory has a key, but the room does not trust it
FAST = Link(delay=Uniform(0.01, 0.05))


def member(name, **options):
    return functools.partial(ChatMember, name, "r1", NAMES, PRIVATE[name], DIRECTORY, **options)


def chat(seed: int = 1, link: Link = FAST, names=NAMES, **options) -> Simulation:
    sim = Simulation(seed, link=link)
    permissions = {name: chat_permissions("r1", name) for name in NAMES}
    sim.add_node("broker", functools.partial(Relay, permissions=permissions))
    for name in names:
        sim.add_node(name, member(name, **options))
    return sim


def key(name: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(PRIVATE[name])


def post_envelope(author, seq, text, *, clock=None, reply_to=None, room="r1", signer=None):
    clock = VectorClock(clock or {author: seq})
    message = ChatMessage(author, seq, room, text, reply_to, clock)
    return sign_post(key(signer or author), message)


def arrive(sim: Simulation, name: str, envelope: bytes, subject: str = "chat.r1") -> None:
    sim.node(name).on_message("broker", ("msg", subject, envelope))


def texts(sim: Simulation, name: str) -> list[str]:
    return [shown.text for shown in sim.node(name).shown]


def test_a_post_and_a_reply_reach_everyone_in_order():
    sim = chat()
    sim.run(until=0.5)
    question = sim.node("alice").post("lost my keys")
    sim.run(until=0.7)  # before any anti-entropy round: the receivers' acknowledgements did it
    assert sim.storage("alice")["unacked"] == {}
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


def test_history_on_join_comes_from_the_others_even_if_its_author_is_gone():
    sim = chat(names=("alice", "bob"))
    sim.run(until=0.5)
    first = sim.node("alice").post("welcome")
    sim.run(until=1.0)
    sim.node("bob").post("thanks", reply_to=first)
    sim.run(until=3.0)
    sim.crash("alice")  # for good: only bob can tell carol what alice wrote
    sim.add_node("carol", member("carol"))
    sim.run(until=8.0)
    assert texts(sim, "carol") == ["welcome", "thanks"]
    assert sim.storage("bob")["unacked"] == {}


def test_an_author_retransmits_across_its_own_restart_until_acknowledged():
    sim = chat(seed=5)
    sim.run(until=0.5)
    sim.partition(["alice"], ["broker"])
    sim.node("alice").post("from the tunnel")
    sim.run(until=3.0)
    assert sim.storage("alice")["unacked"] == {"1": ["bob", "carol"]}
    sim.crash("alice")
    sim.heal()
    sim.restart("alice")
    sim.run(until=8.0)
    assert texts(sim, "bob") == texts(sim, "carol") == ["from the tunnel"]
    assert sim.storage("alice")["unacked"] == {}


def test_storage_is_plain_cbor_and_a_restart_rebuilds_what_was_shown():
    shown_again = []
    sim = chat(on_show=shown_again.append)
    sim.run(until=0.5)
    question = sim.node("alice").post("q")
    sim.run(until=1.0)
    sim.node("bob").post("a", reply_to=question)
    sim.run(until=3.0)
    before = list(sim.node("carol").shown)
    storage = sim.storage("carol")
    assert loads(dumps(dict(storage))) == dict(storage)
    assert set(storage) == {"next_seq", "log", "unacked"}
    shown_again.clear()
    sim.restart("carol")
    sim.run(until=4.0)
    assert sim.node("carol").shown == before
    assert shown_again == []  # the history is not shown a second time on a restart


def test_a_reply_waits_for_its_question_and_copies_are_shown_once():
    sim = chat()
    sim.run(until=0.5)
    question = post_envelope("alice", 1, "q")
    reply = post_envelope("bob", 1, "a", clock={"alice": 1, "bob": 1}, reply_to=("alice", 1))
    arrive(sim, "carol", reply)
    assert sim.node("carol").shown == [] and sim.node("carol").held_back == 1
    arrive(sim, "carol", question)
    arrive(sim, "carol", question)
    arrive(sim, "carol", reply, "chat.r1.carol")
    assert texts(sim, "carol") == ["q", "a"] and sim.node("carol").held_back == 0


def test_without_causal_order_the_reply_shows_first():
    sim = chat(guarantees=Guarantees(causal_order=False))
    sim.run(until=0.5)
    arrive(sim, "carol", post_envelope("bob", 1, "a", clock={"alice": 1, "bob": 1}))
    assert texts(sim, "carol") == ["a"]


def test_the_hold_back_queue_is_bounded():
    sim = chat(max_held=2)
    sim.run(until=0.5)
    for seq in (2, 3, 4):
        arrive(sim, "carol", post_envelope("alice", seq, f"#{seq}"))
    assert sim.node("carol").held_back == 2
    assert sim.node("carol").refused["hold-back queue full"] == 1
    arrive(sim, "carol", post_envelope("alice", 1, "#1"))  # deliverable: needs no room
    assert texts(sim, "carol") == ["#1", "#2", "#3"]


def flipped(envelope: bytes) -> bytes:
    at = envelope.index(b"hello")
    return envelope[:at] + b"j" + envelope[at + 1 :]


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        (flipped(post_envelope("alice", 1, "hello")), "BadSignature"),
        (post_envelope("alice", 1, "hello", signer="bob"), "BadSignature"),
        (
            sign_envelope(key("bob"), "bob", Header("alice", "post", 1), {"room": "r1"}),
            "WrongSigner",
        ),
        (post_envelope("mallory", 1, "hello"), "UnknownKey"),
        (post_envelope("alice", 1, "hello", room="r2"), "ForeignRoom"),
        (b"\xff\x00 not cbor", "MalformedEnvelope"),
        (post_envelope("alice", 1, "hello" * 1000), "MalformedEnvelope"),
        (post_envelope("alice", 2, "hello", clock={"alice": 1}), "MalformedEnvelope"),
        (
            post_envelope("alice", 1, "hello", clock={"alice": 1}, reply_to=("bob", 1)),
            "MalformedEnvelope",
        ),
        (
            post_envelope("carol", 1, "not carol's"),
            "a post in this member's name that it never made",
        ),
    ],
)
def test_what_does_not_verify_is_refused_counted_and_never_shown(envelope, reason):
    sim = chat()
    sim.run(until=0.5)
    arrive(sim, "carol", envelope)
    assert sim.node("carol").refused == {reason: 1}
    assert sim.node("carol").shown == [] and sim.node("carol").held_back == 0


def test_without_signature_checks_a_changed_text_shows_but_not_a_stranger():
    sim = chat(guarantees=Guarantees(verify_signatures=False))
    sim.run(until=0.5)
    arrive(sim, "carol", flipped(post_envelope("alice", 1, "hello")))
    arrive(sim, "carol", post_envelope("mallory", 1, "hello"))
    arrive(sim, "carol", sign_digest(key("mallory"), Digest("mallory", "r1", VectorClock())))
    assert texts(sim, "carol") == ["jello"]
    assert sim.node("carol").refused == {"MalformedEnvelope": 2}


def test_post_checks_its_arguments():
    sim = chat()
    sim.run(until=0.5)
    with pytest.raises(ValueError):
        sim.node("alice").post("x" * 5000)
    with pytest.raises(ValueError):
        ChatMember("al.ice", "r1", ["al.ice"], PRIVATE["alice"], {"al.ice": DIRECTORY["alice"]})
    with pytest.raises(ValueError):
        ChatMember("alice", "r1", ["alice", "zed"], PRIVATE["alice"], DIRECTORY)


def test_the_relay_enforces_the_tokens_and_members_resubscribe_after_its_restart():
    sim = chat()
    sim.run(until=0.5)
    sim.node("broker").on_message("carol", ("sub", "chat.r1.alice"))
    sim.node("broker").on_message("carol", ("pub", "chat.r2", b"x"))
    assert sim.node("broker").refused == {"subscribe not allowed": 1, "publish not allowed": 1}
    sim.restart("broker")
    sim.node("alice").post("right after the restart")
    sim.run(until=10.0)
    assert texts(sim, "bob") == texts(sim, "carol") == ["right after the restart"]
    assert sim.storage("alice")["unacked"] == {}


def test_a_key_in_the_directory_but_not_on_the_roster_is_not_trusted():
    _, everyone = member_keys((*NAMES, "mallory"))
    sim = chat(names=("alice", "bob"))
    sim.add_node(
        "carol", functools.partial(ChatMember, "carol", "r1", NAMES, PRIVATE["carol"], everyone)
    )
    sim.run(until=0.5)
    arrive(sim, "carol", post_envelope("mallory", 1, "hello"))
    assert sim.node("carol").refused == {"UnknownKey": 1}


class RoomSpy(Node):
    """Subscribes to the room like a member, and writes down every envelope it gets."""

    def __init__(self):
        self.seen = []

    def on_start(self):
        self.ctx.send("broker", ("sub", "chat.r1"))

    def on_message(self, src, msg):
        header, _, body, _ = loads(msg[2])
        self.seen.append(f"{header['sender']} {header['seq']}: {body.get('text', header['type'])}")


@pytest.mark.parametrize(
    ("mode", "carol_sees"),
    [
        (None, ["alice 1: one", "alice 2: two"]),
        (
            "change-text",
            [
                "alice 1: one (and send me your password)",
                "alice 2: two (and send me your password)",
            ],
        ),
        (
            "forge",
            [
                "alice 1: one",
                "bob 1: I resign. (forged)",
                "alice 2: two",
                "bob 1: I resign. (forged)",
            ],
        ),
        ("replay", ["alice 1: one", "alice 1: one", "alice 2: two", "alice 1: one"]),
        ("drop", []),
    ],
)
def test_what_each_tampering_mode_does_to_the_room(mode, carol_sees):
    tampering = None if mode is None else Tampering(mode, "alice", 0.4, 0.8)
    sim = Simulation(1, link=Link(delay=Fixed(0.001)))  # in order, as sent
    sim.add_node("broker", functools.partial(Relay, tampering=tampering))
    sim.add_node("alice", member("alice"))
    sim.add_node("bob", member("bob"))
    sim.add_node("carol", RoomSpy)
    sim.run(until=0.5)
    sim.node("alice").post("one")
    sim.run(until=0.6)
    sim.node("alice").post("two")
    sim.run(until=0.7)
    assert sim.node("carol").seen == carol_sees  # the digests at 0 came before its sub
