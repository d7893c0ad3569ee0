"""Tests for reference/security/aead.py: sealing, tampering, the nonce counter, a repeated nonce."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from reference.security.aead import (
    NonceExhausted,
    Sealer,
    associated_data,
    nonce_for,
    open_sealed,
    repeated_nonce_leak,
    xor,
)
from reference.security.envelopes import BadMac, Header, MalformedEnvelope, canonical

KEY = bytes(range(32))
OTHER_KEY = bytes(32)
BODY = {"to": "bob", "amount": 100}


def flipped(data: bytes, index: int, bit: int = 0x01) -> bytes:
    return data[:index] + bytes([data[index] ^ bit]) + data[index + 1 :]


def test_round_trip_numbers_messages_from_zero():
    sealer = Sealer(KEY, "alice")
    opened = [open_sealed(KEY, sealer.seal("transfer", BODY)) for _ in range(3)]
    assert [o.header for o in opened] == [Header("alice", "transfer", n) for n in range(3)]
    assert all(o.body == BODY for o in opened)


def test_the_body_is_not_in_clear():
    envelope = Sealer(KEY, "alice").seal("note", "attack at dawn")
    assert b"attack at dawn" not in envelope
    assert b"alice" in envelope  # the header is in clear, and bound by the tag


def test_every_flipped_byte_is_refused():
    envelope = Sealer(KEY, "alice").seal("transfer", BODY)
    for index in range(len(envelope)):
        for bit in (0x01, 0x80):
            with pytest.raises((BadMac, MalformedEnvelope)):
                open_sealed(KEY, flipped(envelope, index, bit))


def test_flips_in_header_ciphertext_and_tag_are_bad_macs():
    envelope = Sealer(KEY, "alice").seal("transfer", BODY)
    ciphertext_start = len(envelope) - len(canonical(BODY)) - 16
    for index in [envelope.index(b"alice"), envelope.index(b"transfer"), ciphertext_start]:
        with pytest.raises(BadMac):
            open_sealed(KEY, flipped(envelope, index))
    with pytest.raises(BadMac):
        open_sealed(KEY, flipped(envelope, len(envelope) - 1))  # the tag's last byte


def test_a_ciphertext_moved_under_another_header_is_refused():
    sealer = Sealer(KEY, "alice")
    first, second = sealer.seal("transfer", BODY), sealer.seal("transfer", BODY)
    header_of_second = canonical(Header("alice", "transfer", 1).to_cbor_value())
    header_of_first = canonical(Header("alice", "transfer", 0).to_cbor_value())
    assert header_of_first in first and header_of_second in second
    with pytest.raises(BadMac):
        open_sealed(KEY, first.replace(header_of_first, header_of_second))


def test_the_wrong_key_is_a_bad_mac():
    with pytest.raises(BadMac):
        open_sealed(OTHER_KEY, Sealer(KEY, "alice").seal("transfer", BODY))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        canonical([1]),
        canonical([Header("a", "t", 0).to_cbor_value(), bytes(15)]),
        canonical([Header("a", "t", 0).to_cbor_value(), "text"]),
        canonical([{"seq": 0}, bytes(16)]),
    ],
)
def test_malformed_envelopes_are_refused(data):
    with pytest.raises(MalformedEnvelope):
        open_sealed(KEY, data)


def test_every_truncation_is_refused():
    envelope = Sealer(KEY, "alice").seal("transfer", BODY)
    for length in range(len(envelope)):
        with pytest.raises(MalformedEnvelope):
            open_sealed(KEY, envelope[:length])


def test_an_authentic_body_that_is_not_cbor_is_malformed():
    header = Header("alice", "note", 0)
    ciphertext = ChaCha20Poly1305(KEY).encrypt(nonce_for(0), b"\xff", associated_data(header))
    with pytest.raises(MalformedEnvelope, match="body"):
        open_sealed(KEY, canonical([header.to_cbor_value(), ciphertext]))


def test_nonces_never_repeat_and_the_counter_refuses_to_wrap():
    sealer = Sealer(KEY, "alice", max_messages=5)
    sequences = [open_sealed(KEY, sealer.seal("t", n)).header.sequence for n in range(5)]
    assert sequences == [0, 1, 2, 3, 4]
    assert len({nonce_for(n) for n in sequences}) == 5
    for _ in range(2):  # and keeps refusing
        with pytest.raises(NonceExhausted):
            sealer.seal("t", 5)
    assert sealer.next_sequence == 5


def test_the_default_limit_is_the_64_bit_counter():
    assert Sealer(KEY, "alice").max_messages == 2**64
    with pytest.raises(ValueError):
        Sealer(KEY, "alice", max_messages=2**64 + 1)
    with pytest.raises(ValueError):
        Sealer(KEY, "alice", max_messages=0)


def test_nonces_are_96_bits_with_the_counter_at_the_end():
    assert nonce_for(1) == bytes(11) + b"\x01"
    assert nonce_for(2**64 - 1) == bytes(4) + b"\xff" * 8


def test_a_repeated_nonce_leaks_the_xor_of_the_plaintexts():
    first, second = b"attack at dawn!!", b"retreat at nine!"
    leaked = repeated_nonce_leak(KEY, nonce_for(0), first, second)
    assert leaked == xor(first, second)
    assert xor(leaked, first) == second  # knowing one plaintext gives the other


def test_the_leak_demonstration_takes_equal_lengths():
    with pytest.raises(ValueError):
        repeated_nonce_leak(KEY, nonce_for(0), b"ab", b"abc")
