"""Envelopes a receiver can check: a header, a body, and a MAC or a signature over both.

Theory of operation
-------------------
An attacker on the path can change any byte. An envelope carries a tag
computed over its header (who sent it, what type, which sequence number)
and its body, so that a receiver who recomputes the tag notices any
change. Two kinds of tag:

- *HMAC-SHA256* (`seal_hmac`, `open_hmac`): sender and receiver share one
  secret key. Anyone holding it can check a message, and anyone holding
  it can forge one, so it says "someone with the key", not who.
- *Ed25519* (`sign_envelope`, `verify_signed`): the sender signs with a
  private key; anyone with the public key can check, and only the holder
  of the private key can sign. The envelope names the key by a *key id*
  so a receiver can keep several (one per sender, old and new while keys
  rotate); the receiver looks the id up in the keys it trusts and refuses
  an id it does not know (`UnknownKey`).

What is tagged is not the bytes on the wire but the *value*: header and
body are encoded in canonical CBOR (`reference.wire.cbor.dumps(...,
canonical=True)`, RFC 8949 §4.2: map keys sorted, shortest forms), after a
label that names the scheme, so that a tag made for one scheme never
passes for another. The receiver decodes what arrived (with
`loads_untrusted`, since until the tag checks, the bytes are the
attacker's), encodes the header and body canonically again, and checks the
tag over that. The canonical form is what makes this work: one value has
exactly one encoding. A signer that encodes ``{"b": 1, "a": 2}`` with its
keys in insertion order tags other bytes than the verifier rebuilds, and an
honest message is refused (`two_encodings_failure` shows it). COSE (RFC
9052) avoids re-encoding instead, by carrying the tagged bytes as a byte
string; either way, both ends must agree on the exact bytes.

The HMAC is compared with `hmac.compare_digest`, whose time does not depend
on where the first differing byte is: with ``==``, an attacker who can time
the answer guesses a valid tag one byte at a time.

On the wire an envelope is a CBOR array: ``[header, body, mac]`` or
``[header, key_id, body, signature]``, where the header is the map
``{"sender": str, "type": str, "seq": int}``. Every refusal is an
`EnvelopeRefused`, named by its reason: `MalformedEnvelope` (not an
envelope: bad CBOR, too large, a missing or mistyped field), `BadMac`,
`UnknownKey`, `BadSignature`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from reference.wire.cbor import dumps
from reference.wire.untrusted import DEFAULT_MAX_SIZE, MalformedCBOR, loads_untrusted

HMAC_LABEL = "passing-messages/hmac-sha256/1"
ED25519_LABEL = "passing-messages/ed25519/1"
MAC_SIZE = 32
SIGNATURE_SIZE = 64
MAX_SEQUENCE = 2**64 - 1


class EnvelopeRefused(ValueError):
    """An envelope the receiver will not accept; the subclass says why."""


class MalformedEnvelope(EnvelopeRefused):
    """Not an envelope: bad CBOR, too large, or a field missing or of the wrong type."""


class BadMac(EnvelopeRefused):
    """The MAC does not match the header and body: changed on the way, or the wrong key."""


class UnknownKey(EnvelopeRefused):
    """The envelope names a key id the receiver does not trust."""


class BadSignature(EnvelopeRefused):
    """The signature does not verify under the named key."""


@dataclass(frozen=True)
class Header:
    """Who sent a message, what it is, and its place in the sender's sequence."""

    sender: str
    type: str
    sequence: int

    def to_cbor_value(self) -> dict[str, object]:
        return {"seq": self.sequence, "type": self.type, "sender": self.sender}  # canonical order

    @classmethod
    def from_cbor_value(cls, value: object) -> Header:
        """Check a decoded header map field by field, or raise `MalformedEnvelope`."""
        if not isinstance(value, dict) or set(value) != {"sender", "type", "seq"}:
            raise MalformedEnvelope("the header is not a map of exactly sender, type and seq")
        sender, message_type, sequence = value["sender"], value["type"], value["seq"]
        if not isinstance(sender, str) or not isinstance(message_type, str):
            raise MalformedEnvelope("the header's sender and type must be text")
        if type(sequence) is not int or not 0 <= sequence <= MAX_SEQUENCE:
            raise MalformedEnvelope("the header's seq must be an unsigned 64-bit integer")
        return cls(sender, message_type, sequence)


