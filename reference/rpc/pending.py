"""The pending-call table: matching replies to calls by correlation id.

Theory of operation
-------------------
A connection that carries one call at a time needs no bookkeeping: the
next reply belongs to the only call. Once many calls share a connection
("pipelining"), replies may come back in any order, so every request
carries an *id* and every reply repeats it. The client keeps a table from
id to whatever is waiting for that reply — its *waiter* — and the table
is all the state a multiplexed RPC client has.

`PendingCalls` is that table, and it does no I/O (it is sans-I/O, like
`FrameDecoder`): it never waits, never sends, never reads the clock. The
Trio client in `reference/rpc/client.py` drives it, and the blocking client and
the exercise drive it the same way:

    call_id = calls.add(waiter)       # before sending the request
    waiter = calls.pop(call_id)       # when a reply carrying call_id arrives
    calls.discard(call_id)            # when the caller gives up (deadline)
    waiters = calls.pop_all()         # when the connection is lost

Ids are issued in increasing order and never reused, which lets `pop` tell
three kinds of reply apart:

- the id is in the table: a normal reply; its waiter is returned and the
  entry removed, so a second reply for it cannot be delivered twice;
- the id was issued but is no longer in the table: a *late* reply to a call
  whose caller gave up (or a duplicate). It is dropped, `pop` returns None,
  and `late_replies` counts it. Had ids been reused, a late reply could be
  handed to a newer call that happened to get the same id: a wrong answer
  delivered silently, the worst kind of bug;
- the id was never issued: the peer is broken or hostile, and `pop`
  raises `UnknownCallId`.

The table itself is bounded by the caller: the Trio client holds a slot of
its in-flight cap for every entry, so it never holds more than the cap.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from reference.rpc.wire import describe

Waiter = TypeVar("Waiter")


class UnknownCallId(Exception):
    """A reply carried an id that this side never issued."""

    def __init__(self, call_id: object) -> None:
        super().__init__(f"reply for call id {describe(call_id)}, which was never issued")
        self.call_id = call_id


class PendingCalls(Generic[Waiter]):
    """Calls sent and not yet answered, by id; a waiter for each.

    >>> calls = PendingCalls()
    >>> calls.add("first"), calls.add("second")
    (0, 1)
    >>> calls.pop(1)
    'second'
    >>> calls.pop(1) is None  # already answered: a duplicate or late reply
    True
    >>> calls.late_replies, len(calls)
    (1, 1)
    """

    def __init__(self) -> None:
        self._waiters: dict[int, Waiter] = {}
        self._next_id = 0
        self.late_replies = 0

    def __len__(self) -> int:
        return len(self._waiters)

    def add(self, waiter: Waiter) -> int:
        """Record a new call; return its id (fresh, never used before)."""
        call_id = self._next_id
        self._next_id += 1
        self._waiters[call_id] = waiter
        return call_id

    def pop(self, call_id: int) -> Waiter | None:
        """Take the waiter for a reply; None for a late or duplicate reply."""
        if isinstance(call_id, bool) or not isinstance(call_id, int):
            raise UnknownCallId(call_id)
        if call_id in self._waiters:
            return self._waiters.pop(call_id)
        if not 0 <= call_id < self._next_id:
            raise UnknownCallId(call_id)
        self.late_replies += 1
        return None

    def discard(self, call_id: int) -> None:
        """Forget a call whose caller gave up; its reply will count as late."""
        self._waiters.pop(call_id, None)

    def pop_all(self) -> list[Waiter]:
        """Empty the table (the connection is gone); return every waiter."""
        waiters = list(self._waiters.values())
        self._waiters.clear()
        return waiters
