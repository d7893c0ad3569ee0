"""A NATS client on Trio: publish, subscribe, request/reply, and reconnect to the next server.

Theory of operation
-------------------
::

    async with connect(["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]) as client:
        subscription = await client.subscribe("orders.*")
        await client.publish("orders.new", b"hello")
        async for message in subscription:           # Msg (or HMsg, with headers)
            ...
        with trio.fail_after(2):                     # the deadline is the caller's
            answer = await client.request("prices.get", b"ABC")

`connect` dials the servers in turn until one answers; a background task
then keeps the client connected (`connection.py`: a reader task hands each
event to `_dispatch`, a writer task sends the outbox). When the connection
drops it dials the next server (`reconnect.py`: backoff, and a bounded
outbox for publishes made meanwhile) and replays CONNECT, a SUB for every
live subscription (and an UNSUB with what is left of its `max_msgs`), the
held messages, and a PING per waiting `flush`, so `flush` stays a barrier
across a reconnect. What the old connection wrote but the server never
routed is lost: NATS core delivers at most once.

Subscriptions hold a bounded number of messages (`subscription.py`);
`request` uses one wildcard inbox (`inbox.py`). A request takes no
timeout: its deadline is the caller's cancel scope (`trio.fail_after`
around the call), as for every Trio operation, so a request inside a
larger deadline needs nothing more, and nothing is threaded through.
"""

from __future__ import annotations

import itertools
import ssl
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import trio

from reference.routing.client_errors import (
    ClientError,
    ConnectionClosed,
    MaxPayloadExceeded,
    NoServersAvailable,
    ServerError,
    State,
)
from reference.routing.connection import CONNECTION_ERRORS, connect_options, open_connection, serve
from reference.routing.inbox import Inbox, raise_if_no_responders
from reference.routing.operations import (
    Err,
    HMsg,
    HPub,
    Info,
    Msg,
    Ok,
    Ping,
    Pong,
    Pub,
    Sub,
    Unsub,
    encode,
)
from reference.routing.protocol import DEFAULT_MAX_PAYLOAD, ProtocolReader
from reference.routing.reconnect import Outbox, backoff_delay, parse_server
from reference.routing.subscription import Subscription, encode_headers


class _PongWaiter:
    def __init__(self) -> None:
        self.answered = trio.Event()
        self.error: ClientError | None = None


@asynccontextmanager
async def connect(servers: list, **options) -> AsyncIterator[Client]:
    """A connected `Client` (the keyword options are `Client`'s), closed on exit."""
    client = Client(servers, **options)
    first_connection = await client._connect_first()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client._keep_connected, first_connection)
        try:
            yield client
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()


