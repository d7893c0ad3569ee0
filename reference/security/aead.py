"""Encrypted envelopes: ChaCha20-Poly1305 over the body, bound to a header left in clear.

Theory of operation
-------------------
AEAD (authenticated encryption with associated data, RFC 8439) does two
things at once: it encrypts the body, and it tags the ciphertext together
with *associated data* that travels in clear. Here the associated data is
the header (sender, type, sequence number), so a router can read the
header, but nobody can change it, or move a ciphertext under another
header, without the tag failing (`BadMac`: Poly1305 is a MAC).

ChaCha20-Poly1305 needs a 96-bit *nonce* per message, and it must never
repeat under one key. The cipher is a stream cipher: ciphertext =
plaintext XOR keystream(key, nonce). Two messages under the same key and
nonce share a keystream, so the XOR of the two ciphertexts is the XOR of
the two plaintexts (`repeated_nonce_leak` shows it), and whoever knows or
guesses one plaintext reads the other. Worse, the Poly1305 key also comes
from (key, nonce): from two tagged messages under one nonce an attacker
can solve for that one-time key and then forge tags for messages of their
choice under that nonce. One repeat, and confidentiality and integrity are
both gone.

So the nonce is a counter: a `Sealer` owns one key and the counter for it,
numbers its messages 0, 1, 2, ..., puts the number in the header as the
sequence, and builds the nonce from it. The receiver needs no extra bytes:
it rebuilds the nonce from the header's sequence. The sealer refuses to
wrap around (`NonceExhausted`) rather than start again at 0; the key must
then be replaced. Why not a random 96-bit nonce per message? By the
birthday bound, after n messages the chance that two share a nonce is
about n²/2⁹⁷: acceptable for 2³² messages (NIST SP 800-38D's limit for
random nonces), not for the 2⁶⁴ a counter allows, and it depends on a good
random source in every process that holds the key. A counter repeats only
if the counter is lost: so one key, one `Sealer`, one sender, and a
restarted process gets a fresh key (the channel's key exchange gives one).

On the wire an AEAD envelope is the canonical CBOR array ``[header,
ciphertext]`` (the ciphertext ends with the 16-byte tag); the plaintext is
the canonical CBOR of the body.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from reference.security.envelopes import (
    MAX_SEQUENCE,
    BadMac,
    Header,
    MalformedEnvelope,
    Opened,
    canonical,
)
from reference.wire.untrusted import DEFAULT_MAX_SIZE, MalformedCBOR, loads_untrusted

AEAD_LABEL = "passing-messages/chacha20-poly1305/1"
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16


class NonceExhausted(RuntimeError):
    """The sealer has used every nonce its key allows; the key must be replaced."""


def nonce_for(sequence: int, prefix: bytes = bytes(4)) -> bytes:
    """The 96-bit nonce of message number `sequence`: a 4-byte prefix, then 8 bytes of counter."""
    return prefix + sequence.to_bytes(8, "big")


def associated_data(header: Header) -> bytes:
    """What the tag covers besides the ciphertext: the scheme's label and the header."""
    return canonical([AEAD_LABEL, header.to_cbor_value()])


class Sealer:
    """Seals one sender's messages under one key, numbering them so no nonce repeats."""

    def __init__(self, key: bytes, sender: str, *, max_messages: int = MAX_SEQUENCE + 1) -> None:
        if not 0 < max_messages <= MAX_SEQUENCE + 1:
            raise ValueError(f"max_messages must be between 1 and 2**64, got {max_messages}")
        self._aead = ChaCha20Poly1305(key)
        self.sender = sender
        self.max_messages = max_messages
        self.next_sequence = 0

    def seal(self, message_type: str, body: object) -> bytes:
        """Encrypt `body` under the next sequence number; refuse once they are used up."""
        if self.next_sequence >= self.max_messages:
            raise NonceExhausted(
                f"{self.sender} has sealed {self.max_messages} messages under this key"
            )
        header = Header(self.sender, message_type, self.next_sequence)
        self.next_sequence += 1  # before encrypting: even a failed seal never reuses it
        ciphertext = self._aead.encrypt(
            nonce_for(header.sequence), canonical(body), associated_data(header)
        )
        return canonical([header.to_cbor_value(), ciphertext])


def open_sealed(key: bytes, data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> Opened:
    """Check and decrypt an AEAD envelope, or raise `BadMac` or `MalformedEnvelope`.

    It does not refuse a replayed envelope: a replay window
    (`reference.security.replay`) over `opened.header.sequence` does."""
    value = _loads(data, max_size, "envelope")
    if not isinstance(value, list) or len(value) != 2:
        raise MalformedEnvelope("the envelope must be an array of header and ciphertext")
    header = Header.from_cbor_value(value[0])
    ciphertext = value[1]
    if not isinstance(ciphertext, bytes) or len(ciphertext) < TAG_SIZE:
        raise MalformedEnvelope(f"the ciphertext must be bytes, at least {TAG_SIZE} of them")
    try:
        plaintext = ChaCha20Poly1305(key).decrypt(
            nonce_for(header.sequence), ciphertext, associated_data(header)
        )
    except InvalidTag:
        raise BadMac(f"the tag of {header.type} #{header.sequence} does not verify") from None
    return Opened(header, _loads(plaintext, max_size, "body"))


def repeated_nonce_leak(key: bytes, nonce: bytes, first: bytes, second: bytes) -> bytes:
    """Encrypt two equally long plaintexts under one nonce: what an eavesdropper computes.

    Returns the XOR of the two ciphertexts (tags cut off), which is the XOR
    of the two plaintexts: the key never comes into it. Never do this."""
    if len(first) != len(second):
        raise ValueError("the demonstration takes two plaintexts of the same length")
    aead = ChaCha20Poly1305(key)
    first_ciphertext = aead.encrypt(nonce, first, None)[:-TAG_SIZE]
    second_ciphertext = aead.encrypt(nonce, second, None)[:-TAG_SIZE]
    return xor(first_ciphertext, second_ciphertext)


def xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def _loads(data: bytes, max_size: int, what: str) -> Any:
    try:
        return loads_untrusted(data, max_size=max_size)
    except MalformedCBOR as error:
        raise MalformedEnvelope(f"the {what} is not valid CBOR ({error})") from None
