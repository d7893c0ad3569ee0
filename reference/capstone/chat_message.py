"""A chat message as its author signed it: who, where, what, in answer to what, after what.

Theory of operation
-------------------
Every message of the chat travels through a broker the members do not
trust. So each message is an Ed25519-signed envelope
(reference/security/envelopes.py): the header is ``{"sender": author,
"type": "post", "seq": n}``, where `n` counts the author's messages from 1,
and the body is the canonical CBOR map

- ``room``: the room it was posted in, so a message cannot be replayed into
  another room;
- ``text``: what the author typed (at most `MAX_TEXT` characters);
- ``reply_to``: the id ``[author, seq]`` of the message it answers, or None;
- ``clock``: the author's vector clock when posting (reference/order/clocks.py):
  how many messages of each member it had shown, its own entry counting
  this message. A reply's clock must count the message it answers, which is
  how causal order keeps a reply after its question.

The id of a message is ``(author, seq)``: the header's sender and sequence
number, both under the signature. A member also signs its *digest* (type
``"digest"``): the vector of what it has shown, which is both its
acknowledgement and its request for what it lacks (reference/capstone/member.py).

`open_envelope` is the one door for bytes from the broker. It refuses, each
with its own exception (all `EnvelopeRefused`, as in envelopes.py):
anything that is not a well-formed envelope of bounded size
(`MalformedEnvelope`), a key that is not in the room's directory
(`UnknownKey`), a signature that does not verify (`BadSignature`), an author
who is not the signer (`WrongSigner`: Bob signing "Alice says..."), and a
message for another room (`ForeignRoom`). `verify=False` skips the two
signature checks and nothing else: it exists to show what a tampering broker
does to a chat that trusts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from reference.order.clocks import VectorClock
from reference.security.envelopes import (
    EnvelopeRefused,
    Header,
    MalformedEnvelope,
    Opened,
    sign_envelope,
    verify_signed,
)
from reference.wire.untrusted import MalformedCBOR, loads_untrusted

MessageId = tuple[str, int]
POST, DIGEST = "post", "digest"
MAX_TEXT = 4096  # characters
MAX_ENVELOPE = 32 * 1024  # bytes: the longest text in 4-byte characters, a clock and a signature


class WrongSigner(EnvelopeRefused):
    """The envelope verifies, but under another member's key than its author's."""


class ForeignRoom(EnvelopeRefused):
    """A message or digest for another room than this member's."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One post: its id is ``(author, seq)``; `clock` is the author's vector when posting."""

    author: str
    seq: int
    room: str
    text: str
    reply_to: MessageId | None
    clock: VectorClock

    @property
    def id(self) -> MessageId:
        return (self.author, self.seq)


@dataclass(frozen=True, slots=True)
class Digest:
    """What `member` has shown: ``shown[a]`` of author `a`'s messages, 1 to ``shown[a]``."""

    member: str
    room: str
    shown: VectorClock


def sign_post(private_key: Ed25519PrivateKey, message: ChatMessage) -> bytes:
    """The signed envelope of `message`, under its author's key."""
    reply_to = None if message.reply_to is None else list(message.reply_to)
    body = {
        "clock": message.clock.as_dict(),
        "reply_to": reply_to,
        "room": message.room,
        "text": message.text,
    }
    return sign_envelope(
        private_key, message.author, Header(message.author, POST, message.seq), body
    )


def sign_digest(private_key: Ed25519PrivateKey, digest: Digest) -> bytes:
    """The signed envelope of `digest` (sequence 0: a digest is never counted)."""
    body = {"room": digest.room, "shown": digest.shown.as_dict()}
    return sign_envelope(private_key, digest.member, Header(digest.member, DIGEST, 0), body)


def open_envelope(
    public_keys: Mapping[str, Ed25519PublicKey], data: bytes, room: str, *, verify: bool = True
) -> ChatMessage | Digest:
    """Check an envelope from the broker and read it, or raise an `EnvelopeRefused`."""
    if not isinstance(data, bytes):
        raise MalformedEnvelope("an envelope is a byte string")
    opened = (
        verify_signed(public_keys, data, max_size=MAX_ENVELOPE) if verify else _unverified(data)
    )
    header = opened.header
    if verify and opened.key_id != header.sender:
        raise WrongSigner(f"{header.sender!r}'s message is signed by {opened.key_id!r}")
    if header.sender not in public_keys:
        raise MalformedEnvelope("the author is not a member of the room")
    body = opened.body
    if not isinstance(body, dict) or not isinstance(body.get("room"), str):
        raise MalformedEnvelope("the body is not a map with a room")
    if body["room"] != room:
        raise ForeignRoom(f"an envelope for room {body['room'][:64]!r}")
    if header.type == DIGEST and set(body) == {"room", "shown"}:
        return Digest(header.sender, room, _vector(body["shown"], public_keys))
    if header.type != POST or set(body) != {"clock", "reply_to", "room", "text"}:
        raise MalformedEnvelope("neither a post nor a digest")
    message = ChatMessage(
        header.sender,
        header.sequence,
        room,
        _text(body["text"]),
        _reply_to(body["reply_to"]),
        _vector(body["clock"], public_keys),
    )
    _check_causal_past(message)
    return message


def _unverified(data: bytes) -> Opened:
    """Read a signed envelope without checking its signature (what `verify=False` means)."""
    try:
        value = loads_untrusted(data, max_size=MAX_ENVELOPE)
    except MalformedCBOR as error:
        raise MalformedEnvelope(f"the envelope is not valid CBOR ({error})") from None
    if not isinstance(value, list) or len(value) != 4:
        raise MalformedEnvelope("the envelope must be an array of 4 items")
    return Opened(Header.from_cbor_value(value[0]), value[2], value[1])


def _text(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise MalformedEnvelope(f"the text must be a string of at most {MAX_TEXT} characters")
    return value


def _reply_to(value: object) -> MessageId | None:
    if value is None:
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and type(value[1]) is int
        and value[1] >= 1
    ):
        return (value[0], value[1])
    raise MalformedEnvelope("reply_to must be None or [author, seq]")


def _vector(value: object, members: Mapping[str, object]) -> VectorClock:
    if not isinstance(value, dict) or not set(value) <= set(members):
        raise MalformedEnvelope("a vector names members of the room only")
    try:
        return VectorClock(value)
    except ValueError as error:
        raise MalformedEnvelope(str(error)) from None


def _check_causal_past(message: ChatMessage) -> None:
    """A post counts itself in its clock, and counts the message it answers."""
    if message.seq < 1 or message.clock[message.author] != message.seq:
        raise MalformedEnvelope("a post's clock must count the post itself")
    if message.reply_to is not None:
        author, seq = message.reply_to
        if message.clock[author] < seq or message.reply_to == message.id:
            raise MalformedEnvelope("a reply's clock must count the message it answers")
