"""Tests for reference/security/channel.py: the key agreement, the two directions, replays."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from reference.security.aead import NonceExhausted
from reference.security.channel import (
    ChannelKeys,
    Replayed,
    SecureChannel,
    derive_channel_keys,
    public_bytes,
)
from reference.security.envelopes import BadMac

ALICE = X25519PrivateKey.from_private_bytes(bytes(range(32)))
BOB = X25519PrivateKey.from_private_bytes(bytes(range(100, 132)))
MALLORY = X25519PrivateKey.from_private_bytes(bytes(range(50, 82)))


def keys_of_both() -> tuple[ChannelKeys, ChannelKeys]:
    alice = derive_channel_keys(ALICE, BOB.public_key(), initiator=True)
    bob = derive_channel_keys(BOB, ALICE.public_key(), initiator=False)
    return alice, bob


def channel_pair(**options) -> tuple[SecureChannel, SecureChannel]:
    alice_keys, bob_keys = keys_of_both()
    return SecureChannel(alice_keys, "alice", **options), SecureChannel(bob_keys, "bob", **options)


def test_both_sides_derive_the_same_two_keys_and_the_directions_differ():
    alice, bob = keys_of_both()
    assert alice.sending == bob.receiving and alice.receiving == bob.sending
    assert alice.sending != alice.receiving
    assert len(alice.sending) == len(alice.receiving) == 32


def test_another_peer_or_swapped_roles_give_other_keys():
    alice, _ = keys_of_both()
    with_mallory = derive_channel_keys(ALICE, MALLORY.public_key(), initiator=True)
    as_responder = derive_channel_keys(ALICE, BOB.public_key(), initiator=False)
    assert with_mallory.sending not in (alice.sending, alice.receiving)
    # The roles are part of what HKDF mixes in: both ends must agree who initiated.
    assert {as_responder.sending, as_responder.receiving}.isdisjoint(
        {alice.sending, alice.receiving}
    )


def test_messages_flow_both_ways_each_with_its_own_counter():
    alice, bob = channel_pair()
    for n in range(3):
        opened = bob.open(alice.seal("chat", f"hello {n}"))
        assert (opened.header.sender, opened.header.sequence, opened.body) == (
            "alice",
            n,
            f"hello {n}",
        )
    opened = alice.open(bob.seal("chat", "hi"))
    assert (opened.header.sender, opened.header.sequence) == ("bob", 0)


def test_a_message_does_not_open_in_the_other_direction():
    alice, bob = channel_pair()
    envelope = alice.seal("chat", "for bob")
    with pytest.raises(BadMac):
        alice.open(envelope)  # reflected back to its sender
    assert bob.open(envelope).body == "for bob"


def test_a_replay_is_refused_and_reordering_within_the_window_is_not():
    alice, bob = channel_pair(window_size=4)
    envelopes = [alice.seal("chat", n) for n in range(6)]
    assert bob.open(envelopes[1]).body == 1
    with pytest.raises(Replayed, match="duplicate"):
        bob.open(envelopes[1])
    assert bob.open(envelopes[0]).body == 0  # late but new
    assert bob.open(envelopes[5]).body == 5
    with pytest.raises(Replayed, match="too old"):
        bob.open(envelopes[1])  # 4 behind the highest: out of the window
    assert bob.open(envelopes[2]).body == 2  # 3 behind: still inside


def test_a_forgery_does_not_move_the_window():
    alice, bob = channel_pair()
    mallory_keys = derive_channel_keys(MALLORY, BOB.public_key(), initiator=True)
    mallory = SecureChannel(mallory_keys, "alice")
    for _ in range(100):
        forged = mallory.seal("chat", "pay mallory")
        with pytest.raises(BadMac):
            bob.open(forged)
    assert bob.window.highest is None
    assert bob.open(alice.seal("chat", "real")).body == "real"


def test_each_direction_refuses_to_exhaust_its_nonces():
    alice, bob = channel_pair(max_messages=2)
    alice.seal("chat", 0)
    alice.seal("chat", 1)
    with pytest.raises(NonceExhausted):
        alice.seal("chat", 2)
    bob.seal("chat", 0)  # the other direction counts on its own


def test_a_low_order_public_key_is_refused():
    all_zero = X25519PublicKey.from_public_bytes(bytes(32))
    with pytest.raises(ValueError):
        derive_channel_keys(ALICE, all_zero, initiator=True)


def test_public_bytes_are_the_32_raw_bytes():
    assert X25519PublicKey.from_public_bytes(public_bytes(BOB.public_key())) == BOB.public_key()
