"""A broker that speaks the NATS client protocol, in Trio.

Theory of operation
-------------------
A broker decouples publishers from subscribers: a publisher names a
subject, not a receiver, and the broker hands each message to whoever
subscribed to a matching filter. This one keeps every subscription of
every client in one `SubscriptionIndex` (`reference/routing/subjects.py`)
and runs one `Connection` per client
(`reference/routing/broker_connection.py`: the protocol, the limits, the
writer task). For each message published, `route` asks the index who
matches; every plain subscription gets a copy, and each queue group one,
for the member its policy (`reference/routing/queue_groups.py`) picks:
``"random"`` (seeded by `seed`), ``"round_robin"`` or
``"least_outstanding"``, or any object with a ``choose`` method.
Delivering only queues bytes on the subscriber's connection, so `route`
never waits, however slow a subscriber is.

With ``authorize`` (`reference/routing/authorization.py`), a client must
present credentials in CONNECT and may publish and subscribe only where
its grants allow; without it, as by default, anyone may do anything.

A subject that is not a valid publish subject (a wildcard, an empty
token) is not routed. (nats-server routes a wildcard subject as if it
were literal; nobody should rely on that.)

In a notebook cell::

    async with serve_broker(port=0) as broker:
        ...  # connect clients to 127.0.0.1:broker.port

or on a nursery, ``port = await nursery.start(broker.serve, 0)``. From a
shell: ``python -m reference.routing.broker --port 4222`` (it prints one
JSON line, ``{"listening": [host, port]}``, once it listens).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import trio

from reference.routing import operations as op
from reference.routing.authorization import Authorize
from reference.routing.broker_connection import (
    BrokerLimits,
    Connection,
    Subscription,
    deliver,
    outstanding_messages,
)
from reference.routing.queue_groups import POLICY_NAMES, QueuePolicy, make_policy
from reference.routing.subjects import InvalidSubject, SubscriptionIndex

SERVER_NAME = "workbook-broker"


class Broker:
    """The broker: one subscription index, the connections, and the limits.

    Serve it with `await nursery.start(broker.serve, port)` (or
    `serve_broker`), or hand it any Trio stream with `handle_connection`.
    """

    receive_size = 65536

    def __init__(
        self,
        limits: BrokerLimits | None = None,
        *,
        queue_policy: str | QueuePolicy = "random",
        seed: int | None = None,
        authorize: Authorize | None = None,
    ) -> None:
        self.limits = limits or BrokerLimits()
        self.authorize = authorize
        self.index = SubscriptionIndex()
        self.connections: dict[int, Connection] = {}
        self.closed: list[Connection] = []  # the most recent few, for inspection
        if isinstance(queue_policy, str):
            queue_policy = make_policy(
                queue_policy, rng=random.Random(seed), outstanding=outstanding_messages
            )
        self.queue_policy = queue_policy
        self.port: int | None = None
        self.host = "127.0.0.1"
        self._client_ids = itertools.count(1)

    def info(self, client_id: int) -> dict:
        info = {
            "server_id": SERVER_NAME,
            "server_name": SERVER_NAME,
            "version": "2.9.10",  # the nats-server release whose protocol this follows
            "proto": 1,
            "host": self.host,
            "port": self.port or 0,
            "headers": True,
            "max_payload": self.limits.max_payload,
            "client_id": client_id,
        }
        if self.authorize is not None:
            info["auth_required"] = True  # clients send credentials only when asked
        return info

    async def serve(
        self, port: int = 0, host: str = "127.0.0.1", *, task_status=trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen on host:port (0 picks a free port); report the port when ready."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        self.host, self.port = host, listeners[0].socket.getsockname()[1]
        task_status.started(self.port)
        await trio.serve_listeners(self.handle_connection, listeners)

    async def handle_connection(self, stream: trio.abc.Stream) -> None:
        """Speak NATS to one client over `stream` until it goes or is dropped."""
        connection = Connection(self, stream, next(self._client_ids))
        self.connections[connection.client_id] = connection
        await connection.run()

    def disconnect(self, connection: Connection) -> None:
        """Forget a connection and its subscriptions (it stops receiving at once)."""
        if self.connections.pop(connection.client_id, None) is None:
            return
        for subscription in list(connection.subscriptions.values()):
            connection.remove(subscription)
        self.closed = [*self.closed[-9:], connection]

    def route(self, publisher: Connection, event: op.Pub | op.HPub) -> None:
        """Deliver one published message to every subscription that should get it."""
        try:
            match = self.index.match(event.subject)
        except InvalidSubject:
            return

        def wants(subscription: Subscription) -> bool:  # echo off: not to oneself
            return publisher.echo or subscription.connection is not publisher

        receivers = [subscription for subscription in match.plain if wants(subscription)]
        for group, members in match.groups.items():
            if eligible := [member for member in members if wants(member)]:
                receivers.append(self.queue_policy.choose(group, eligible))
        for subscription in receivers:
            deliver(subscription, event)


@asynccontextmanager
async def serve_broker(port: int = 0, host: str = "127.0.0.1", **options) -> AsyncIterator[Broker]:
    """`async with serve_broker() as broker:` a broker on broker.port until the block ends."""
    broker = Broker(**options)
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(broker.serve, port, host))
        yield broker
        nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A broker that speaks the NATS client protocol.")
    parser.add_argument("--port", type=int, default=4222)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--queue-policy", default="random", choices=POLICY_NAMES)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--max-pending",
        type=int,
        default=BrokerLimits.max_pending,
        help="bytes queued for one client before it is dropped as a slow consumer",
    )
    arguments = parser.parse_args(argv)
    limits = BrokerLimits(max_pending=arguments.max_pending)
    broker = Broker(limits, queue_policy=arguments.queue_policy, seed=arguments.seed)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(partial(broker.serve, arguments.port, arguments.host))
            print(json.dumps({"listening": [arguments.host, port]}), flush=True)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops it quietly
        trio.run(run)


if __name__ == "__main__":
    main()
