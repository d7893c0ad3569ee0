"""The chat's broker on the simulator: subscriptions, forwarding, and a broker that cheats.

Theory of operation
-------------------
`Relay` is the chapter 05 broker reduced to what the chat uses, as a node
(reference/net/node.py): a member sends it ``("sub", filter)`` and
``("pub", subject, payload)``, and it sends ``("msg", subject, payload)``
to every member whose filter matches the subject, the publisher included
(as nats-server echoes by default). Matching is
`reference.routing.subjects.SubscriptionIndex`. With `permissions` (member
name to `reference.security.permissions.Permissions`, what each member's
token grants) a publish or a subscription that is not allowed is dropped
and counted in `refused`, as the real broker answers ``-ERR`` to it.

Subscriptions live in the relay's memory, so a restart of the relay loses
them, as a restart of nats-server does. The members do not depend on it:
each sends its subscriptions again with every anti-entropy digest (the
relay takes a repeated one once), which is what a NATS client does when it
reconnects (reference/routing/reconnect.py), so a restarted relay is
re-taught within one round. What a restart also loses is what was in
flight: messages the relay had received and not yet forwarded, and every
message published while members were not yet subscribed again. Nothing
relies on the broker for those either: the author retransmits until each
member acknowledges, and anti-entropy fills the gaps (member.py).

A broker sees everything and can change anything, so the campaign also runs
a relay with a `Tampering`: during ``[start, stop)`` of virtual time it
cheats on what `victim` publishes, in one of four `TAMPER_MODES`:

- ``"change-text"``: forwards the post with its text changed (the signature
  is left as it was, since the relay cannot make a new one);
- ``"forge"``: forwards it, and also a post of its own making: the same
  envelope claimed as the next post of another subscriber (the first by
  name), with another text and the victim's signature;
- ``"replay"``: forwards it, and then again the victim's previous publish to
  the same subject since the cheating began (the first one twice);
- ``"drop"``: does not forward it at all.

Members that verify signatures refuse the first two (`BadSignature`) and
deduplicate the third; the fourth is a long partition, which
retransmission and anti-entropy outlast.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reference.net.node import Node
from reference.routing.subjects import InvalidSubject, SubscriptionIndex
from reference.security.envelopes import canonical
from reference.security.permissions import Permissions
from reference.wire.untrusted import MalformedCBOR, loads_untrusted

TAMPER_MODES = ("change-text", "forge", "replay", "drop")


@dataclass(frozen=True, slots=True)
class Tampering:
    """Cheat in `mode` on what `victim` publishes from `start` to `stop` (virtual seconds)."""

    mode: str
    victim: str
    start: float = 0.0
    stop: float = float("inf")

    def __post_init__(self) -> None:
        if self.mode not in TAMPER_MODES:
            raise ValueError(f"a tampering mode is one of {TAMPER_MODES}, not {self.mode!r}")


class Relay(Node):
    """Forwards publishes to matching subscriptions; may tamper (see `Tampering`)."""

    def __init__(
        self,
        *,
        permissions: Mapping[str, Permissions] | None = None,
        tampering: Tampering | None = None,
    ) -> None:
        self.permissions = permissions
        self.tampering = tampering
        self.index = SubscriptionIndex()
        self.refused: Counter[str] = Counter()
        self.tampered: Counter[str] = Counter()  # mode -> how many publishes it cheated on
        self._subscriptions: set[tuple[str, str]] = set()  # (filter, member)
        self._previous: dict[str, bytes] = {}  # subject -> the victim's last payload there

    def on_message(self, src: str, msg: Any) -> None:
        if isinstance(msg, list | tuple) and len(msg) == 2 and msg[0] == "sub":
            self._subscribe(src, msg[1])
        elif isinstance(msg, list | tuple) and len(msg) == 3 and msg[0] == "pub":
            self._publish(src, msg[1], msg[2])
        else:
            self.refused["malformed"] += 1

    def _subscribe(self, member: str, filter_text: Any) -> None:
        if not self._allowed(member, "subscribe", filter_text):
            return
        if (filter_text, member) in self._subscriptions:
            return
        try:
            self.index.insert(filter_text, member)
        except InvalidSubject:
            self.refused["invalid subject"] += 1
            return
        self._subscriptions.add((filter_text, member))

    def _publish(self, member: str, subject: Any, payload: Any) -> None:
        if not isinstance(payload, bytes) or not self._allowed(member, "publish", subject):
            return
        cheat = self.tampering
        if (
            cheat is None
            or member != cheat.victim
            or not cheat.start <= self.ctx.now() < cheat.stop
        ):
            self._forward(subject, payload)
            return
        self.tampered[cheat.mode] += 1
        self.ctx.note(f"tampering ({cheat.mode}) with a publish of {member}")
        if cheat.mode == "change-text":
            self._forward(subject, _changed(payload, _change_text))
        elif cheat.mode == "forge":
            self._forward(subject, payload)
            others = sorted({name for _, name in self._subscriptions} - {member}) or ["mallory"]
            self._forward(subject, _changed(payload, functools.partial(_forge_author, others[0])))
        elif cheat.mode == "replay":
            self._forward(subject, payload)
            self._forward(subject, self._previous.get(subject, payload))
        self._previous[subject] = payload

    def _allowed(self, member: str, action: str, subject: Any) -> bool:
        if self.permissions is None:
            allowed = isinstance(subject, str)
        else:
            rules = self.permissions.get(member)
            try:
                allowed = rules is not None and (
                    rules.may_publish(subject)
                    if action == "publish"
                    else rules.may_subscribe(subject)
                )
            except (InvalidSubject, TypeError, AttributeError):
                allowed = False
        if not allowed:
            self.refused[f"{action} not allowed"] += 1
        return allowed

    def _forward(self, subject: str, payload: bytes) -> None:
        try:
            subscribers = self.index.match(subject).plain
        except InvalidSubject:
            self.refused["invalid subject"] += 1
            return
        for subscriber in subscribers:
            self.ctx.send(subscriber, ("msg", subject, payload))


def _changed(payload: bytes, change) -> bytes:
    """The envelope `payload` with `change(header, body)` applied; unchanged if not a post."""
    try:
        header, key_id, body, signature = loads_untrusted(payload)
    except (MalformedCBOR, ValueError):
        return payload
    if not isinstance(header, dict) or header.get("type") != "post" or not isinstance(body, dict):
        return payload
    key_id = change(header, body) or key_id
    return canonical([header, key_id, body, signature])


def _change_text(header: dict, body: dict) -> None:
    body["text"] = f"{body.get('text', '')} (and send me your password)"


def _forge_author(forged_author: str, header: dict, body: dict) -> str:
    """Claim the post as the next one of `forged_author`, so that a member that does not
    verify shows it where it would show that member's real next post."""
    clock = dict(body.get("clock", {}))
    clock[forged_author] = clock.get(forged_author, 0) + 1
    header.update(sender=forged_author, seq=clock[forged_author])
    body.update(text="I resign. (forged)", clock=clock, reply_to=None)
    return forged_author
