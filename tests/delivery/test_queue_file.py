"""Tests for reference/delivery/queue_file.py and wal_check.py: opening the queue's file,
and noticing damage to it after a writer was killed.

A real producer process (tests/delivery/queue_producer.py) writes and is killed with
SIGKILL, so the files are left as a crash leaves them; the test then flips bytes.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from reference.delivery.durable_queue import DurableQueue, QueueCorrupted, QueueFileUnavailable

REPO = Path(__file__).resolve().parents[2]
PAGE = 4096  # SQLite's default page size
FRAME = 24 + PAGE  # a write-ahead log frame: its header, then the page


def killed_producer(path: Path, count: int, *options: str) -> None:
    """Put `count` messages in a process, then SIGKILL it: the log stays as it was."""
    with subprocess.Popen(
        [sys.executable, "-m", "tests.delivery.queue_producer", str(path), str(count), *options],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as producer:
        try:
            assert producer.stdout.readline().strip() == f"committed {count}"
            producer.send_signal(signal.SIGKILL)
            assert producer.wait(timeout=20) == -signal.SIGKILL
        finally:
            producer.kill()


def flip(file: Path, offset: int, count: int = 8) -> None:
    data = bytearray(file.read_bytes())
    for index in range(offset, offset + count):
        data[index] ^= 0xFF
    file.write_bytes(bytes(data))


def wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def bodies(path: Path) -> list[bytes]:
    with DurableQueue(path) as queue:
        return [message.body for message in queue.get_many(1000, visibility_timeout=60)]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


def test_after_a_kill_every_committed_message_is_there(path: Path) -> None:
    killed_producer(path, 100)
    assert wal(path).stat().st_size > 100 * FRAME  # the log was left behind, uncheckpointed
    assert bodies(path) == [b"m%d" % n for n in range(100)]


def test_damage_in_the_middle_of_the_log_is_refused_by_name(path: Path) -> None:
    # SQLite's recovery would stop at the damaged frame and drop the ~50 commits after it.
    killed_producer(path, 100)
    frames = (wal(path).stat().st_size - 32) // FRAME
    flip(wal(path), 32 + (frames // 2) * FRAME + 24 + 1000)  # inside the middle frame's page
    with pytest.raises(QueueCorrupted, match=r"write-ahead log.*drop the transactions") as caught:
        DurableQueue(path)
    assert caught.value.path == path


def test_a_damaged_log_header_is_refused(path: Path) -> None:
    killed_producer(path, 10)
    flip(wal(path), 16)  # the salts: SQLite would ignore every frame
    with pytest.raises(QueueCorrupted, match="header"):
        DurableQueue(path)


def test_damage_to_the_last_commit_looks_like_a_crash_during_it(path: Path) -> None:
    # The limit the module documents: nothing after it to show that it had committed.
    killed_producer(path, 100)
    size = wal(path).stat().st_size
    flip(wal(path), size - 1000)  # the last frame: the last message's commit
    assert bodies(path) == [b"m%d" % n for n in range(99)]


@pytest.mark.parametrize("table", ["messages", "messages_by_visibility"])
def test_a_broken_page_in_the_main_file_is_refused_unless_checking_is_off(
    path: Path, table: str
) -> None:
    # A broken table page makes the check itself fail; a broken index page is reported by it.
    killed_producer(path, 300, "--checkpoint")  # everything is in the main file now
    with sqlite3.connect(path) as db:
        (root,) = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()
    db.close()
    flip(path, (root - 1) * PAGE, 1)  # the type of the first page of the b-tree
    with pytest.raises(QueueCorrupted, match="damaged"):
        DurableQueue(path)
    with pytest.raises(QueueCorrupted):
        DurableQueue(path, check="full")
    DurableQueue(path, check="none").close()  # it opens; what it then reads is not to be trusted


def test_an_unfinished_transaction_behind_damage_is_not_lost_work(path: Path) -> None:
    # A power cut can leave a transaction's frames on disk out of order, one of them torn:
    # frames behind the damage that commit nothing are no sign that committed work is lost.
    killed_producer(path, 10)
    log = wal(path).read_bytes()
    frames = (len(log) - 32) // FRAME
    commits = [n for n in range(frames) if struct.unpack_from(">I", log, 32 + n * FRAME + 4)[0]]
    last_transaction = range(commits[-2] + 1, commits[-1] + 1)
    assert len(last_transaction) >= 2  # frames that commit nothing, then the commit
    wal(path).write_bytes(log[: 32 + commits[-1] * FRAME])  # its commit never reached the disk
    flip(wal(path), 32 + last_transaction[0] * FRAME + 24 + 100)
    assert bodies(path) == [b"m%d" % n for n in range(9)]


def test_the_check_is_one_of_three(path: Path) -> None:
    with pytest.raises(ValueError, match="check"):
        DurableQueue(path, check="thorough")


# --- a path that cannot be opened: the error names it, and why ---------------------


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    path = tmp_path / "no such folder" / "queue.db"
    with pytest.raises(QueueFileUnavailable, match="does not exist") as caught:
        DurableQueue(path)
    assert caught.value.path == path and "no such folder" in str(caught.value)


def test_a_folder_in_place_of_the_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(QueueFileUnavailable, match="is a folder") as caught:
        DurableQueue(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_a_file_in_place_of_the_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a folder")
    with pytest.raises(QueueFileUnavailable, match="not a folder"):
        DurableQueue(tmp_path / "plain" / "queue.db")


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Path:
    """A folder this process may not create files in. Root may write where chmod forbids,
    but not in /sys (sysfs)."""
    folder = tmp_path / "read-only" if os.geteuid() != 0 else Path("/sys")
    if folder != Path("/sys"):
        folder.mkdir(mode=0o555)
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return folder
    pytest.skip(f"{folder} is writable here")


def test_a_read_only_folder_is_named(read_only_folder: Path) -> None:
    path = read_only_folder / "queue.db"
    with pytest.raises(QueueFileUnavailable, match="denied") as caught:
        DurableQueue(path)
    assert caught.value.path == path and str(read_only_folder) in str(caught.value)
