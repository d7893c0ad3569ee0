"""A Trio worker over the durable queue: take a message, handle it, settle it.

Theory of operation
-------------------
`run_worker` is the consumer loop that every queue-backed service has:
take a message (`get`, which leases it), run the handler, then `ack` it if
the handler returned or `nack` it if the handler raised, so another attempt
(or the dead-letter table) gets it. Settling comes *after* the work: a
worker killed halfway acknowledges nothing, and the message comes back
when its lease expires. That is at-least-once delivery (see
reference/delivery/durable_queue.py).

SQLite calls block, so each runs in `trio.to_thread.run_sync`, never in
the event loop. Settling is shielded from cancellation: a handler that has
finished must not go unrecorded because the worker is being shut down, and
a handler that *is* cancelled gives its message back at once (a `nack`
with no delay), so stopping a worker costs no visibility timeout.

An idle worker must neither hammer the file nor answer late. When it finds
nothing it waits `poll_interval`, then twice that, and so on up to
`max_poll_interval` (exponential backoff, as SQS's long polling saves empty
receives); a message resets the wait. And it does not wait at all for a
message put through the same `DurableQueue` object: the queue calls it back
(`subscribe_puts`), from whatever thread put it, and the worker wakes at
once. Only another process's put waits for the next poll.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from reference.delivery.durable_queue import DurableQueue, LeaseLost, Message

logger = logging.getLogger(__name__)


@dataclass
class WorkerStatistics:
    acked: int = 0
    nacked: int = 0  # the handler raised; the message went back (or to the dead letters)
    leases_lost: int = 0  # the handler outlived its visibility timeout; see `LeaseLost`


async def run_worker(
    queue: DurableQueue,
    handler: Callable[[Message], Awaitable[object]],
    *,
    visibility_timeout: float,
    poll_interval: float = 0.5,
    max_poll_interval: float = 8.0,
    retry_delay: float = 0.0,
    concurrency: int = 1,
    stop_when_empty: bool = False,
) -> WorkerStatistics:
    """Take messages from `queue` and run `await handler(message)` on each.

    A handler that returns acks the message; one that raises nacks it (to be
    retried after `retry_delay`). A handler that is cancelled also gives its
    message back at once, so shutting a worker down costs no visibility
    timeout. `concurrency` handlers run at once. When no message is visible
    the worker waits (from `poll_interval`, doubling up to `max_poll_interval`,
    or until this queue object makes one ready), or, with `stop_when_empty`,
    returns. Runs until cancelled otherwise. A handler should finish well within
    `visibility_timeout`: after that the message may be delivered to another
    consumer too, and this worker's ack is refused (counted in `leases_lost`).
    """
    if not 0 < poll_interval <= max_poll_interval:
        raise ValueError("a worker needs 0 < poll_interval <= max_poll_interval")
    statistics = WorkerStatistics()
    idle_consumers: set[trio.Event] = set()  # each set when this queue makes a message ready
    trio_token = trio.lowlevel.current_trio_token()

    def wake_idle_consumers() -> None:
        for ready in idle_consumers:
            ready.set()
        idle_consumers.clear()

    def message_ready() -> None:  # called in the thread that put the message
        with contextlib.suppress(trio.RunFinishedError):  # the run is ending: nobody to wake
            trio_token.run_sync_soon(wake_idle_consumers)

    async def settle(settle_fn: Callable[..., None], *args: object) -> bool:
        # Shielded: a quick write, and a handler that finished must not go unrecorded.
        with trio.CancelScope(shield=True):
            try:
                await trio.to_thread.run_sync(settle_fn, *args)
            except LeaseLost as error:
                logger.warning("%s", error)
                statistics.leases_lost += 1
                return False
        return True

    async def handle(message: Message) -> None:
        try:
            await handler(message)
        except Exception:
            logger.exception("handler failed on message %d; giving it back", message.id)
            if await settle(queue.nack, message, retry_delay):
                statistics.nacked += 1
        except BaseException:  # cancelled or interrupted: let another consumer have it now
            await settle(queue.nack, message)
            raise
        else:
            if await settle(queue.ack, message):
                statistics.acked += 1

    async def consume() -> None:
        wait = poll_interval
        while True:
            ready = trio.Event()
            idle_consumers.add(ready)  # before the get: a put during it wakes us
            message = await trio.to_thread.run_sync(queue.get, visibility_timeout)
            if message is not None:
                idle_consumers.discard(ready)
                await handle(message)
                wait = poll_interval
            elif stop_when_empty:
                return
            else:
                with trio.move_on_after(wait):
                    await ready.wait()
                idle_consumers.discard(ready)
                wait = poll_interval if ready.is_set() else min(2 * wait, max_poll_interval)

    unsubscribe = queue.subscribe_puts(message_ready)
    try:
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(consume)
    finally:
        unsubscribe()
    return statistics
