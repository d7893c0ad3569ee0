"""Waiting only when there is something to wait for.

Trio's `Semaphore.acquire`, `Lock.acquire` and `MemorySendChannel.send`
always pass through the scheduler, even when the semaphore is free or the
channel has room: every `await` of a Trio primitive is a checkpoint. That
is the right default, and it costs a few microseconds a call. On paths
that run once per message (the RPC client and server, the frame writer)
those microseconds are most of the time spent, so these helpers try the
non-blocking form first and wait only when they must.

Use them only where a checkpoint follows soon anyway: a loop that never
waits must still yield somewhere, or it starves every other task.
"""

from __future__ import annotations

from typing import TypeVar

import trio

T = TypeVar("T")


async def acquire_eagerly(lock: trio.Semaphore | trio.Lock) -> None:
    """Acquire `lock` (a semaphore or a lock); wait only if it is taken."""
    try:
        lock.acquire_nowait()
    except trio.WouldBlock:
        await lock.acquire()


async def send_eagerly(channel: trio.MemorySendChannel[T], value: T) -> None:
    """Put `value` on `channel`; wait only if its buffer is full."""
    try:
        channel.send_nowait(value)
    except trio.WouldBlock:
        await channel.send(value)
