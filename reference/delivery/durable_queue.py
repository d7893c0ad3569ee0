"""A durable message queue on SQLite: acknowledgements, leases, dead letters.

Theory of operation
-------------------
A queue that lives in a file lets a producer and a consumer work at
different times, and lets a consumer crash without losing work. The rule
that makes this safe is *acknowledge after processing*: `get` does not
remove a message, it lends it out, and only `ack` deletes it. A consumer
that dies before acking simply never returns the loan, and the message is
delivered again. That is *at-least-once* delivery: nothing is lost, but a
consumer killed between doing the work and acking it makes the work happen
twice, so handlers should be idempotent (chapter 04's idempotency keys).

The life of a message, in one table::

    put ──> ready ──get──> in flight ──ack──> (deleted)
              ^               │  │
              └──nack─────────┘  └── lease expires ──> ready again
                 (after `delay`)      (after `visibility_timeout`)

    ... and once a message has been delivered `max_attempts` times, the next
    time it would be handed out it moves to the dead-letter table instead.

Each row has a `visible_at` time. `get` claims the message that has been
visible the longest, adds one to its `attempts`, and pushes `visible_at`
forward by the visibility timeout: that is its *lease*. Nothing has to run
when a lease expires; the message is simply visible again.

Receipts, not ids. Each delivery carries a fresh random *receipt* (as
Amazon SQS calls its receipt handle), and `ack` and `nack` take the whole
`Message`. Acking by id alone is a classic bug: consumer A is slow, its
lease expires, B receives the same message, and then A's late `ack(id)`
would delete the message while B still works on it (and if B then fails,
the message is lost). Here a receipt is valid until the message is
delivered again: A's late ack raises `LeaseLost` and leaves B's lease
alone. If A acks after its lease expired but before anyone else took the
message, the ack still succeeds: the work is done and nobody else holds it.
A receipt guards against mistakes, not attackers: whoever can open the
file can change anything in it.

Several processes may share one file. Claiming must be atomic, or two
consumers could read the same ready row and both take it. Every operation
that writes runs in a `BEGIN IMMEDIATE` transaction, which takes SQLite's
single write lock at the start; a plain (deferred) transaction would read first and fail
with "database is locked" when it tried to upgrade to a writer after
another process had written. Other processes wait up to `busy_timeout`.

Durability is SQLite's (`synchronous` says when a commit reaches the
disk); it, opening the file, and what SQLite can and cannot tell about a
damaged one are in reference/delivery/queue_file.py: an unusable path
raises `QueueFileUnavailable`, visible damage `QueueCorrupted`.

A consumer that needs longer than it thought calls `extend` before its lease
runs out (SQS calls it ChangeMessageVisibility): the message stays its own
for another `visibility_timeout` seconds from now.

Time is read through the `clock` argument (default `time.time`), so a test
passes a fake clock and checks a 30-second visibility timeout without
waiting. Leases are times written by one process and compared by another,
so every process sharing a file must read the same clock.

`run_worker` (reference/delivery/worker.py) wraps the queue for Trio. The
queue holds a lock, so one connection serves many threads, one call at a
time. A worker idle in the same process need not poll: `subscribe_puts`
calls it back whenever this queue object makes a message ready (a put by
another process is only seen by polling).
"""

from __future__ import annotations

import math
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from os import PathLike

from reference.delivery.queue_file import (  # its errors are the queue's, so they are here too
    SYNCHRONOUS_MODES,  # noqa: F401
    QueueCorrupted,  # noqa: F401
    QueueError,
    QueueFileUnavailable,  # noqa: F401
    open_queue_file,
)

DEFAULT_MAX_BODY_SIZE = 256 * 1024  # the limit Amazon SQS uses
DEFAULT_MAX_ATTEMPTS = 5


