"""A producer process for the durable queue's damage tests.

    python -m tests.delivery.queue_producer QUEUE.db COUNT [--checkpoint]

It puts COUNT messages ``m0``, ``m1``, ... one transaction each, so the
write-ahead log holds one commit per message. With --checkpoint it then
copies the log into the main file and empties it. It prints "committed
COUNT" and waits on stdin, so that a test can kill it with SIGKILL and
leave the files as a crash leaves them (the log is not cleaned up).
"""

from __future__ import annotations

import sqlite3
import sys

from reference.delivery.durable_queue import DurableQueue


def main() -> int:
    path, count = sys.argv[1], int(sys.argv[2])
    with DurableQueue(path) as queue:
        for number in range(count):
            queue.put(b"m%d" % number)
        if "--checkpoint" in sys.argv[3:]:
            with sqlite3.connect(path) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        print(f"committed {count}", flush=True)
        sys.stdin.readline()  # the test kills us here
    return 3  # stdin closed without a kill: the test went wrong


if __name__ == "__main__":
    sys.exit(main())