class Client:
    """One client connection (to one server of `servers` at a time); use it through `connect`."""

    def __init__(
        self,
        servers: list,
        *,
        name: str = "workbook",
        connect_timeout: float = 2.0,
        reconnect_wait: float = 0.1,
        reconnect_wait_max: float = 2.0,
        max_reconnect_attempts: int | None = 60,
        reconnect_buffer_size: int = 8 * 1024 * 1024,
        pending_msgs_limit: int = 65536,
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not servers:
            raise ValueError("connect needs at least one server")
        self.servers = [parse_server(server) for server in servers]
        self.name = name
        self.connect_timeout = connect_timeout
        self.reconnect_wait = reconnect_wait
        self.reconnect_wait_max = reconnect_wait_max
        self.max_reconnect_attempts = max_reconnect_attempts
        self.pending_msgs_limit = pending_msgs_limit
        self.token = token  # sent in every CONNECT, as "auth_token"
        self.ssl_context = ssl_context  # TLS from the first byte, on every (re)connection
        self.state = State.CONNECTING
        self.server: tuple[str, int] | None = None  # the one we are connected to
        self.server_info: dict = {}
        self.reconnects = 0
        self.last_error: str | None = None  # the latest -ERR text
        self.pings_answered = 0  # the server's PINGs; a client that does not answer is dropped
        self._outbox = Outbox(reconnect_buffer_size)
        self._subscriptions: dict[str, Subscription] = {}
        self._sids = itertools.count(1)
        self._pongs: deque[_PongWaiter] = deque()  # oldest first, one per PING sent
        self._state_changed = trio.lowlevel.ParkingLot()
        self._inbox = Inbox()
        self._inbox_subscription: Subscription | None = None

    # --- the application's side ---------------------------------------------------------

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        *,
        reply_to: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Send one message; held in the outbox if disconnected (bounded)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_open()
        if headers is None:
            event, size = Pub(subject, reply_to, payload), len(payload)
        else:
            block = encode_headers(headers)
            event, size = HPub(subject, reply_to, block, payload), len(block) + len(payload)
        limit = self.server_info.get("max_payload", DEFAULT_MAX_PAYLOAD)
        if size > limit:
            raise MaxPayloadExceeded(f"{size} bytes to {subject!r}; the server takes {limit}")
        data = encode(event)
        while self.state is State.CONNECTED and not self._outbox.has_room_for(len(data)):
            await self._outbox.wait_for_room()
            self._check_open()
        self._outbox.put_message(data, connected=self.state is State.CONNECTED)

    async def subscribe(
        self, subject: str, queue: str | None = None, *, pending_msgs_limit: int | None = None
    ) -> Subscription:
        """A new subscription to `subject` (in queue group `queue`): iterate it for messages."""
        subscription = self._subscribe_nowait(subject, queue, pending_msgs_limit)
        await trio.lowlevel.checkpoint()
        return subscription

    def _subscribe_nowait(
        self, subject: str, queue: str | None, pending_msgs_limit: int | None
    ) -> Subscription:
        self._check_open()
        sid = str(next(self._sids))
        operation = encode(Sub(subject, queue, sid))  # a subject with a space fails here
        limit = self.pending_msgs_limit if pending_msgs_limit is None else pending_msgs_limit
        subscription = Subscription(subject, queue, sid, limit, self._unsubscribe)
        self._subscriptions[sid] = subscription
        self._outbox.put(operation, replayable=False)
        return subscription

    async def flush(self) -> None:
        """Return once the server has handled everything sent before (a PING/PONG round trip).

        Raises `ServerError` if the server answered -ERR in between.
        """
        self._check_open()
        waiter = _PongWaiter()
        self._pongs.append(waiter)
        self._outbox.put(encode(Ping()), replayable=False)
        await waiter.answered.wait()
        if waiter.error is not None:
            raise waiter.error

    async def request(
        self, subject: str, payload: bytes = b"", *, headers: dict[str, str] | None = None
    ) -> Msg | HMsg:
        """Publish with a fresh reply subject and return the first reply.

        No timeout of its own: put the call in `trio.fail_after(seconds)`.
        """
        if self._inbox_subscription is None:  # made without a checkpoint: requests share it
            self._inbox_subscription = self._subscribe_nowait(self._inbox.wildcard, None, None)
        with self._inbox.expect_reply() as (reply_to, replies):
            await self.publish(subject, payload, reply_to=reply_to, headers=headers)
            reply = await replies.receive()
        raise_if_no_responders(reply, subject)
        return reply

    async def wait_disconnected(self) -> None:
        """Return once the connection is lost (or the client closed)."""
        while self.state is State.CONNECTED:
            await self._state_changed.park()

    async def wait_reconnected(self, count: int) -> None:
        """Return once the client has reconnected at least `count` times in all."""
        while self.reconnects < count or self.state is not State.CONNECTED:
            self._check_open()
            await self._state_changed.park()

    async def aclose(self) -> None:
        """Send what waits (while connected, for up to `connect_timeout`), then close for good."""
        if self.state is State.CONNECTED:
            with trio.move_on_after(self.connect_timeout) as scope:
                scope.shield = True
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._cancel_when_disconnected, nursery.cancel_scope)
                    with suppress(ClientError):
                        await self.flush()
                    nursery.cancel_scope.cancel()
        self._close_for_good()
        await trio.lowlevel.checkpoint()

    async def _cancel_when_disconnected(self, scope: trio.CancelScope) -> None:
        await self.wait_disconnected()
        scope.cancel()

    # --- used by Subscription -----------------------------------------------------------

    def _unsubscribe(self, subscription: Subscription, max_msgs: int | None) -> None:
        if max_msgs is None or subscription.received >= max_msgs:
            self._subscriptions.pop(subscription.sid, None)
            self._outbox.put(encode(Unsub(subscription.sid)), replayable=False)
            subscription._end()
        else:
            subscription.max_msgs = max_msgs
            self._outbox.put(encode(Unsub(subscription.sid, max_msgs)), replayable=False)

    def _check_open(self) -> None:
        if self.state is State.CLOSED:
            raise ConnectionClosed("the client is closed")

    # --- keeping connected ---------------------------------------------------------------

    async def _connect_first(self) -> tuple[int, trio.abc.Stream, ProtocolReader]:
        """Dial each server once, in order; the first that answers, or `NoServersAvailable`."""
        failures = []
        for index, (host, port) in enumerate(self.servers):
            try:
                return (index, *await self._dial(index))
            except CONNECTION_ERRORS as error:
                failures.append(f"{host}:{port}: {error!r}")
        raise NoServersAvailable(f"no server answered: {'; '.join(failures)}")

    async def _keep_connected(self, connection: tuple) -> None:
        """Serve a connection; when it is lost, reconnect to the next server, and so on."""
        while connection is not None:
            index, stream, reader = connection
            try:
                await serve(stream, reader, self._outbox, self._dispatch)
            finally:
                with trio.CancelScope(shield=True):
                    await stream.aclose()
            if self.state is State.CLOSED:
                return
            self._set_state(State.RECONNECTING)
            connection = await self._reconnect(after=index)
            self.reconnects += connection is not None
        self._close_for_good()

    async def _reconnect(self, after: int) -> tuple | None:
        """Dial the servers after `after`, round and round, with backoff; None on giving up."""
        attempts = self.max_reconnect_attempts
        for failures in itertools.count() if attempts is None else range(attempts):
            if failures:
                wait, longest = self.reconnect_wait, self.reconnect_wait_max
                await trio.sleep(backoff_delay(failures, len(self.servers), wait, longest))
            index = (after + 1 + failures) % len(self.servers)
            with suppress(*CONNECTION_ERRORS):
                return (index, *await self._dial(index))
        return None

    async def _dial(self, index: int) -> tuple[trio.abc.Stream, ProtocolReader]:
        """Open a connection to server `index`; once it is up to date, we are connected."""
        stream, reader, info = await open_connection(
            self.servers[index],
            connect_options(self.name, self.token),
            self._dispatch,
            self._replay,
            self.connect_timeout,
            self.ssl_context,
        )
        self.server_info = info.options
        self.server = self.servers[index]
        self._set_state(State.CONNECTED)
        return stream, reader

    def _replay(self) -> bytes:
        """What a new connection needs: every live SUB, the held messages, a PING per flush."""
        operations = []
        for subscription in self._subscriptions.values():
            operations.append(
                encode(Sub(subscription.subject, subscription.queue, subscription.sid))
            )
            if subscription.max_msgs is not None:
                left = subscription.max_msgs - subscription.received
                operations.append(encode(Unsub(subscription.sid, left)))
        operations.append(self._outbox.take_replayable())
        operations += [encode(Ping())] * len(self._pongs)
        return b"".join(operations)

    def _dispatch(self, event) -> None:
        match event:
            case Msg(sid=sid) | HMsg(sid=sid):
                subscription = self._subscriptions.get(sid)
                if subscription is None:
                    return  # an UNSUB on its way: the server sent this before it arrived
                if subscription is self._inbox_subscription:
                    self._inbox.answer(event)
                else:
                    subscription._deliver(event)
                    if subscription.received_all:
                        del self._subscriptions[sid]
            case Ping():
                self._outbox.put(encode(Pong()), replayable=False)
                self.pings_answered += 1
            case Pong():
                if self._pongs:
                    self._pongs.popleft().answered.set()
            case Err(message):
                self.last_error = message
                for waiter in self._pongs:
                    waiter.error = waiter.error or ServerError(message)
            case Info(options):
                self.server_info = options
            case Ok():
                pass

    def _set_state(self, state: State) -> None:
        self.state = state
        self._state_changed.unpark_all()

    def _close_for_good(self) -> None:
        self._set_state(State.CLOSED)
        for subscription in self._subscriptions.values():
            subscription._end()
        self._subscriptions.clear()
        for waiter in self._pongs:
            waiter.error = waiter.error or ConnectionClosed("the client closed")
            waiter.answered.set()
        self._pongs.clear()
        self._outbox.take_replayable()
