"""One connection as the RPC server sees it: its writer queue, its call slots, its idle clock.

Theory of operation
-------------------
`reference/rpc/server.py` reads a connection's requests one after another
and runs at most `max_concurrent_requests` of them at once: `slots` is a
semaphore of that size, taken for each call and given back by
`call_finished`. The connection is *idle* when no call holds a slot and no
frame is half-arrived; `next_payload` waits for the next request with a
deadline `idle_timeout` seconds after the last thing heard, and raises
`IdleTimeout` when it passes. A call that finishes moves the deadline, so a
connection is never idle while the server still owes it an answer.
"""

from __future__ import annotations

import math

import trio

from reference.wire.framing import MessageStream


class IdleTimeout(Exception):
    """A connection sent nothing, with no call running, for `idle_timeout` seconds."""


class ServedConnection:
    """One connection's queue to its writer, its call slots, and its idle clock."""

    def __init__(
        self,
        messages: MessageStream,
        outgoing: trio.MemorySendChannel[bytes],
        max_concurrent_requests: int,
        idle_timeout: float,
    ) -> None:
        self.messages = messages
        self.outgoing = outgoing
        self.slots = trio.Semaphore(max_concurrent_requests)
        self.all_slots = max_concurrent_requests
        self._idle_timeout = idle_timeout
        self._last_heard = trio.current_time()
        self._reading = trio.CancelScope()

    def _idle_deadline(self) -> float:
        if self.slots.value < self.all_slots or self.messages.buffered:
            return math.inf  # a call is running, or a frame arriving (which has its own timeout)
        return self._last_heard + self._idle_timeout

    async def next_payload(self) -> bytes | None:
        """The next frame's payload, None at end of stream; `IdleTimeout` if none comes."""
        while True:
            with trio.CancelScope(deadline=self._idle_deadline()) as self._reading:
                try:
                    payload = await self.messages.receive_message()
                except trio.EndOfChannel:
                    return None
                self._last_heard = trio.current_time()
                return payload
            if self._idle_deadline() <= trio.current_time():  # else it stopped being idle
                raise IdleTimeout(f"no request for {self._idle_timeout:g} s and no call running")

    def call_finished(self) -> None:
        self.slots.release()
        self._last_heard = trio.current_time()
        self._reading.deadline = self._idle_deadline()
