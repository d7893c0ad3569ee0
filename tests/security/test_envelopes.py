"""Tests for reference/security/envelopes.py: HMAC and Ed25519 envelopes, and every refusal."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reference.security.envelopes import (
    BadMac,
    BadSignature,
    EnvelopeRefused,
    Header,
    MalformedEnvelope,
    UnknownKey,
    canonical,
    open_hmac,
    seal_hmac,
    sign_envelope,
    two_encodings_failure,
    verify_signed,
)
from reference.wire.cbor import dumps

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
HEADER = Header("alice", "transfer", 7)
BODY = {"to": "bob", "amount": 100, "memo": "rent"}
SIGNER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
STRANGER = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
TRUSTED = {"alice-1": SIGNER.public_key()}


def flipped(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_hmac_round_trip():
    opened = open_hmac(KEY, seal_hmac(KEY, HEADER, BODY))
    assert (opened.header, opened.body, opened.key_id) == (HEADER, BODY, None)


def test_signed_round_trip():
    opened = verify_signed(TRUSTED, sign_envelope(SIGNER, "alice-1", HEADER, BODY))
    assert (opened.header, opened.body, opened.key_id) == (HEADER, BODY, "alice-1")


@pytest.mark.parametrize("index", range(len(seal_hmac(KEY, HEADER, BODY))))
def test_every_flipped_byte_of_an_hmac_envelope_is_refused(index):
    envelope = seal_hmac(KEY, HEADER, BODY)
    with pytest.raises((BadMac, MalformedEnvelope)):
        open_hmac(KEY, flipped(envelope, index))


def test_flips_in_header_body_and_mac_are_bad_macs_not_just_malformed():
    """A flip inside a text or byte string still decodes: the MAC is what catches it."""
    envelope = seal_hmac(KEY, HEADER, BODY)
    for part in (b"alice", b"transfer", b"rent", envelope[-32:]):
        index = envelope.index(part)
        with pytest.raises(BadMac):
            open_hmac(KEY, flipped(envelope, index))


@pytest.mark.parametrize("index", range(len(sign_envelope(SIGNER, "alice-1", HEADER, BODY))))
def test_every_flipped_byte_of_a_signed_envelope_is_refused(index):
    envelope = sign_envelope(SIGNER, "alice-1", HEADER, BODY)
    with pytest.raises((BadSignature, UnknownKey, MalformedEnvelope)):
        verify_signed(TRUSTED, flipped(envelope, index))


def test_a_flipped_signature_byte_is_a_bad_signature():
    envelope = sign_envelope(SIGNER, "alice-1", HEADER, BODY)
    with pytest.raises(BadSignature):
        verify_signed(TRUSTED, flipped(envelope, len(envelope) - 1))


def test_the_wrong_hmac_key_is_a_bad_mac():
    with pytest.raises(BadMac):
        open_hmac(OTHER_KEY, seal_hmac(KEY, HEADER, BODY))


def test_a_valid_mac_moved_onto_another_header_or_body_is_a_bad_mac():
    mac = seal_hmac(KEY, HEADER, BODY)[-32:]
    for header, body in [(Header("alice", "transfer", 8), BODY), (HEADER, {"to": "mallory"})]:
        with pytest.raises(BadMac):
            open_hmac(KEY, canonical([header.to_cbor_value(), body, mac]))


def test_a_signature_by_an_untrusted_key_under_a_trusted_id_is_a_bad_signature():
    with pytest.raises(BadSignature):
        verify_signed(TRUSTED, sign_envelope(STRANGER, "alice-1", HEADER, BODY))


def test_an_unknown_key_id_is_refused_by_name():
    with pytest.raises(UnknownKey, match="mallory-1"):
        verify_signed(TRUSTED, sign_envelope(STRANGER, "mallory-1", HEADER, BODY))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff",
        canonical("not an array"),
        canonical([1, 2]),
        canonical([{"sender": "a", "type": "t"}, 1, bytes(32)]),
        canonical([{"sender": "a", "type": "t", "seq": -1}, 1, bytes(32)]),
        canonical([{"sender": "a", "type": "t", "seq": 2**64}, 1, bytes(32)]),
        canonical([{"sender": "a", "type": "t", "seq": True}, 1, bytes(32)]),
        canonical([{"sender": 1, "type": "t", "seq": 0}, 1, bytes(32)]),
        canonical([HEADER.to_cbor_value(), 1, bytes(31)]),
        canonical([HEADER.to_cbor_value(), 1, "mac"]),
        bytes.fromhex("83a3") + b"\xf7",  # undefined has no canonical form in our codec
    ],
)
def test_malformed_hmac_envelopes_are_refused_clearly(data):
    with pytest.raises(MalformedEnvelope):
        open_hmac(KEY, data)


def test_a_value_without_a_canonical_form_is_malformed_not_a_crash():
    envelope = canonical([HEADER.to_cbor_value(), None, bytes(32)]).replace(b"\xf6", b"\xf7")
    with pytest.raises(MalformedEnvelope, match="canonical"):
        open_hmac(KEY, envelope)


@pytest.mark.parametrize(
    "data",
    [
        canonical([HEADER.to_cbor_value(), 1, 1, bytes(64)]),
        canonical([HEADER.to_cbor_value(), "alice-1", 1, bytes(63)]),
        canonical([HEADER.to_cbor_value(), "alice-1", 1]),
    ],
)
def test_malformed_signed_envelopes_are_refused_clearly(data):
    with pytest.raises(MalformedEnvelope):
        verify_signed(TRUSTED, data)


def test_every_truncation_is_refused():
    envelope = seal_hmac(KEY, HEADER, BODY)
    for length in range(len(envelope)):
        with pytest.raises(MalformedEnvelope):
            open_hmac(KEY, envelope[:length])


def test_an_oversized_envelope_is_refused_before_decoding():
    envelope = seal_hmac(KEY, HEADER, bytes(2000))
    with pytest.raises(MalformedEnvelope, match="exceeds the maximum"):
        open_hmac(KEY, envelope, max_size=1000)
    assert open_hmac(KEY, envelope, max_size=3000).body == bytes(2000)


def test_a_huge_claimed_length_costs_no_memory():
    """A head claiming a 2**63-byte string in 20 bytes is refused at once."""
    envelope = canonical([HEADER.to_cbor_value(), 1])[:-1] + bytes.fromhex("5b7fffffffffffffff")
    with pytest.raises(MalformedEnvelope):
        open_hmac(KEY, envelope)


def test_every_refusal_is_an_envelope_refused():
    for error in (MalformedEnvelope, BadMac, UnknownKey, BadSignature):
        assert issubclass(error, EnvelopeRefused)


def test_two_encodings_of_one_value_make_an_honest_message_fail():
    body = {"amount": 100, "to": "bob"}  # canonical order puts the shorter key, "to", first
    assert dumps(body) != canonical(body)
    refused = two_encodings_failure(KEY, HEADER, body)
    assert isinstance(refused, BadMac)


def test_two_encodings_agree_when_the_keys_are_already_in_canonical_order():
    body = {"to": "bob", "amount": 100}
    assert dumps(body) == canonical(body)
    assert two_encodings_failure(KEY, HEADER, body) is None