class BodyTooLarge(QueueError):
    """A message body is larger than the queue accepts."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message body of {size} bytes exceeds the maximum of {limit} bytes")
        self.size = size
        self.limit = limit


class LeaseLost(QueueError):
    """This delivery no longer holds the message: it was delivered again, or settled."""

    def __init__(self, message: Message) -> None:
        super().__init__(
            f"message {message.id} (attempt {message.attempts}) is no longer held by this "
            "receipt: it was acknowledged, dead-lettered, or delivered again after its "
            "visibility timeout"
        )
        self.message = message


@dataclass(frozen=True)
class Message:
    """One delivery of a message. `receipt` proves that this delivery holds it."""

    id: int
    body: bytes
    attempts: int
    receipt: str


@dataclass(frozen=True)
class DeadLetter:
    id: int
    body: bytes
    attempts: int
    died_at: float


@dataclass(frozen=True)
class QueueStatistics:
    ready: int  # visible now: will be handed out by the next get
    in_flight: int  # leased to a consumer that has not acked yet
    delayed: int  # nacked with a delay that has not passed yet
    dead: int  # in the dead-letter table


class DurableQueue:
    """A queue of byte messages kept in one SQLite file, shared by any number of processes."""

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
        check: str = "quick",
    ) -> None:
        """Open (or create) the queue at `path`; `check` is "quick", "full" or "none"
        (see reference/delivery/queue_file.py)."""
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        self.max_attempts = max_attempts
        self.max_body_size = max_body_size
        self._clock = clock
        self._lock = threading.Lock()
        self._put_listeners: list[Callable[[], None]] = []
        self._db = open_queue_file(
            path, synchronous=synchronous, busy_timeout=busy_timeout, check=check
        )

    @contextmanager
    def _transaction(self, kind: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """IMMEDIATE takes the write lock now, not at the first write; DEFERRED only reads."""
        with self._lock:
            self._db.execute(f"BEGIN {kind}")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _checked_body(self, body: bytes) -> bytes:
        if not isinstance(body, bytes | bytearray | memoryview):
            raise TypeError(f"a message body is bytes, not {type(body).__name__}")
        body = bytes(body)
        if len(body) > self.max_body_size:
            raise BodyTooLarge(len(body), self.max_body_size)
        return body

    def put(self, body: bytes) -> int:
        """Store a message durably; return its id. It is ready at once."""
        return self.put_many([body])[0]

    def put_many(self, bodies: Iterable[bytes]) -> list[int]:
        """Store several messages in one transaction (one fsync); return their ids."""
        checked = [self._checked_body(body) for body in bodies]
        now = self._clock()
        with self._transaction() as db:
            ids = [
                db.execute(
                    "INSERT INTO messages (body, visible_at) VALUES (?, ?)", (body, now)
                ).lastrowid
                for body in checked
            ]
        self._made_ready()
        return ids

    def subscribe_puts(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` (in the caller's thread) each time this object makes a message
        ready (put, nack with no delay, requeue); return a function that unsubscribes it."""
        self._put_listeners.append(listener)
        return lambda: self._put_listeners.remove(listener)

    def _made_ready(self) -> None:
        for listener in list(self._put_listeners):
            listener()

    def get(self, visibility_timeout: float) -> Message | None:
        """Lease the message that has been visible the longest, or return None if none is."""
        messages = self.get_many(1, visibility_timeout)
        return messages[0] if messages else None

    def get_many(self, max_messages: int, visibility_timeout: float) -> list[Message]:
        """Lease up to `max_messages` visible messages in one transaction, oldest first.

        Each stays invisible to other consumers for `visibility_timeout`
        seconds unless acked or nacked first. A message already delivered
        `max_attempts` times moves to the dead-letter table instead.
        """
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, not {max_messages}")
        _check_timeout(visibility_timeout)
        now = self._clock()
        receipt = secrets.token_hex(16)
        claimed: list[Message] = []
        with self._transaction() as db:
            while len(claimed) < max_messages:
                rows = db.execute(
                    "SELECT id, body, attempts FROM messages WHERE visible_at <= ?"
                    " ORDER BY visible_at, id LIMIT ?",
                    (now, max_messages - len(claimed)),
                ).fetchall()
                buried = 0
                for message_id, body, attempts in rows:
                    if attempts >= self.max_attempts:
                        self._bury(db, message_id, now)
                        buried += 1
                        continue
                    db.execute(
                        "UPDATE messages SET attempts = ?, visible_at = ?, receipt = ?"
                        " WHERE id = ?",
                        (attempts + 1, now + visibility_timeout, receipt, message_id),
                    )
                    claimed.append(Message(message_id, body, attempts + 1, receipt))
                if not buried:  # every visible message we could take is taken
                    break
        return claimed

    def ack(self, message: Message) -> None:
        """Delete a message this delivery holds. Raise `LeaseLost` if it no longer holds it."""
        if self.ack_many([message]):
            raise LeaseLost(message)

    def ack_many(self, messages: Iterable[Message]) -> list[Message]:
        """Ack several deliveries in one transaction; return those whose lease was lost."""
        lost = []
        with self._transaction() as db:
            for message in messages:
                deleted = db.execute(
                    "DELETE FROM messages WHERE id = ? AND receipt = ?",
                    (message.id, message.receipt),
                )
                if deleted.rowcount == 0:
                    lost.append(message)
        return lost

    def nack(self, message: Message, delay: float = 0.0) -> None:
        """Give a message back: visible again after `delay` seconds (dead if out of attempts).

        Raise `LeaseLost`, changing nothing, if this delivery no longer holds it.
        """
        if not delay >= 0 or math.isinf(delay):
            raise ValueError("delay must be a non-negative number of seconds")
        now = self._clock()
        with self._transaction() as db:
            row = db.execute(
                "SELECT attempts FROM messages WHERE id = ? AND receipt = ?",
                (message.id, message.receipt),
            ).fetchone()
            if row is None:
                raise LeaseLost(message)
            buried = row[0] >= self.max_attempts
            if buried:
                self._bury(db, message.id, now)
            else:
                db.execute(
                    "UPDATE messages SET visible_at = ?, receipt = NULL WHERE id = ?",
                    (now + delay, message.id),
                )
        if not buried and delay == 0:
            self._made_ready()

    def extend(self, message: Message, visibility_timeout: float) -> None:
        """Keep holding a message, invisible for `visibility_timeout` seconds from now (SQS's
        ChangeMessageVisibility). Raise `LeaseLost`, changing nothing, if it is not held."""
        _check_timeout(visibility_timeout)
        now = self._clock()
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE messages SET visible_at = ? WHERE id = ? AND receipt = ?",
                (now + visibility_timeout, message.id, message.receipt),
            )
        if updated.rowcount == 0:
            raise LeaseLost(message)

    def _bury(self, db: sqlite3.Connection, message_id: int, now: float) -> None:
        db.execute(
            "INSERT INTO dead_letters (id, body, attempts, died_at)"
            " SELECT id, body, attempts, ? FROM messages WHERE id = ?",
            (now, message_id),
        )
        db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def dead_letters(self) -> list[DeadLetter]:
        """The messages that ran out of attempts, oldest id first."""
        with self._transaction("DEFERRED") as db:
            rows = db.execute(
                "SELECT id, body, attempts, died_at FROM dead_letters ORDER BY id"
            ).fetchall()
        return [DeadLetter(*row) for row in rows]

    def requeue_dead_letters(self, ids: Iterable[int] | None = None) -> int:
        """Move dead letters (all, or those with these ids) back to the queue with a fresh
        count of attempts, keeping their ids. Return how many moved."""
        now = self._clock()
        with self._transaction() as db:
            if ids is None:
                ids = [row[0] for row in db.execute("SELECT id FROM dead_letters")]
            moved = 0
            for message_id in ids:
                inserted = db.execute(
                    "INSERT INTO messages (id, body, attempts, visible_at)"
                    " SELECT id, body, 0, ? FROM dead_letters WHERE id = ?",
                    (now, message_id),
                )
                db.execute("DELETE FROM dead_letters WHERE id = ?", (message_id,))
                moved += inserted.rowcount
        if moved:
            self._made_ready()
        return moved

    def statistics(self) -> QueueStatistics:
        """How many messages are in each state, now."""
        now = self._clock()
        with self._transaction("DEFERRED") as db:
            ready, in_flight, delayed = db.execute(
                "SELECT COALESCE(SUM(visible_at <= :now), 0),"
                " COALESCE(SUM(visible_at > :now AND receipt IS NOT NULL), 0),"
                " COALESCE(SUM(visible_at > :now AND receipt IS NULL), 0) FROM messages",
                {"now": now},
            ).fetchone()
            (dead,) = db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()
        return QueueStatistics(ready, in_flight, delayed, dead)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> DurableQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _check_timeout(visibility_timeout: float) -> None:
    if not visibility_timeout > 0 or math.isinf(visibility_timeout):
        raise ValueError("visibility_timeout must be a positive number of seconds")
