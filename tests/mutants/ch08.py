"""Answers to exercises/08-capstone.ipynb: wrong ones the graders must reject (MUTANTS), and right
ones written another way that they must accept (ALTERNATIVES)."""

import math
import time
from typing import ClassVar

from exercises.graders.ch08 import (
    EDIT_PREFIX,
    ReferenceBucket,
    ReferenceEditingMember,
    reference_resolve_edits,
)
from reference.capstone.member import ChatMember, Shown, UnknownMessage
from reference.order.clocks import Order, VectorClock

# --- Task 1: resolve_edits --------------------------------------------------------------------


def _is_edit(item):
    return item.reply_to is not None and item.text.startswith(EDIT_PREFIX)


def _resolve_by(shown, better):
    """Texts where edit `a` replaces the current winner `b` when `better(a, b, shown)`."""
    texts = {item.id: item.text for item in shown if not _is_edit(item)}
    winners = {}
    for item in shown:
        if _is_edit(item) and item.reply_to in texts:
            best = winners.get(item.reply_to)
            if best is None or better(item, best, shown):
                winners[item.reply_to] = item
    for target, edit in winners.items():
        texts[target] = edit.text[len(EDIT_PREFIX) :]
    return texts


def last_shown_wins(shown):
    """Arrival order: two members that showed concurrent edits in two orders disagree."""
    return _resolve_by(shown, lambda a, b, _: True)


def largest_author_wins(shown):
    """The tie-break alone: bob's edit beats alice's even when she saw his and edited after."""
    return _resolve_by(shown, lambda a, b, _: a.author > b.author)


def largest_seq_wins(shown):
    """The author's own number: bob's 6th message beats alice's 2nd, which followed it."""
    return _resolve_by(shown, lambda a, b, _: a.id[1] > b.id[1])


def author_before_sum(shown):
    """(author, sum) instead of (sum, author): names first, causality second."""
    return _resolve_by(shown, lambda a, b, _: (a.author, sum(a.clock.values())) > (
        b.author, sum(b.clock.values())))  # fmt: skip


def sum_ties_by_arrival(shown):
    """The sum of the clock, but a tie goes to the edit shown last."""
    return _resolve_by(shown, lambda a, b, _: sum(a.clock.values()) >= sum(b.clock.values()))


def smallest_rank_wins(shown):
    """min for max: the earliest edit wins, so a correction is undone."""
    rank = lambda item: (sum(item.clock.values()), item.author)  # noqa: E731
    return _resolve_by(shown, lambda a, b, _: rank(a) < rank(b))


def latest_first_shown(shown):
    """Causality right, but concurrent edits broken by the order they were shown (first)."""

    def better(a, b, _):
        order = VectorClock(a.clock).compare(VectorClock(b.clock))
        return order is Order.AFTER

    return _resolve_by(shown, better)


def latest_then_largest_author(shown):
    """Causality right, but concurrent edits broken by the author alone, not the sum first."""

    def better(a, b, _):
        order = VectorClock(a.clock).compare(VectorClock(b.clock))
        return order is Order.AFTER or (order is Order.CONCURRENT and a.author > b.author)

    return _resolve_by(shown, better)


def edits_kept_as_messages(shown):
    """Returns the edits too, each with its own text."""
    return {**{item.id: item.text for item in shown}, **reference_resolve_edits(shown)}


def prefix_kept(shown):
    """The new text still starts with EDIT_PREFIX."""
    texts = reference_resolve_edits(shown)
    edited = {item.reply_to for item in shown if _is_edit(item)}
    return {mid: EDIT_PREFIX + text if mid in edited else text for mid, text in texts.items()}


def edit_of_edit_applied_to_root(shown):
    """Follows an edit of an edit to the message it edits, instead of ignoring it."""
    by_id = {item.id: item for item in shown}

    def root(item):
        target = by_id.get(item.reply_to)
        return item.reply_to if target is None or not _is_edit(target) else root(target)

    moved = [Shown(i.id, i.author, i.text, root(i), i.clock) if _is_edit(i) else i for i in shown]
    return reference_resolve_edits(moved)


