"""One client connection of the broker: its options, subscriptions and tasks.

Theory of operation
-------------------
The broker (`reference/routing/broker.py`) runs one `Connection` per
client. It greets the client with INFO, then runs three tasks:

- the reader feeds received bytes to the sans-I/O `ProtocolReader`
  (`reference/routing/protocol.py`) and handles each event it returns;
- the writer drains the connection's bounded `OutboundBuffer`
  (`reference/routing/outbound.py`) into the socket; nothing else writes;
- the pinger sends PING every `ping_interval` seconds and drops a client
  that left `max_pings_outstanding` of them unanswered.

Events, in order of arrival:

- ``CONNECT`` sets ``verbose`` (answer every operation with ``+OK``) and
  ``pedantic`` (a ``PUB`` to a wildcard or malformed subject gets ``-ERR
  'Invalid Publish Subject'``; without pedantic it is silently dropped),
  both on until CONNECT turns them off, as in nats-server (client
  libraries do); ``headers`` (send HPUB, take HMSG; a client that sends
  HPUB without it is closed, as nats-server closes it); and ``echo``
  (receive one's own messages);
- ``SUB subject [queue] sid`` adds a `Subscription` to the broker's index
  (``-ERR 'Invalid Subject'`` for a bad filter, pedantic or not, and
  ``-ERR 'maximum subscriptions exceeded'`` past ``max_subscriptions``);
  ``UNSUB sid [max]`` removes it now, or once it has had ``max`` messages;
- ``PUB`` and ``HPUB`` go to the broker to route; ``PING`` gets ``PONG``.

A broker with an ``authorize`` hook (`reference/routing/authorization.py`)
asks it for the client's grants at CONNECT and refuses, with nats-server's
texts, a client without valid credentials (closed), and a PUB or SUB
outside its grants (kept open). The grants are checked before the subject
is: a malformed filter outside them is a permissions violation, as in
nats-server. One difference: nats-server matches a wildcard PUB subject
literally against the grants; here it is outside them.

Every reply and every message is queued in the outbound buffer and never
waits: a client whose buffer would pass ``max_pending`` bytes is a slow
consumer, dropped with ``-ERR 'Slow Consumer'`` (nats-server 2.9.10 drops
it without a word, logging "Slow Consumer Detected: MaxPending of N
Exceeded"; our line says why, if the client ever reads it). An error
from the reader (an unknown operation, a control line or payload over its
limit) is sent as nats-server's ``-ERR`` text; a malformed line closes
the connection without one, as nats-server does. Either way the connection leaves the index
at once, and closes once that last line is written, or after
``write_deadline`` seconds if the client does not read it.

What one connection can make the broker hold is bounded: one received
chunk, the reader's buffer (a control line and a payload at most), the
outbound buffer, and ``max_subscriptions`` subscriptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import trio

from reference.routing import operations as op
from reference.routing.authorization import (
    AUTHORIZATION_VIOLATION,
    Authorize,
    Grants,
    NotAuthorized,
    publish_violation,
    subscription_violation,
)
from reference.routing.outbound import OutboundBuffer, SlowConsumer
from reference.routing.protocol import NEED_DATA, SERVER, ProtocolReader, RemoteProtocolError
from reference.routing.subjects import InvalidSubject, SubscriptionIndex, parse_subject

MAX_SUBSCRIPTIONS_TEXT = "maximum subscriptions exceeded"


@dataclass(frozen=True)
class BrokerLimits:
    """What one connection may make the broker hold, and how long it may stall."""

    max_payload: int = 1024 * 1024  # as nats-server
    max_control_line: int = 4096  # as nats-server
    max_pending: int = 4 * 1024 * 1024  # nats-server allows 64 MiB
    max_subscriptions: int = 10_000  # nats-server: unlimited by default
    ping_interval: float = 120.0  # as nats-server
    max_pings_outstanding: int = 2  # as nats-server
    write_deadline: float = 10.0  # as nats-server


@dataclass(eq=False)
class Subscription:
    """One SUB of one connection; UNSUB with a max sets `max_messages`."""

    connection: Connection
    sid: str
    subject: str
    queue: str | None
    delivered: int = 0
    max_messages: int | None = None


class Hub(Protocol):
    """What a connection needs from its broker."""

    limits: BrokerLimits
    index: SubscriptionIndex
    receive_size: int
    authorize: Authorize | None

    def info(self, client_id: int) -> dict: ...
    def route(self, publisher: Connection, event: op.Pub | op.HPub) -> None: ...
    def disconnect(self, connection: Connection) -> None: ...


class Connection:
    """One client: its options, subscriptions, outbound buffer and tasks."""

    def __init__(self, broker: Hub, stream: trio.abc.Stream, client_id: int) -> None:
        self.broker = broker
        self.stream = stream
        self.client_id = client_id
        limits = broker.limits
        self.outbound = OutboundBuffer(limits.max_pending)
        self.reader = ProtocolReader(
            SERVER, max_control_line=limits.max_control_line, max_payload=limits.max_payload
        )
        self.subscriptions: dict[str, Subscription] = {}
        self.verbose = self.pedantic = True  # nats-server's defaults, until CONNECT
        self.headers = False
        self.echo = True
        self.grants: Grants | None = None  # None: anything goes, or not yet authorized
        self.authorized = broker.authorize is None
        self.refused_because: str | None = None  # why `authorize` refused, for inspection
        self.pings_outstanding = 0
        self.closed_because: str | None = None
        self._cancel_scope = trio.CancelScope()

    async def run(self) -> None:
        info = self.broker.info(self.client_id)
        self.outbound.put(op.encode(op.Info(info)))
        with self._cancel_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read)
                nursery.start_soon(self._ping)
                await self._write()
                nursery.cancel_scope.cancel()
        self.broker.disconnect(self)
        await trio.aclose_forcefully(self.stream)

    async def _write(self) -> None:
        try:
            await self.outbound.write_to(self.stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.close("peer gone")

    async def _read(self) -> None:
        while True:
            try:
                data = await self.stream.receive_some(self.broker.receive_size)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self.close("peer closed")
                return
            try:
                self.reader.feed(data)
                while (event := self.reader.next_event()) is not NEED_DATA:
                    self._handle(event)
            except RemoteProtocolError as error:
                if error.err_text is None:  # nats-server closes without a word
                    self.close(str(error))
                else:
                    self.fail(error.err_text)
            if self.closed_because is not None:
                return  # dropped: read no more

    async def _ping(self) -> None:
        limits = self.broker.limits
        while True:
            await trio.sleep(limits.ping_interval)
            if self.pings_outstanding >= limits.max_pings_outstanding:
                self.fail("Stale Connection")
                return
            self.pings_outstanding += 1
            self.send(op.Ping())

    def send(self, event: object, *, message: bool = False) -> None:
        """Queue an event for this client; drop the client if it cannot keep up."""
        try:
            self.outbound.put(op.encode(event), message=message)
        except SlowConsumer:
            self.fail("Slow Consumer")

    def fail(self, error_text: str) -> None:
        """Send `-ERR 'error_text'` as the last thing, then close."""
        if self.closed_because is None:
            self.closed_because = error_text
            self.broker.disconnect(self)
        self.outbound.put_final(op.encode(op.Err(error_text)))
        self._cancel_scope.deadline = trio.current_time() + self.broker.limits.write_deadline

    def close(self, reason: str) -> None:
        if self.closed_because is None:
            self.closed_because = reason
        self._cancel_scope.cancel()

    def _ok(self) -> None:
        if self.verbose:
            self.send(op.Ok())

    def _handle(self, event: object) -> None:
        if self.closed_because is not None:
            return  # dropped while handling this chunk
        if not self.authorized and not self._authorize(event):
            self.fail(AUTHORIZATION_VIOLATION)
            return
        match event:
            case op.Connect(options=options):
                self.verbose = bool(options.get("verbose", True))
                self.pedantic = bool(options.get("pedantic", True))
                self.headers = bool(options.get("headers", False))
                self.echo = bool(options.get("echo", True))
                self._ok()
            case op.Ping():
                self.send(op.Pong())
            case op.Pong():
                self.pings_outstanding = 0
            case op.Pub() | op.HPub():
                self._publish(event)
            case op.Sub():
                self._subscribe(event)
            case op.Unsub():
                self._unsubscribe(event)

    def _authorize(self, event: object) -> bool:
        """The first operation must be a CONNECT whose credentials `authorize` accepts."""
        if not isinstance(event, op.Connect):
            return False
        try:
            self.grants = self.broker.authorize(event.options)
        except NotAuthorized as refusal:
            self.refused_because = str(refusal)
            return False
        self.authorized = True
        return True

    def _publish(self, event: op.Pub | op.HPub) -> None:
        if isinstance(event, op.HPub) and not self.headers:
            self.close("message headers not supported")  # as nats-server: no -ERR
            return
        if self.pedantic and not is_publish_subject(event.subject):
            self.send(op.Err("Invalid Publish Subject"))
        if self.grants is not None and not self.grants.may_publish(event.subject):
            self.send(op.Err(publish_violation(event.subject)))
            return
        self._ok()  # before the copies, as nats-server orders them
        self.broker.route(self, event)

    def _subscribe(self, event: op.Sub) -> None:
        if event.sid in self.subscriptions:
            self._ok()  # nats-server keeps the first SUB of a sid
            return
        if self.grants is not None and not self.grants.may_subscribe(event.subject):
            self.send(op.Err(subscription_violation(event.subject)))
            return
        if len(self.subscriptions) >= self.broker.limits.max_subscriptions:
            self.send(op.Err(MAX_SUBSCRIPTIONS_TEXT))
            return
        subscription = Subscription(self, event.sid, event.subject, event.queue)
        try:
            self.broker.index.insert(event.subject, subscription, queue=event.queue)
        except InvalidSubject:
            self.send(op.Err("Invalid Subject"))
            return
        self.subscriptions[event.sid] = subscription
        self._ok()

    def _unsubscribe(self, event: op.Unsub) -> None:
        subscription = self.subscriptions.get(event.sid)
        if subscription is not None:
            subscription.max_messages = event.max_msgs
            if event.max_msgs is None or subscription.delivered >= event.max_msgs:
                self.remove(subscription)
        self._ok()

    def remove(self, subscription: Subscription) -> None:
        if self.subscriptions.pop(subscription.sid, None) is subscription:
            self.broker.index.remove(subscription.subject, subscription, queue=subscription.queue)


def outstanding_messages(subscription: Subscription) -> int:
    """A queue member's outstanding work: messages queued for its connection."""
    return subscription.connection.outbound.messages


def deliver(subscription: Subscription, event: op.Pub | op.HPub) -> None:
    connection = subscription.connection
    subscription.delivered += 1
    if (
        subscription.max_messages is not None
        and subscription.delivered >= subscription.max_messages
    ):
        connection.remove(subscription)
    if isinstance(event, op.HPub) and connection.headers:
        message = op.HMsg(
            event.subject, subscription.sid, event.reply_to, event.headers, event.payload
        )
    else:
        message = op.Msg(event.subject, subscription.sid, event.reply_to, event.payload)
    connection.send(message, message=True)


def is_publish_subject(subject: str) -> bool:
    try:
        parse_subject(subject)
    except InvalidSubject:
        return False
    return True
