"""Request/reply over publish/subscribe: one inbox subscription, one token per request.

Theory of operation
-------------------
NATS has no calls, only messages. A request is a message with a *reply
subject* that only the requester listens on; a responder publishes its
answer there. Subscribing afresh for every request would cost a SUB and an
UNSUB each, so the client subscribes once to a wildcard inbox,
``_INBOX.<random>.*``, and gives each request its own last token:
``_INBOX.<random>.7``. `Inbox.answer` routes a reply to the request
waiting on its token; a second reply to the same request is dropped (the
first answer won), and so is a reply to a request that gave up.

A server that knows nobody subscribes to the request's subject (and was
told in CONNECT that we understand it) answers at once with a header block
of status 503: `raise_if_no_responders` turns that into `NoResponders`
rather than a wait for the deadline.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import trio

from reference.routing.operations import HMsg, Msg


class NoResponders(Exception):
    """Nobody subscribes to the subject of a request (the server said 503)."""


class Inbox:
    def __init__(self) -> None:
        self.prefix = f"_INBOX.{secrets.token_hex(11)}"
        self._waiting: dict[str, trio.MemorySendChannel] = {}
        self._tokens = itertools.count(1)

    @property
    def wildcard(self) -> str:
        return f"{self.prefix}.*"

    @property
    def in_flight(self) -> int:
        return len(self._waiting)

    @contextmanager
    def expect_reply(self) -> Iterator[tuple[str, trio.MemoryReceiveChannel]]:
        """A fresh reply subject, and the channel its first reply will come through."""
        token = str(next(self._tokens))
        send, receive = trio.open_memory_channel(1)
        self._waiting[token] = send
        try:
            yield f"{self.prefix}.{token}", receive
        finally:
            del self._waiting[token]

    def answer(self, reply: Msg | HMsg) -> None:
        channel = self._waiting.get(reply.subject.rpartition(".")[2])
        if channel is not None:
            with suppress(trio.WouldBlock):  # a second responder: the first answer won
                channel.send_nowait(reply)


def raise_if_no_responders(reply: Msg | HMsg, subject: str) -> None:
    if isinstance(reply, HMsg) and reply.headers.startswith(b"NATS/1.0 503"):
        raise NoResponders(f"no subscriber for {subject!r}")
