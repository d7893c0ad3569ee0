"""The chat's checker: what every member showed, against what the authors really posted.

Theory of operation
-------------------
A run of the chat (reference/capstone/campaign.py) leaves two records:
what each author posted (`Posted`: the id, the text, what it answered,
and the ids the author had shown at that moment), taken by the campaign
outside the chat, where no broker can touch it; and what each member
showed, in order (`member.shown`). `check_chat` compares them once the
network has healed and the run has gone quiet, and lists every broken
rule as a `Violation` in words:

- ``LOST``: a posted message that some member never showed;
- ``SHOWN_TWICE``: a message a member showed more than once;
- ``FORGED``: a message shown that nobody posted;
- ``TAMPERED``: a message shown under a posted id, but with another
  author, text or reply than its author posted;
- ``OUT_OF_ORDER``: a message shown before something in its causal past:
  a message its author had shown before posting it (which includes the
  author's own earlier posts and the message it answers), or one its signed
  vector clock counts;
- ``DIVERGED``: two members that showed different sets of messages.

The causal past is taken from both sides on purpose. The clock is what the
member logic uses, so a bug in how clocks are made would hide from a check
that trusts them; what the author had shown is what a person reading the
author's screen knew, independent of any clock. A message the checker
finds forged or tampered is not checked for order (it has no true past).

A `Verdict` is one run's result: `ok` when nothing broke, and the
violations to print when something did, with the run's seed so it can be
replayed.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from reference.capstone.chat_message import MessageId
from reference.capstone.member import Shown

LOST, SHOWN_TWICE, FORGED, TAMPERED = "lost", "shown twice", "forged", "tampered"
OUT_OF_ORDER, DIVERGED = "out of causal order", "diverged"
RULES = (LOST, SHOWN_TWICE, FORGED, TAMPERED, OUT_OF_ORDER, DIVERGED)


@dataclass(frozen=True, slots=True)
class Posted:
    """What an author really posted, and the ids it had shown when it did."""

    id: MessageId
    text: str
    reply_to: MessageId | None
    seen_before: frozenset[MessageId]

    @property
    def author(self) -> str:
        return self.id[0]


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule, at one member (or between two), in words."""

    rule: str
    member: str
    message_id: MessageId | None
    explanation: str

    def __str__(self) -> str:
        return f"{self.rule} at {self.member}: {self.explanation}"


@dataclass(frozen=True)
class Verdict:
    """The checker's answer for one run (`seed`): every violation it found."""

    seed: int | None
    violations: tuple[Violation, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.violations

    def rules_broken(self) -> set[str]:
        return {violation.rule for violation in self.violations}

    def __str__(self) -> str:
        if self.ok:
            return f"seed {self.seed}: ok"
        lines = [f"seed {self.seed}: {len(self.violations)} violation(s)"]
        return "\n  ".join(lines + [str(violation) for violation in self.violations])


def check_chat(
    posted: Iterable[Posted], shown: Mapping[str, Sequence[Shown]], *, seed: int | None = None
) -> Verdict:
    """Check what each member showed (member name -> shown, in order) against `posted`."""
    truth = {post.id: post for post in posted}
    violations: list[Violation] = []
    for member, history in shown.items():
        violations += _member_violations(member, history, truth)
    violations += _divergence(shown)
    return Verdict(seed, tuple(violations))


def _member_violations(
    member: str, history: Sequence[Shown], truth: Mapping[MessageId, Posted]
) -> list[Violation]:
    found: list[Violation] = []
    counts = Counter(item.id for item in history)
    for message_id, count in sorted(counts.items()):
        if count > 1:
            found.append(Violation(SHOWN_TWICE, member, message_id, f"{message_id} {count} times"))
    for message_id in sorted(truth.keys() - counts.keys()):
        text = truth[message_id].text
        found.append(Violation(LOST, member, message_id, f"{message_id} {text!r} never shown"))
    first_position: dict[MessageId, int] = {}
    for position, item in enumerate(history):
        first_position.setdefault(item.id, position)
    for position, item in enumerate(history):
        post = truth.get(item.id)
        if post is None:
            found.append(Violation(FORGED, member, item.id, f"{item.id} {item.text!r} shown"))
        elif (item.author, item.text, item.reply_to) != (post.author, post.text, post.reply_to):
            explanation = f"{item.id} shown as {item.text!r}, posted as {post.text!r}"
            found.append(Violation(TAMPERED, member, item.id, explanation))
        elif first_position[item.id] == position:
            found += _order_violations(member, item, post, first_position, truth)
    return found


def _order_violations(
    member: str,
    item: Shown,
    post: Posted,
    first_position: Mapping[MessageId, int],
    truth: Collection[MessageId],
) -> list[Violation]:
    past = set(post.seen_before)
    past.update(
        (author, seq)
        for author, count in item.clock.items()
        for seq in range(1, count + 1)
        if (author, seq) != item.id
    )
    here = first_position[item.id]
    found = []
    for earlier in sorted(past & set(truth)):
        if first_position.get(earlier, here + 1) > here:
            what = "the message it answers" if earlier == post.reply_to else "its causal past"
            explanation = f"{item.id} shown before {earlier}, {what}"
            found.append(Violation(OUT_OF_ORDER, member, item.id, explanation))
    return found


def _divergence(shown: Mapping[str, Sequence[Shown]]) -> list[Violation]:
    members = sorted(shown)
    found = []
    for first, second in itertools.pairwise(members):
        mine = {item.id for item in shown[first]}
        theirs = {item.id for item in shown[second]}
        if mine != theirs:
            only = sorted(mine ^ theirs)
            explanation = f"{first} and {second} differ on {only}"
            found.append(Violation(DIVERGED, first, None, explanation))
    return found