@dataclass(frozen=True)
class Opened:
    """What a receiver gets from an envelope that checked: its header and body.

    `key_id` names the key that verified a signed envelope (None for the others)."""

    header: Header
    body: Any
    key_id: str | None = None


def canonical(value: object) -> bytes:
    """The one encoding of `value` that both ends compute: canonical CBOR."""
    return dumps(value, canonical=True)


def mac_input(header: Header, body: object, *, encode=canonical) -> bytes:
    """The bytes the HMAC covers: the scheme's label, the header and the body."""
    return encode([HMAC_LABEL, header.to_cbor_value(), body])


def seal_hmac(key: bytes, header: Header, body: object, *, encode=canonical) -> bytes:
    """An HMAC-SHA256 envelope ``[header, body, mac]`` of `body` under `key`.

    `encode` is for the demonstration of two encodings only; leave it alone."""
    mac = hmac.new(key, mac_input(header, body, encode=encode), hashlib.sha256).digest()
    return canonical([header.to_cbor_value(), body, mac])


def open_hmac(key: bytes, data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> Opened:
    """Check an HMAC envelope and return its header and body, or raise `EnvelopeRefused`."""
    header_value, body, mac = _decode_array(data, 3, max_size)
    header = Header.from_cbor_value(header_value)
    _check_bytes(mac, MAC_SIZE, "mac")
    expected = hmac.new(key, _reencoded(mac_input, header, body), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, mac):
        raise BadMac(f"the MAC of {header.type} #{header.sequence} does not match")
    return Opened(header, body)


def signature_input(key_id: str, header: Header, body: object) -> bytes:
    """The bytes an Ed25519 signature covers: label, key id, header and body."""
    return canonical([ED25519_LABEL, key_id, header.to_cbor_value(), body])


def sign_envelope(
    private_key: Ed25519PrivateKey, key_id: str, header: Header, body: object
) -> bytes:
    """An Ed25519-signed envelope ``[header, key_id, body, signature]``."""
    signature = private_key.sign(signature_input(key_id, header, body))
    return canonical([header.to_cbor_value(), key_id, body, signature])


def verify_signed(
    public_keys: Mapping[str, Ed25519PublicKey],
    data: bytes,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
) -> Opened:
    """Check a signed envelope against the trusted `public_keys` (by key id).

    Returns its header, body and key id, or raises `EnvelopeRefused`. Which
    senders a key id may speak for is the caller's policy: compare
    `opened.key_id` with `opened.header.sender` as it requires."""
    header_value, key_id, body, signature = _decode_array(data, 4, max_size)
    header = Header.from_cbor_value(header_value)
    if not isinstance(key_id, str):
        raise MalformedEnvelope("the key id must be text")
    _check_bytes(signature, SIGNATURE_SIZE, "signature")
    public_key = public_keys.get(key_id)
    if public_key is None:
        raise UnknownKey(f"no trusted key has the id {key_id[:64]!r}")
    try:
        public_key.verify(signature, _reencoded(signature_input, key_id, header, body))
    except InvalidSignature:
        raise BadSignature(f"the signature does not verify under key {key_id!r}") from None
    return Opened(header, body, key_id)


def two_encodings_failure(key: bytes, header: Header, body: dict) -> BadMac | None:
    """Seal `body` with its map keys in insertion order, open it canonically.

    The signer's bytes and the verifier's differ whenever `body`'s keys are
    not already in canonical order, so an honest message is refused: the
    `BadMac` is returned (None if the two encodings happened to agree)."""
    envelope = seal_hmac(key, header, body, encode=dumps)  # dumps without canonical=True
    try:
        open_hmac(key, envelope)
    except BadMac as refused:
        return refused
    return None


def _decode_array(data: bytes, length: int, max_size: int) -> list:
    try:
        value = loads_untrusted(data, max_size=max_size)
    except MalformedCBOR as error:
        raise MalformedEnvelope(f"the envelope is not valid CBOR ({error})") from None
    if not isinstance(value, list) or len(value) != length:
        raise MalformedEnvelope(f"the envelope must be an array of {length} items")
    return value


def _reencoded(build_input, *parts: object) -> bytes:
    """Encode what arrived canonically again; a value our codec cannot encode is malformed."""
    try:
        return build_input(*parts)
    except (TypeError, ValueError) as error:
        raise MalformedEnvelope(
            f"the envelope holds a value without a canonical form ({error})"
        ) from None


def _check_bytes(value: object, size: int, name: str) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        raise MalformedEnvelope(f"the {name} must be {size} bytes")
