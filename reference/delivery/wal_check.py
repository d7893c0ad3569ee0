"""Reading SQLite's write-ahead log to notice committed transactions it would skip.

Theory of operation
-------------------
In WAL mode SQLite appends every changed page to ``FILE-wal`` as a *frame*
(a 24-byte header, then the page) and copies frames back into the main file
later, at a checkpoint. A commit is the frame whose header holds the
database's new size in pages. After a crash, the next opener *recovers*:
it reads the frames in order and keeps each one whose salts match the log's
header and whose checksum is right. The checksum is cumulative (each frame's
is seeded with the one before), so recovery stops at the first frame that
fails, and keeps everything up to the last commit before it.

That is right after a crash, when only the tail can be half-written. It is
silently wrong after damage in the middle: every transaction committed
after the damaged frame is dropped too, with no error. The file then opens
as an older, consistent database, and `PRAGMA integrity_check` passes.

`lost_commits` looks past the point where recovery stops. A frame written
after it in the same log has the same salts, and its checksum still checks
against the checksum *stored* in the frame before it; if such a frame is a
commit, committed work would be lost, so the log is damaged. Damage that
leaves no verifiable commit behind it (in the last transaction, or in its
commit frame) looks exactly like a crash during a commit: that cannot be
told apart, and the last transaction is lost.

The format is SQLite's (https://sqlite.org/fileformat2.html#walformat):
a 32-byte header of big-endian words (magic, version, page size, checkpoint
sequence, salt-1, salt-2, checksum-1, checksum-2); the checksums run over
words in the byte order that the magic's lowest bit names.
"""

from __future__ import annotations

import struct
from pathlib import Path

_HEADER = 32
_FRAME_HEADER = 24
_MAGIC = (0x377F0682, 0x377F0683)  # little-endian checksums, big-endian checksums


def lost_commits(wal_path: Path) -> str | None:
    """Why recovery of this log would drop committed transactions, or None if it would not.

    Read it while holding the database's write lock, so that nobody appends meanwhile.
    """
    try:
        data = wal_path.read_bytes()
    except FileNotFoundError:
        return None
    if len(data) < _HEADER:
        return None
    magic, _, page_size, _, salt_1, salt_2, sum_1, sum_2 = struct.unpack(">8I", data[:_HEADER])
    order = ">" if magic & 1 else "<"
    frame_size = _FRAME_HEADER + page_size
    frames = (len(data) - _HEADER) // frame_size if page_size else 0
    if magic not in _MAGIC or _checksum(order, data[:24], (0, 0)) != (sum_1, sum_2):
        return "its header is damaged, so SQLite ignores all of it" if frames else None

    def frame(index: int) -> tuple[int, tuple[int, int], tuple[int, int], bytes]:
        start = _HEADER + index * frame_size
        _, commit, *salts, stored_1, stored_2 = struct.unpack(">6I", data[start : start + 24])
        covered = data[start : start + 8] + data[start + 24 : start + frame_size]
        return commit, tuple(salts), (stored_1, stored_2), covered

    seed = (sum_1, sum_2)
    for index in range(frames):  # what recovery keeps
        commit, salts, stored, covered = frame(index)
        if salts != (salt_1, salt_2) or _checksum(order, covered, seed) != stored:
            break
        seed = stored
    else:
        return None
    damaged = index
    for index in range(damaged + 1, frames):  # what it would drop
        commit, salts, stored, covered = frame(index)
        if commit and salts == (salt_1, salt_2):
            _, _, before, _ = frame(index - 1)
            if _checksum(order, covered, before) == stored:
                return (
                    f"frame {damaged} of {frames} is damaged, and SQLite would drop the "
                    f"transactions committed after it (frame {index} is one)"
                )
    return None


def _checksum(order: str, data: bytes, seed: tuple[int, int]) -> tuple[int, int]:
    """SQLite's WAL checksum: two 32-bit sums, each word pair feeding both."""
    s0, s1 = seed
    words = struct.unpack(f"{order}{len(data) // 4}I", data)
    for index in range(0, len(words), 2):
        s0 = (s0 + words[index] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[index + 1] + s0) & 0xFFFFFFFF
    return s0, s1
