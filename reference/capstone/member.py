"""A chat member: signed posts, acknowledged and retransmitted, shown once and in causal order.

Theory of operation
-------------------
`ChatMember` is a node (reference/net/node.py) that only ever talks to one
other node, the broker: it sends ``("sub", filter)`` and ``("pub",
subject, payload)`` and receives ``("msg", subject, payload)``. It
subscribes to ``chat.<room>`` (the whole room) and ``chat.<room>.<name>``
(messages for it alone) in `on_start`, and again before each digest it
publishes (below): a subscription is idempotent at the broker, and sending
it again re-teaches a broker that restarted and lost it, or whose copy was
lost on the way (the simulator's links lose messages, as UDP would).
Every payload is a signed envelope (reference/capstone/chat_message.py):
a *post* or a *digest*. The same class runs in the simulator, behind
reference/capstone/relay.py, and as a process behind a real broker.

Four mechanisms, each a switch in `Guarantees` so a chapter can turn it off
and watch what breaks:

- *Signatures* (`verify_signatures`). A post is signed by its author and
  checked by every reader; whatever does not verify, names the wrong signer
  or another room is refused (counted in `refused` by reason, never shown).
- *Reliable delivery*. The author keeps each post in ``storage["unacked"]``
  with the members that have not acknowledged it, and sends it again, on
  the direct subject of each, after a `Backoff` timeout that grows, until
  all have. Acknowledgements are digests (below): a member that has shown
  ``n`` of Alice's posts has shown the first ``n`` (causal order shows an
  author's posts in order), so one vector acknowledges everything at once.
  The outbox is in storage, so a restarted author still retransmits.
- *Deduplication* (`deduplicate`): by message id ``(author, seq)``. The
  network duplicates, retransmission duplicates on purpose, catch-up
  duplicates whenever two members answer the same digest.
- *Causal order* (`causal_order`): a post waits in a bounded hold-back
  queue until `reference.order.causal.deliverable` says that everything in
  its clock has been shown here. A reply's clock counts the message it
  answers (chat_message.py refuses one that does not), so a reply never
  shows before its question. The vector `delivered` counts, per author,
  how many of its posts from 1 on have been shown. (With causal order on,
  the vector rule alone also refuses a second copy, whose number is not the
  next one; dedup then only keeps copies out of the hold-back queue.)

Catch-up is *anti-entropy*: on start, and every `anti_entropy_interval`
seconds, a member publishes its signed digest (its `delivered` vector) to
the room; a member that has shown posts the digest lacks sends the
authors' original envelopes to the digest's sender, oldest first, at most
`max_catch_up` at a time. A member that was offline, or joins late, thus
gets the room's history from whoever is up; a receiver of a post owes its
author a digest (sent after `ack_delay`, one for many posts). Why not a
durable log (the chapter 04 queue, a Raft store)? A log would be one more
service that must be up for anyone to catch up and one more place that
must be trusted or checked; with anti-entropy any member is a replica, the
signed envelopes prove themselves whoever relays them, and the broker stays
a stateless router. The price is that every member stores the whole history
and that digests cost traffic even when all is well.

Storage holds plain values only: ``next_seq`` (the number of this member's
next post), ``log`` (the envelopes shown, in the order shown) and
``unacked`` (post number, as text, to the members still to acknowledge it).
The hold-back queue is not stored: what was in it is fetched again. Copies
are many, so the last `max_remembered` envelopes opened are kept with what
they said: the same bytes again cost no second signature check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from reference.capstone.chat_message import (
    MAX_TEXT,
    ChatMessage,
    Digest,
    MessageId,
    open_envelope,
    sign_digest,
    sign_post,
)
from reference.delivery.reliable import Backoff
from reference.net.node import Node
from reference.order.causal import deliverable
from reference.order.clocks import VectorClock
from reference.routing.subjects import parse_subject
from reference.security.envelopes import EnvelopeRefused

ANTI_ENTROPY, SEND_DIGESTS, RETRANSMIT = "anti-entropy", "send-digests", "retransmit"
RETRANSMIT_BACKOFF = Backoff(initial=0.5, multiplier=2.0, cap=8.0, jitter=0.5)


@dataclass(frozen=True, slots=True)
class Guarantees:
    """Which of the member's guarantees are on (all, unless a chapter shows one off).

    Off, `verify_signatures` lets a tampering broker's changes and forgeries
    show; `causal_order` lets a reply show before its question. With causal
    order on, `deduplicate` off shows nothing twice (the vector rule refuses a
    copy, whose number is not the next one), but each copy then waits in the
    hold-back queue for good, as it never becomes deliverable; with both off,
    copies are shown."""

    verify_signatures: bool = True
    deduplicate: bool = True
    causal_order: bool = True


@dataclass(frozen=True, slots=True)
class Shown:
    """A message as a member showed it; `clock` is its author's signed vector."""

    id: MessageId
    author: str
    text: str
    reply_to: MessageId | None
    clock: dict[str, int]


