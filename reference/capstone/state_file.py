"""A node's `ctx.storage` on disk: one SQLite row of CBOR, replaced in one transaction.

Theory of operation
-------------------
The node interface (`reference/net/node.py`) promises that storage
survives a crash and that everything one handler wrote is kept together
or not at all. On the simulator that is a dict the simulator keeps; in a
process that can be SIGKILLed at any instruction it has to be a file,
written so that a kill half-way leaves the old state or the new one,
never a mixture.

SQLite gives exactly that: `save` replaces the one row holding the CBOR
encoding (`reference/wire/cbor.py`, canonical) in one transaction. Most
handlers change nothing (a duplicate, an acknowledgement already
counted), and encoding a long history costs more than the rest of the
handler, so `save` first compares the storage with a deep copy of what it
saved last (a comparison runs in C; the encoder in Python) and writes only
what changed. (Python counts 1, 1.0 and True as equal: a field that only
changes its type so is not rewritten; keep one type per field.)
Write-ahead logging with ``synchronous=NORMAL`` makes a commit survive
the process being killed (the kernel has the write) without an fsync per
handler; a power cut may lose the last few commits, as
`reference/delivery/queue_file.py` explains for the durable queue.
"""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path

from reference.wire.cbor import dumps, loads

MAX_STATE_BYTES = 64 * 1024 * 1024


class StateFile:
    """The storage of one node in the SQLite file at `path` (created if missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.saves = 0  # transactions committed, for tests and the benchmark
        self._connection = sqlite3.connect(self.path, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS storage (id INTEGER PRIMARY KEY CHECK (id = 1), cbor BLOB)"
        )
        row = self._connection.execute("SELECT cbor FROM storage WHERE id = 1").fetchone()
        self._saved = self._decode(row[0]) if row else {}

    def load(self) -> dict:
        """The storage last saved (a fresh copy), or an empty dict for a node that never ran."""
        return copy.deepcopy(self._saved)

    def save(self, storage: dict) -> None:
        """Replace the saved storage with `storage`, in one transaction; skip if unchanged."""
        if storage == self._saved:
            return
        data = dumps(storage, canonical=True)
        with self._connection:  # BEGIN ... COMMIT, or ROLLBACK on an error
            self._connection.execute("BEGIN")
            self._connection.execute("INSERT OR REPLACE INTO storage VALUES (1, ?)", (data,))
        self._saved = copy.deepcopy(storage)
        self.saves += 1

    def _decode(self, data: bytes) -> dict:
        value = loads(data, max_size=MAX_STATE_BYTES)
        if not isinstance(value, dict):
            raise ValueError(f"{self.path} holds a {type(value).__name__}, not a storage map")
        return value

    def close(self) -> None:
        self._connection.close()
