"""The durable queue's file: opening it, its tables, and checking it for damage.

Theory of operation
-------------------
`open_queue_file` opens (or creates) the SQLite file behind
reference/delivery/durable_queue.py, turns on write-ahead logging, sets
`synchronous`, creates the tables, and checks the file before the queue
hands anything out. Errors come out named:

- `QueueFileUnavailable` when the file cannot be opened. SQLite only says
  "unable to open database file"; this error names the path and the cause
  (no such folder, a folder in its place, a folder it may not write: WAL
  mode writes ``FILE-wal`` and ``FILE-shm`` beside the file, so even a queue
  that is only read needs a writable folder).
- `QueueCorrupted` when damage can be seen.

Write-ahead logging (WAL) lets readers run while one writer commits, and
`synchronous` says when a commit reaches the disk. With "FULL" every commit
is fsynced, so an acknowledged `put` survives a power cut; with "NORMAL" a
commit survives the process being killed but the last few may vanish in a
power cut, in exchange for far fewer fsyncs (`bench/durable_queue.py`
measures the difference).

What SQLite guarantees, and what it does not. A transaction is atomic, and
once `COMMIT` returns with ``synchronous=FULL`` it survives a crash or a
power cut, *if the disk keeps what it was told to keep*. SQLite does not
checksum its pages, so damage to the disk itself (a flipped bit, a stray
write) is only seen when it breaks the file's structure:

- ``PRAGMA quick_check`` (the default check on open, `check="quick"`) walks
  every b-tree page and finds broken pages, bad page types, wrong cell
  counts; ``PRAGMA integrity_check`` (`check="full"`) also checks that every
  index matches its table, and takes longer. Neither can see a changed
  byte inside a message body: that is still a well-formed row.
- The write-ahead log has checksums, but recovery stops silently at the
  first frame that fails them and drops every transaction after it.
  `reference.delivery.wal_check.lost_commits` notices when a commit stands
  behind the damage; damage in the last transaction looks like a crash
  during its commit and cannot be told apart.

Both run on open unless `check="none"`, while the opener holds the write
lock (``BEGIN IMMEDIATE``), so no other process appends to the log while it
is read. Together they took about 0.2 s here for a full log (1,000 frames
of 4 KiB), and they grow with the file: a large queue may skip them.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from os import PathLike
from pathlib import Path

from reference.delivery.wal_check import lost_commits

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
CHECKS = {"none": None, "quick": "PRAGMA quick_check", "full": "PRAGMA integrity_check"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- ids are never reused
    body        BLOB NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,         -- deliveries so far
    visible_at  REAL NOT NULL,                      -- ready when visible_at <= now
    receipt     TEXT                                -- the latest delivery, NULL if none
);
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (visible_at, id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id          INTEGER PRIMARY KEY,
    body        BLOB NOT NULL,
    attempts    INTEGER NOT NULL,
    died_at     REAL NOT NULL
);
"""


class QueueError(Exception):
    """A queue operation was refused."""


class QueueFileUnavailable(QueueError):
    """The queue's file cannot be opened; `path` and `cause` say which and why."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f"cannot open the queue file {str(path)!r}: {cause}")
        self.path = path
        self.cause = cause


class QueueCorrupted(QueueError):
    """The queue's file is damaged: opening it would hand out a wrong set of messages."""

    def __init__(self, path: Path, damage: str) -> None:
        super().__init__(f"the queue file {str(path)!r} is damaged: {damage}")
        self.path = path
        self.damage = damage


def open_queue_file(
    path: str | PathLike[str], *, synchronous: str, busy_timeout: float, check: str
) -> sqlite3.Connection:
    """A connection to the queue at `path`, checked, with its tables (no implicit transactions)."""
    if synchronous.upper() not in SYNCHRONOUS_MODES:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}, not {synchronous!r}")
    if check not in CHECKS:
        raise ValueError(f"check must be one of {tuple(CHECKS)}, not {check!r}")
    path = Path(path)
    try:
        db = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        db.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError as error:
        raise QueueFileUnavailable(path, _why_unavailable(path) or str(error)) from error
    try:
        db.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        db.execute("BEGIN IMMEDIATE")
        try:
            _check(db, path, CHECKS[check])
            for statement in SCHEMA.split(";"):
                db.execute(statement)
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    except BaseException:
        db.close()
        raise
    return db


def _check(db: sqlite3.Connection, path: Path, pragma: str | None) -> None:
    if pragma is None:  # check="none": trust the file
        return
    damage = lost_commits(path.with_name(path.name + "-wal"))
    if damage is not None:
        raise QueueCorrupted(path, f"the write-ahead log: {damage}")
    try:
        problems = [row[0] for row in db.execute(pragma).fetchmany(3)]
    except sqlite3.DatabaseError as error:  # "database disk image is malformed"
        raise QueueCorrupted(path, str(error)) from error
    if problems != ["ok"]:
        raise QueueCorrupted(path, "; ".join(problems))


def _why_unavailable(path: Path) -> str | None:
    """The operating system's reason SQLite could not open `path`, if one can be found."""
    folder = path.absolute().parent
    if path.is_dir():
        return "it is a folder, not a file"
    if not folder.exists():
        return f"its folder {str(folder)!r} does not exist"
    if not folder.is_dir():
        return f"{str(folder)!r} is not a folder"
    try:
        if path.exists():
            with open(path, "r+b"):
                pass
        # WAL mode creates FILE-wal and FILE-shm beside the file: try creating one there.
        handle, probe = tempfile.mkstemp(dir=folder, prefix=f".{path.name}-")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        return f"{error.strerror}: the queue writes the file and creates files beside it"
    return None