class UnknownMessage(LookupError):
    """A reply to a message this member has not shown."""


class ChatMember(Node):
    """One member of one room; `post` a message, read `shown`."""

    def __init__(
        self,
        name: str,
        room: str,
        roster: Sequence[str],
        signing_key: bytes,
        directory: Mapping[str, bytes],
        *,
        broker: str = "broker",
        on_show: Callable[[Shown], None] | None = None,
        guarantees: Guarantees = Guarantees(),
        backoff: Backoff = RETRANSMIT_BACKOFF,
        anti_entropy_interval: float = 2.0,
        ack_delay: float = 0.05,
        max_held: int = 256,
        max_catch_up: int = 64,
        max_remembered: int = 512,
    ) -> None:
        if len(parse_subject(f"chat.{room}.{name}")) != 3:
            raise ValueError("a room and a member name are one subject token each")
        if name not in roster or not set(roster) <= set(directory):
            raise ValueError("the member and everyone on the roster need a key in the directory")
        self.name, self.room, self.broker = name, room, broker
        self.others = sorted(set(roster) - {name})
        self.signing_key = Ed25519PrivateKey.from_private_bytes(signing_key)
        self.public_keys = {  # only the room's members are trusted, whoever else has a key
            member: Ed25519PublicKey.from_public_bytes(directory[member]) for member in roster
        }
        self.on_show = on_show
        self.guarantees = guarantees
        self.backoff = backoff
        self.anti_entropy_interval = anti_entropy_interval
        self.ack_delay = ack_delay
        self.max_held = max_held
        self.max_catch_up = max_catch_up
        self.max_remembered = max_remembered
        self.shown: list[Shown] = []
        self.refused: Counter[str] = Counter()  # reason -> how many refused
        self.delivered = VectorClock()
        self._envelopes: dict[MessageId, bytes] = {}  # shown id -> its author's envelope
        self._position: dict[MessageId, int] = {}  # shown id -> its place in the log
        self._held: list[tuple[ChatMessage, bytes]] = []
        self._owed_digests: set[str] = set()
        self._attempts: dict[int, int] = {}
        self._opened: dict[bytes, ChatMessage | Digest] = {}  # envelope -> what it said
        self._last_digest: tuple[Digest, bytes] | None = None

    @property
    def held_back(self) -> int:
        """How many posts wait in the hold-back queue for their causal past."""
        return len(self._held)

    @property
    def room_subject(self) -> str:
        return f"chat.{self.room}"

    def direct_subject(self, member: str) -> str:
        return f"chat.{self.room}.{member}"

    # -- The node's handlers

    def on_start(self) -> None:
        storage = self.ctx.storage
        storage.setdefault("next_seq", 1)
        storage.setdefault("unacked", {})
        for envelope in storage.setdefault("log", []):
            self._record(
                open_envelope(self.public_keys, envelope, self.room, verify=False), envelope
            )
        self._publish_digest()
        for seq in list(storage["unacked"]):
            self._retransmit(int(seq))

    def on_message(self, src: str, msg: Any) -> None:
        if src != self.broker or not (
            isinstance(msg, list | tuple) and len(msg) == 3 and msg[0] == "msg"
        ):
            self.refused["not a message from the broker"] += 1
            return
        item = self._opened.get(msg[2]) if isinstance(msg[2], bytes) else None
        if item is None:
            try:
                item = open_envelope(
                    self.public_keys, msg[2], self.room, verify=self.guarantees.verify_signatures
                )
            except EnvelopeRefused as refusal:
                self.refused[type(refusal).__name__] += 1
                self.ctx.note(f"refused: {type(refusal).__name__}")
                return
            self._remember(msg[2], item)
        if isinstance(item, Digest):
            self._on_digest(item)
        else:
            self._on_post(item, msg[2])

    def on_timer(self, name: Hashable) -> None:
        if name == ANTI_ENTROPY:
            self._publish_digest()
        elif name == SEND_DIGESTS:
            envelope = self._signed_digest()
            for member in sorted(self._owed_digests):
                self._publish(self.direct_subject(member), envelope)
            self._owed_digests.clear()
        elif isinstance(name, tuple) and name[0] == RETRANSMIT:
            self._retransmit(name[1])

    # -- Posting

    def post(self, text: str, reply_to: MessageId | None = None) -> MessageId:
        """Sign, show and send a new message (optionally a reply to one shown here)."""
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise ValueError(f"a message is a text of at most {MAX_TEXT} characters")
        if reply_to is not None:
            reply_to = (reply_to[0], reply_to[1])
            if reply_to not in self._envelopes:
                raise UnknownMessage(f"no message {reply_to} has been shown here")
        storage = self.ctx.storage
        seq = storage["next_seq"]
        clock = self.delivered.copy()
        clock.increment(self.name)
        message = ChatMessage(self.name, seq, self.room, text, reply_to, clock)
        envelope = sign_post(self.signing_key, message)
        self._remember(envelope, message)
        storage["next_seq"] = seq + 1
        if self.others:
            storage["unacked"][str(seq)] = list(self.others)
        self._show(message, envelope)
        self._publish(self.room_subject, envelope)
        self._schedule_retransmit(seq)
        return message.id

    # -- Receiving

    def _on_post(self, message: ChatMessage, envelope: bytes) -> None:
        if message.author == self.name and message.id not in self._envelopes:
            self.refused["a post in this member's name that it never made"] += 1
            return
        if message.author != self.name:
            self._owe_digest(message.author)
        if self.guarantees.deduplicate and (
            message.id in self._envelopes or any(message.id == held.id for held, _ in self._held)
        ):
            return
        if not self.guarantees.causal_order:
            self._show(message, envelope)
        elif deliverable(message.author, message.clock, self.delivered):
            self._show(message, envelope)
            self._show_what_is_ready()
        elif len(self._held) < self.max_held:
            self._held.append((message, envelope))
        else:
            self.refused["hold-back queue full"] += 1  # it will come again

    def _show_what_is_ready(self) -> None:
        progress = True
        while progress:
            progress = False
            for item in list(self._held):
                message, envelope = item
                if deliverable(message.author, message.clock, self.delivered):
                    self._held.remove(item)
                    self._show(message, envelope)
                    progress = True

    def _on_digest(self, digest: Digest) -> None:
        if digest.member == self.name:
            return
        unacked = self.ctx.storage["unacked"]
        for seq in [seq for seq in unacked if int(seq) <= digest.shown[self.name]]:
            if digest.member in unacked[seq]:
                unacked[seq].remove(digest.member)
            if not unacked[seq]:
                del unacked[seq]
                self.ctx.cancel_timer((RETRANSMIT, int(seq)))
                self._attempts.pop(int(seq), None)
        lacking = [
            (author, seq)
            for author, count in self.delivered.counts.items()
            for seq in range(digest.shown[author] + 1, count + 1)
        ]
        lacking.sort(key=self._position.__getitem__)
        for message_id in lacking[: self.max_catch_up]:
            self._publish(self.direct_subject(digest.member), self._envelopes[message_id])

    # -- Showing and sending

    def _show(self, message: ChatMessage, envelope: bytes) -> None:
        self.ctx.storage["log"].append(envelope)
        shown = self._record(message, envelope)
        if self.on_show is not None:
            self.on_show(shown)

    def _record(self, message: ChatMessage, envelope: bytes) -> Shown:
        self._position.setdefault(message.id, len(self.shown))
        self._envelopes[message.id] = envelope
        while (message.author, self.delivered[message.author] + 1) in self._envelopes:
            self.delivered.increment(message.author)
        reply_to, clock = message.reply_to, message.clock.as_dict()
        shown = Shown(message.id, message.author, message.text, reply_to, clock)
        self.shown.append(shown)
        return shown

    def _remember(self, envelope: bytes, item: ChatMessage | Digest) -> None:
        """Keep what `envelope` said: the same bytes again need no second check."""
        if len(self._opened) >= self.max_remembered:
            del self._opened[next(iter(self._opened))]  # the oldest
        self._opened[envelope] = item

    def _digest(self) -> Digest:
        return Digest(self.name, self.room, self.delivered.copy())

    def _signed_digest(self) -> bytes:
        """The digest of what is shown now, signed (again only if it changed)."""
        if self._last_digest is None or self._last_digest[0].shown != self.delivered:
            digest = self._digest()
            self._last_digest = (digest, sign_digest(self.signing_key, digest))
            self._remember(self._last_digest[1], digest)
        return self._last_digest[1]

    def _publish_digest(self) -> None:
        self.ctx.send(self.broker, ("sub", self.room_subject))
        self.ctx.send(self.broker, ("sub", self.direct_subject(self.name)))
        self._publish(self.room_subject, self._signed_digest())
        interval = self.anti_entropy_interval * (0.5 + self.ctx.random.random())
        self.ctx.set_timer(interval, ANTI_ENTROPY)

    def _owe_digest(self, member: str) -> None:
        if not self._owed_digests:
            self.ctx.set_timer(self.ack_delay, SEND_DIGESTS)
        self._owed_digests.add(member)

    def _retransmit(self, seq: int) -> None:
        waiting = self.ctx.storage["unacked"].get(str(seq))
        if not waiting:
            return
        for member in waiting:
            self._publish(self.direct_subject(member), self._envelopes[(self.name, seq)])
        self._attempts[seq] = self._attempts.get(seq, 0) + 1
        self._schedule_retransmit(seq)

    def _schedule_retransmit(self, seq: int) -> None:
        delay = self.backoff.delay(self._attempts.get(seq, 0), self.ctx.random.random())
        self.ctx.set_timer(delay, (RETRANSMIT, seq))

    def _publish(self, subject: str, payload: bytes) -> None:
        self.ctx.send(self.broker, ("pub", subject, payload))
