"""A small secure channel: X25519 key agreement, HKDF into two directional keys, AEAD each way.

Theory of operation
-------------------
Two parties that share no secret each make a fresh X25519 key pair and send
each other the public half, in clear. Each combines its own private key
with the other's public key and gets the same 32-byte shared secret
(Diffie-Hellman on Curve25519, RFC 7748); an eavesdropper who saw both
public keys cannot compute it.

The shared secret is not used as a key directly. HKDF (RFC 5869) turns it
into 64 bytes of key material, with an *info* string that names this
channel's purpose and both public keys in order (initiator's first), so
that a different exchange never yields the same keys. The first 32 bytes
are the key for initiator → responder, the last 32 for responder →
initiator. Two keys, not one: each direction has its own `Sealer` counting
from 0, and with one key the first message each way would use the same
nonce, which is the repeat `reference.security.aead` warns about. With two,
a message sealed one way does not open the other way, so an attacker
cannot reflect a party's message back to it.

`SecureChannel` is one end: `seal` with the sending key and its counter,
`open` with the receiving key and a `SequenceWindow` over the peer's
sequence numbers, so a replayed or too-old message is refused (`Replayed`)
after its tag checked (a forgery cannot move the window).

What this leaves out: the exchange is *anonymous*. An attacker in the
middle can run one exchange with each side and relay, reading everything.
Real protocols authenticate the exchange: TLS 1.3 signs the handshake with
the server's certificate key (CertificateVerify), the Noise handshakes in
WireGuard mix in long-term static keys. Signing both public keys with the
Ed25519 envelopes of `reference.security.envelopes` is the next step, and
the chapter's adversary shows the attack without it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from reference.security.aead import KEY_SIZE, Sealer, open_sealed
from reference.security.envelopes import MAX_SEQUENCE, EnvelopeRefused, Opened
from reference.security.replay import SequenceWindow, Verdict

CHANNEL_INFO = b"passing-messages/channel/x25519-hkdf-sha256/1"


class Replayed(EnvelopeRefused):
    """An authentic message the receiver has already accepted, or one too old to tell."""


@dataclass(frozen=True)
class ChannelKeys:
    """One end's two keys: the one it seals with, and the one it opens with."""

    sending: bytes
    receiving: bytes


def public_bytes(public_key: X25519PublicKey) -> bytes:
    """The 32 bytes that travel in the exchange."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def derive_channel_keys(
    private_key: X25519PrivateKey, peer_public_key: X25519PublicKey, *, initiator: bool
) -> ChannelKeys:
    """Agree on a secret with the peer and split it into this end's sending and receiving keys."""
    shared_secret = private_key.exchange(peer_public_key)  # raises on a low-order peer key
    own, peer = public_bytes(private_key.public_key()), public_bytes(peer_public_key)
    initiator_public, responder_public = (own, peer) if initiator else (peer, own)
    material = HKDF(
        algorithm=hashes.SHA256(),
        length=2 * KEY_SIZE,
        salt=None,
        info=CHANNEL_INFO + initiator_public + responder_public,
    ).derive(shared_secret)
    to_responder, to_initiator = material[:KEY_SIZE], material[KEY_SIZE:]
    if initiator:
        return ChannelKeys(sending=to_responder, receiving=to_initiator)
    return ChannelKeys(sending=to_initiator, receiving=to_responder)


class SecureChannel:
    """One end of the channel: seals what it sends, opens and de-duplicates what it receives."""

    def __init__(
        self,
        keys: ChannelKeys,
        name: str,
        *,
        window_size: int = 64,
        max_messages: int = MAX_SEQUENCE + 1,
    ) -> None:
        self._receiving_key = keys.receiving
        self._sealer = Sealer(keys.sending, name, max_messages=max_messages)
        self.window = SequenceWindow(window_size)

    def seal(self, message_type: str, body: object) -> bytes:
        """Encrypt `body` for the peer under this direction's key and its next nonce."""
        return self._sealer.seal(message_type, body)

    def open(self, data: bytes) -> Opened:
        """Check, decrypt and de-duplicate a message from the peer, or raise `EnvelopeRefused`."""
        opened = open_sealed(self._receiving_key, data)
        verdict = self.window.accept(opened.header.sequence)
        if verdict is not Verdict.NEW:
            raise Replayed(f"message #{opened.header.sequence} is {verdict.value}")
        return opened
