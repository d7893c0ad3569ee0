"""A barrier for the real NATS client, nats-py: know that the server has seen what you sent.

Theory of operation
-------------------
nats-py (built on asyncio) queues what you send and writes it from a task
of its own. Its `flush()` sends a PING and waits for the PONG, but it can
return before a SUB queued just before it has reached the server (seen
against nats-server 2.9), so "subscribe, flush, publish" may lose the first
message. `settle(client)` is a barrier that cannot be early: it subscribes
to a fresh inbox, publishes a probe to it, and returns once the probe comes
back — by then the server has handled everything the client sent before.
The tests and bench/broker.py use it with nats-py against our broker and
against nats-server.
"""

from __future__ import annotations

import asyncio

import nats


async def settle(client: nats.NATS) -> None:
    """Return once the server has handled everything `client` sent before."""
    inbox = client.new_inbox()
    arrived = asyncio.Event()

    async def on_probe(msg):
        arrived.set()

    probe = await client.subscribe(inbox, cb=on_probe)
    await client.publish(inbox, b"")
    await client.flush()
    await arrived.wait()
    await probe.unsubscribe()