def unknown_target_added(shown):
    """An edit of a message not in the list creates an entry for it."""
    texts = reference_resolve_edits(shown)
    for item in shown:
        if _is_edit(item) and item.reply_to not in {other.id for other in shown}:
            texts[item.reply_to] = item.text[len(EDIT_PREFIX) :]
    return texts


def resolved_on_a_linear_extension(shown):
    """Right: sort by (sum, author), a total order that extends happens-before, and replay the
    edits in it, the last one winning."""
    plain = {item.id for item in shown if not _is_edit(item)}
    texts = {}
    for item in sorted(shown, key=lambda item: (sum(item.clock.values()), item.author)):
        if item.id in plain:
            texts.setdefault(item.id, item.text)
        elif _is_edit(item) and item.reply_to in plain:
            texts[item.reply_to] = item.text.removeprefix(EDIT_PREFIX)
    return {item.id: texts.get(item.id, item.text) for item in shown if item.id in plain}


def largest_rank_per_message(shown):
    """Right: of all the edits of a message, the largest (sum, author), without any compare:
    that order extends happens-before (an edit that follows another counts more)."""
    plain = {item.id: item.text for item in shown if not _is_edit(item)}
    rank = lambda item: (sum(item.clock.values()), item.author)  # noqa: E731
    edits = sorted((i for i in shown if _is_edit(i) and i.reply_to in plain), key=rank)
    return plain | {edit.reply_to: edit.text[len(EDIT_PREFIX) :] for edit in edits}


# --- Task 2: EditingMember --------------------------------------------------------------------


Editing = ReferenceEditingMember  # the right member, for the mutants to change one part of


class TargetInTheText(Editing):
    """Names the target in the text instead of replying to it: nothing orders it after it."""

    def edit(self, message_id, text):
        if tuple(message_id) not in {item.id for item in self.shown}:
            raise UnknownMessage(message_id)
        return self.post(f"{EDIT_PREFIX}{message_id[0]}#{message_id[1]} {text}")


class EditsInPlace(Editing):
    """Changes the text on its own screen and tells nobody."""

    def edit(self, message_id, text):
        for index, item in enumerate(self.shown):
            if item.id == tuple(message_id):
                self.shown[index] = Shown(item.id, item.author, text, item.reply_to, item.clock)
                return item.id
        raise UnknownMessage(message_id)


class EditWithoutPrefix(Editing):
    """Posts the new text as a reply: a reply, not an edit."""

    def edit(self, message_id, text):
        return self.post(text, reply_to=message_id)


class UnknownTargetPostsAnyway(Editing):
    """An unknown target becomes a plain message with the prefix, instead of a refusal."""

    def edit(self, message_id, text):
        known = tuple(message_id) in {item.id for item in self.shown}
        return self.post(EDIT_PREFIX + text, reply_to=tuple(message_id) if known else None)


class TextsInArrivalOrder(Editing):
    """texts by the last edit shown: members that showed concurrent edits in two orders
    disagree for ever."""

    @property
    def texts(self):
        return last_shown_wins(self.shown)


class EditReturnsNothing(Editing):
    """Posts the edit and forgets to return its id."""

    def edit(self, message_id, text):
        self.post(EDIT_PREFIX + text, reply_to=message_id)


class EditingWithListsAndItsOwnResolve(ChatMember):
    """Right: checks the target itself, passes it as a list, resolves on a linear extension."""

    def edit(self, message_id, text):
        author, seq = message_id
        if not any(item.id == (author, seq) for item in self.shown):
            raise UnknownMessage(f"{author}#{seq} is not shown here")
        return self.post(f"{EDIT_PREFIX}{text}", reply_to=[author, seq])

    @property
    def texts(self):
        return resolved_on_a_linear_extension(list(self.shown))


# --- Task 3: TokenBucket ----------------------------------------------------------------------


class NoCap(ReferenceBucket):
    """Refills without the cap: after a long idle it allows a flood."""

    def allow(self, now):
        if self.updated is not None:
            self.tokens += (now - self.updated) * self.rate
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class StartsEmpty(ReferenceBucket):
    """No burst at the start: the first call is refused."""

    def __init__(self, rate, burst):
        super().__init__(rate, burst)
        self.tokens = 0.0


