"""One connection of the NATS client to one server: the handshake, then a reader and a writer.

Theory of operation
-------------------
`open_connection` dials a server and does the handshake: the server
speaks first with INFO (its limits: a max_payload over the reader's
default raises the reader's limit to match); we answer with
CONNECT (who we are, that we understand headers) and a PING, and the
connection counts as open only when the PONG comes back, because a server
that refuses us (-ERR 'Authorization Violation') says so before that PONG.
Then it writes `replay()`, whatever the client needs this new server to
know (its subscriptions, the messages held while disconnected).

`serve` then runs two tasks until either fails: a reader that hands every
event to `on_event` and a writer that sends whatever waits in the outbox,
many operations per `send_all`. Either side failing (EOF, a reset, bytes
that are not the protocol) ends both, and the client decides what next.
Every byte goes through `ProtocolReader` and `encode`: no second parser.

With an `ssl.SSLContext`, the connection is TLS from the first byte (as
nats-server's ``tls_first``, and as a broker behind `trio.SSLStream`
expects): the handshake, checking the server's certificate against the
host name dialled, comes before INFO. With a token, CONNECT carries it as
``"auth_token"``, where nats-py puts ``nats.connect(token=...)``.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import trio

from reference.routing.operations import Connect, Err, Event, Info, Ping, Pong, encode
from reference.routing.protocol import (
    CLIENT,
    CLOSED,
    NEED_DATA,
    ProtocolReader,
    RemoteProtocolError,
)
from reference.routing.reconnect import Outbox

RECEIVE_SIZE = 65536


class ConnectionLost(Exception):
    """The server closed the connection, or did not begin it as NATS does."""


class ServerRefused(ConnectionLost):
    """The server answered our CONNECT with -ERR."""


CONNECTION_ERRORS = (
    OSError,
    trio.BrokenResourceError,
    trio.TooSlowError,
    RemoteProtocolError,
    ConnectionLost,
)


def connect_options(name: str, token: str | None = None) -> dict:
    options = {
        "verbose": False,
        "pedantic": False,
        "name": name,
        "lang": "python-trio-workbook",
        "version": "0.1",
        "protocol": 1,
        "headers": True,
        "no_responders": True,  # a request nobody subscribes to is answered at once with 503
    }
    if token is not None:
        options["auth_token"] = token
    return options


async def open_connection(
    address: tuple[str, int],
    options: dict,
    on_event: Callable[[Event], None],
    replay: Callable[[], bytes],
    timeout: float,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[trio.abc.Stream, ProtocolReader, Info]:
    """Dial, do the handshake within `timeout` seconds, send `replay()`; the open connection."""
    with trio.fail_after(timeout):
        stream: trio.abc.Stream = await trio.open_tcp_stream(*address)
        try:
            if ssl_context is not None:
                stream = trio.SSLStream(stream, ssl_context, server_hostname=address[0])
                await stream.do_handshake()
            reader = ProtocolReader(CLIENT)
            info = await receive_event(stream, reader)
            if not isinstance(info, Info):
                raise ConnectionLost(f"the server began with {info!r}, not INFO")
            reader.max_payload = max(reader.max_payload, info.options.get("max_payload", 0))
            await stream.send_all(encode(Connect(options)) + encode(Ping()))
            while not isinstance(event := await receive_event(stream, reader), Pong):
                if isinstance(event, Err):
                    raise ServerRefused(event.message)
                on_event(event)
            await stream.send_all(replay())
        except BaseException:
            with trio.CancelScope(shield=True):
                await stream.aclose()
            raise
    return stream, reader, info


async def receive_event(stream: trio.abc.Stream, reader: ProtocolReader) -> Event:
    """The next event from the server; `ConnectionLost` at the end of the stream."""
    while (event := reader.next_event()) is NEED_DATA:
        reader.feed(await stream.receive_some(RECEIVE_SIZE))
    if event is CLOSED:
        raise ConnectionLost("the server closed the connection")
    return event


async def serve(
    stream: trio.abc.Stream,
    reader: ProtocolReader,
    outbox: Outbox,
    on_event: Callable[[Event], None],
) -> None:
    """Read events and write the outbox until either side of the connection fails."""

    async def read_loop() -> None:
        while True:
            on_event(await receive_event(stream, reader))

    async def write_loop() -> None:
        while True:
            await stream.send_all(await outbox.take_all())

    async with trio.open_nursery() as nursery:
        for loop in (read_loop, write_loop):
            nursery.start_soon(_until_lost, nursery.cancel_scope, loop)


async def _until_lost(scope: trio.CancelScope, loop: Callable) -> None:
    try:
        await loop()
    except CONNECTION_ERRORS:
        pass
    finally:
        scope.cancel()
