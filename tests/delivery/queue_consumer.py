"""A consumer process for the durable queue's crash tests.

    python -m tests.delivery.queue_consumer QUEUE.db EVENTS.log [options]

It takes messages in batches and, for each one, records the work and then
acks, appending one line per step to EVENTS.log::

    deliver <id> <attempts>    the queue handed the message over
    process <id> <body>        the work is done (this line *is* the work)
    ack <id>                   the queue confirmed the ack

Lines are written straight through to the operating system, so they
survive the process being killed. It exits when no message is visible.

--hold-after N makes it stop, after processing its Nth message and before
acking it, print "holding K" (K = messages of the batch it has not acked)
and wait on stdin, so a test can kill it at a known point with SIGKILL.
--wait-for-go makes it print "ready" and wait for a line on stdin before
taking anything, so several consumers start competing at the same moment.
--pause-after-first makes it print "took <id>" once it holds its first
message and wait for a line on stdin before working on it, so a test can see
several consumers each holding a message of its own at the same time.
--work-seconds S makes each message take S seconds of work, so competing
consumers interleave. --clock-offset S adds S seconds to its clock: a restarted consumer sees the
dead one's leases as expired without anybody waiting.
"""

from __future__ import annotations

import argparse
import sys
import time

from reference.delivery.durable_queue import DurableQueue


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("queue_path")
    parser.add_argument("events_path")
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--visibility-timeout", type=float, default=30.0)
    parser.add_argument("--clock-offset", type=float, default=0.0)
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--hold-after", type=int)
    parser.add_argument("--wait-for-go", action="store_true")
    parser.add_argument("--pause-after-first", action="store_true")
    parser.add_argument("--work-seconds", type=float, default=0.0)
    args = parser.parse_args()

    def clock() -> float:
        return time.time() + args.clock_offset

    processed = 0
    with (
        DurableQueue(args.queue_path, clock=clock, synchronous=args.synchronous) as queue,
        open(args.events_path, "a", buffering=1) as events,  # line-buffered
    ):
        if args.wait_for_go:
            print("ready", flush=True)
            sys.stdin.readline()
        while batch := queue.get_many(args.batch, args.visibility_timeout):
            for position, message in enumerate(batch):
                events.write(f"deliver {message.id} {message.attempts}\n")
                if args.pause_after_first and processed == 0:
                    print(f"took {message.id}", flush=True)
                    sys.stdin.readline()
                time.sleep(args.work_seconds)  # the work takes a while, outside any lock
                events.write(f"process {message.id} {message.body.decode()}\n")
                processed += 1
                if processed == args.hold_after:
                    print(f"holding {len(batch) - position}", flush=True)
                    sys.stdin.readline()  # the test kills us here
                    return 3  # stdin closed without a kill: the test went wrong
                queue.ack(message)
                events.write(f"ack {message.id}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
