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
"""

from __future__ import annotations

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
    retry_delay: float = 0.0,
    concurrency: int = 1,
    stop_when_empty: bool = False,
) -> WorkerStatistics:
    """Take messages from `queue` and run `await handler(message)` on each.

    A handler that returns acks the message; one that raises nacks it (to be
    retried after `retry_delay`). A handler that is cancelled also gives its
    message back at once, so shutting a worker down costs no visibility
    timeout. `concurrency` handlers run at once. When no message is visible
    the worker sleeps `poll_interval`, or, with `stop_when_empty`, returns.
    Runs until cancelled otherwise. A handler should finish well within
    `visibility_timeout`: after that the message may be delivered to another
    consumer too, and this worker's ack is refused (counted in `leases_lost`).
    """
    statistics = WorkerStatistics()

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
        while True:
            message = await trio.to_thread.run_sync(queue.get, visibility_timeout)
            if message is not None:
                await handle(message)
            elif stop_when_empty:
                return
            else:
                await trio.sleep(poll_interval)

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(consume)
    return statistics