class StrictAtTheBoundary(ReferenceBucket):
    """`> 1` for `>= 1`: exactly one token is not enough."""

    def allow(self, now):
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens > 1:
            self.tokens -= 1
            return True
        return False


class AllowsAFraction(ReferenceBucket):
    """`> 0` for `>= 1`: half a token is enough, and the bucket goes below zero."""

    def allow(self, now):
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens > 0:
            self.tokens -= 1
            return True
        return False


class SharedBucket:
    """The tokens on the class: every member's bucket is one bucket."""

    tokens: ClassVar[float | None] = None
    updated: ClassVar[float | None] = None

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        if SharedBucket.tokens is None:
            SharedBucket.tokens = float(burst)

    def allow(self, now):
        cls = SharedBucket
        if cls.updated is not None:
            cls.tokens = min(self.burst, cls.tokens + (now - cls.updated) * self.rate)
        cls.updated = now
        if cls.tokens >= 1:
            cls.tokens -= 1
            return True
        return False


class WallClock(ReferenceBucket):
    """Reads time.monotonic() instead of `now`: virtual time never refills it."""

    def allow(self, now):
        return super().allow(time.monotonic())


class RefillOnlyWhenAllowed(ReferenceBucket):
    """Moves the time of the last refill only on success: a refusal's refill counts twice."""

    def allow(self, now):
        tokens = self.tokens
        if self.updated is not None:
            tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        if tokens >= 1:
            self.tokens, self.updated = tokens - 1, now
            return True
        if self.updated is None:
            self.updated = now
        self.tokens = tokens
        return False


class WholeSecondsOnly(ReferenceBucket):
    """Refills per whole second elapsed: at rate 4, nothing comes back after 0.25 s."""

    def allow(self, now):
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + int(now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class WholeTokensAndRefillTime:
    """Right: whole tokens, and the time of the last refill, moved by the tokens it added."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens, self.refilled = burst, None

    def allow(self, now):
        if self.refilled is None:
            self.refilled = now
        added = math.floor((now - self.refilled) * self.rate)
        if self.tokens + added >= self.burst:
            self.tokens, self.refilled = self.burst, now
        elif added:
            self.tokens += added
            self.refilled += added / self.rate
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class TheoreticalArrivalTime:
    """Right (GCRA, as in ATM and many API gateways): one number, the time the bucket would be
    full again; a call is allowed if that is at most (burst - 1) / rate ahead of now."""

    def __init__(self, rate, burst):
        self.interval, self.slack = 1 / rate, (burst - 1) / rate
        self.full_at = None

    def allow(self, now):
        full_at = now if self.full_at is None else max(self.full_at, now)
        if full_at - now > self.slack:
            return False
        self.full_at = full_at + self.interval
        return True


MUTANTS = {
    "check_resolve_edits": [
        last_shown_wins,
        largest_author_wins,
        largest_seq_wins,
        author_before_sum,
        sum_ties_by_arrival,
        smallest_rank_wins,
        latest_first_shown,
        latest_then_largest_author,
        edits_kept_as_messages,
        prefix_kept,
        edit_of_edit_applied_to_root,
        unknown_target_added,
    ],
    "check_editing_member": [
        TargetInTheText,
        EditsInPlace,
        EditWithoutPrefix,
        UnknownTargetPostsAnyway,
        TextsInArrivalOrder,
        EditReturnsNothing,
    ],
    "check_token_bucket": [
        NoCap,
        StartsEmpty,
        StrictAtTheBoundary,
        AllowsAFraction,
        SharedBucket,
        WallClock,
        RefillOnlyWhenAllowed,
        WholeSecondsOnly,
    ],
}

ALTERNATIVES = {
    "check_resolve_edits": [resolved_on_a_linear_extension, largest_rank_per_message],
    "check_editing_member": [EditingWithListsAndItsOwnResolve],
    "check_token_bucket": [WholeTokensAndRefillTime, TheoreticalArrivalTime],
}
