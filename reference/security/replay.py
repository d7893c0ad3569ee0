"""Refusing replays: a sliding window over sequence numbers, and timestamps with a tolerated skew.

Theory of operation
-------------------
A MAC proves that a message is authentic, not that it is new: an attacker
who records an envelope can send it again, and it checks every time. So
the receiver remembers what it has accepted, in bounded memory.

*Sequence numbers* (`SequenceWindow`). Each message carries its sender's
counter (the AEAD sealer's sequence is one). On an ordered link, "higher
than the last one" would do; on a network that reorders, a message may
legitimately arrive after a later one. IPsec (RFC 4303 §3.4.3) and DTLS
(RFC 6347 §4.1.2.6) keep the highest number seen and a bitmap of the
`size` numbers at and below it, bit i standing for ``highest - i``:

- above the highest: NEW; the window slides up (the bitmap shifts) and
  the number becomes the new highest;
- ``size`` or more below the highest: TOO_OLD, refused even if never
  seen, since the window no longer remembers it;
- inside the window: NEW if its bit is clear, DUPLICATE if set.

`check` only looks; `accept` records. A receiver checks before it
verifies the MAC (cheap refusals first) and records only after the MAC
verified, so that a forged envelope cannot slide the window and make the
real ones look too old.

*Timestamps* (`TimestampWindow`). Without a counter per sender, a message
carries the time it was sent and an id, and the receiver accepts it if
``|now - timestamp| <= skew``: the clocks of sender and receiver differ by
up to the skew, plus the time in flight. Inside that window a replay
would still pass, so the receiver remembers the ids it accepted, and
forgets each once its timestamp falls out of the window: it would be
refused as TOO_OLD anyway. Memory: the ids accepted within one skew.

Both are sans-I/O: the caller passes `now` in (its own clock, seconds),
and nothing here reads a clock. `now` should not go backwards; if it does,
the window keeps the latest `now` it saw, so a forgotten id stays refused.
"""

from __future__ import annotations

import enum
import heapq


class Verdict(enum.Enum):
    """What a replay window says about a message."""

    NEW = "new"
    DUPLICATE = "duplicate"
    TOO_OLD = "too old"
    TOO_NEW = "too far in the future"

    def __repr__(self) -> str:
        return f"Verdict.{self.name}"


class SequenceWindow:
    """The highest sequence number accepted, and a bitmap of the `size` at and below it."""

    def __init__(self, size: int = 64) -> None:
        if size < 1:
            raise ValueError(f"the window holds at least one number, got size={size}")
        self.size = size
        self.highest: int | None = None  # nothing accepted yet
        self.bitmap = 0  # bit i set: highest - i was accepted

    def check(self, sequence: int) -> Verdict:
        """Would `sequence` be accepted? Changes nothing."""
        if self.highest is None or sequence > self.highest:
            return Verdict.NEW
        behind = self.highest - sequence
        if behind >= self.size:
            return Verdict.TOO_OLD
        return Verdict.DUPLICATE if self.bitmap >> behind & 1 else Verdict.NEW

    def accept(self, sequence: int) -> Verdict:
        """Check `sequence` and, if it is NEW, record it; return the verdict."""
        verdict = self.check(sequence)
        if verdict is Verdict.NEW:
            if self.highest is None or sequence > self.highest:
                # A jump of 2**63 must not build a 2**63-bit integer: past `size`, all is gone.
                shift = (
                    self.size if self.highest is None else min(sequence - self.highest, self.size)
                )
                self.bitmap = (self.bitmap << shift | 1) & ((1 << self.size) - 1)
                self.highest = sequence
            else:
                self.bitmap |= 1 << (self.highest - sequence)
        return verdict


class TimestampWindow:
    """Accepts a message whose timestamp is within `skew` of now, once per id."""

    def __init__(self, skew: float) -> None:
        if skew < 0:
            raise ValueError(f"the skew is a tolerance, never negative, got {skew}")
        self.skew = skew
        self.latest_now = float("-inf")
        self._seen: set[object] = set()
        self._expiry: list[tuple[float, int, object]] = []  # (timestamp, order, id), a heap
        self._accepted = 0

    def check(self, message_id: object, timestamp: float, now: float) -> Verdict:
        """Would this message be accepted at `now`? Forgets expired ids, records nothing."""
        self.latest_now = max(self.latest_now, now)
        horizon = self.latest_now - self.skew
        while self._expiry and self._expiry[0][0] < horizon:
            _, _, expired_id = heapq.heappop(self._expiry)
            self._seen.discard(expired_id)
        if timestamp < horizon:
            return Verdict.TOO_OLD
        if timestamp > now + self.skew:
            return Verdict.TOO_NEW
        return Verdict.DUPLICATE if message_id in self._seen else Verdict.NEW

    def accept(self, message_id: object, timestamp: float, now: float) -> Verdict:
        """Check the message and, if it is NEW, remember its id until it expires."""
        verdict = self.check(message_id, timestamp, now)
        if verdict is Verdict.NEW:
            self._seen.add(message_id)
            heapq.heappush(self._expiry, (timestamp, self._accepted, message_id))
            self._accepted += 1
        return verdict

    def remembered(self) -> int:
        """How many ids the window holds now."""
        return len(self._seen)
