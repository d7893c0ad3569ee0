"""Throughput of the durable queue (reference/delivery/durable_queue.py): put+get+ack per s.

Each configuration starts from an empty queue file, puts N messages of
128 bytes, then gets and acks them all; the figure is N divided by the
time for the whole cycle (median of three runs). The configurations differ
in two durability settings:

- `synchronous`: FULL fsyncs the write-ahead log at every commit (an
  acknowledged put survives a power cut); NORMAL fsyncs only at checkpoints
  (a commit survives the process being killed, but the last ones may be lost
  in a power cut); OFF never fsyncs (a ceiling, not a setting to use).
- transactions: one per put, get and ack (3 commits per message, the
  default API) or batches of 100 (`put_many`, `get_many`, `ack_many`).

The default settings (WAL, synchronous=FULL, one transaction per operation)
are the baseline; the ratio column compares every row with it, measured in
the same run. fsync costs depend on the disk: pass --dir to measure where
your queue would live (a tmpfs makes every setting look the same).

    python bench/durable_queue.py [--dir DIRECTORY]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from reference.delivery.durable_queue import DurableQueue

BODY = bytes(range(128))
BATCH = 100
RUNS = 3

# (name, synchronous, batched, messages)
CONFIGURATIONS = [
    ("per-message, synchronous=FULL (default)", "FULL", False, 2_000),
    ("per-message, synchronous=NORMAL", "NORMAL", False, 5_000),
    ("per-message, synchronous=OFF", "OFF", False, 5_000),
    (f"batches of {BATCH}, synchronous=FULL", "FULL", True, 20_000),
    (f"batches of {BATCH}, synchronous=NORMAL", "NORMAL", True, 20_000),
]
JSON_KEYS = [
    "put_get_ack_per_s",
    "per_message_normal_per_s",
    "per_message_off_per_s",
    "batch_full_per_s",
    "batch_normal_per_s",
]


def one_cycle(path: Path, synchronous: str, batched: bool, messages: int) -> float:
    """Put `messages` messages, then get and ack them all; return the seconds taken."""
    with DurableQueue(path, synchronous=synchronous) as queue:
        start = time.perf_counter()
        if batched:
            for _ in range(messages // BATCH):
                queue.put_many([BODY] * BATCH)
            while batch := queue.get_many(BATCH, visibility_timeout=60):
                if queue.ack_many(batch):
                    raise RuntimeError("a lease was lost during the benchmark")
        else:
            for _ in range(messages):
                queue.put(BODY)
            while message := queue.get(visibility_timeout=60):
                queue.ack(message)
        elapsed = time.perf_counter() - start
        if queue.statistics().ready:
            raise RuntimeError("the queue was not drained")
    return elapsed


def measure(directory: Path, synchronous: str, batched: bool, messages: int) -> float:
    """Median messages per second over RUNS runs, each on a fresh file."""
    rates = []
    for run in range(RUNS):
        path = directory / f"{synchronous}-{batched}-{run}.db"
        rates.append(messages / one_cycle(path, synchronous, batched, messages))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to put the queue files")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="durable-queue-bench-") as name:
        directory = Path(name)
        print(f"queue files in {directory} (SQLite {sqlite3.sqlite_version}, journal_mode=WAL)")
        print(f"{RUNS} runs per row, median; {len(BODY)}-byte bodies\n")
        rates = [measure(directory, sync, batched, n) for _, sync, batched, n in CONFIGURATIONS]

    baseline = rates[0]
    print(f"{'settings':<42} {'commits/msg':>11} {'messages':>9} {'msg/s':>9} {'ratio':>7}")
    for (name, _, batched, messages), rate in zip(CONFIGURATIONS, rates, strict=True):
        commits = 3 / BATCH if batched else 3
        print(f"{name:<42} {commits:>11.2f} {messages:>9} {rate:>9.0f} {rate / baseline:>6.1f}x")
    figures = {key: round(rate) for key, rate in zip(JSON_KEYS, rates, strict=True)}
    figures["settings"] = "journal_mode=WAL, synchronous=FULL, one transaction per put/get/ack"
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
