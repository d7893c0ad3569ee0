"""TLS and mutual TLS over Trio: strict contexts, and a server that knows who its client is.

Theory of operation
-------------------
TLS gives a byte stream three things: secrecy, integrity, and the
server's identity, proved by a certificate chain that ends at a
certificate authority (CA) the client trusts. *Mutual* TLS makes the
client prove its identity the same way, which lets the server decide
who may do what without passwords or tokens.

Everything here is the standard library's `ssl` driven by
`trio.SSLStream`; the code only chooses the settings:

- `server_context(certificate, key, client_ca=None)`: TLS 1.3 at least;
  with `client_ca`, mutual TLS: ``verify_mode = CERT_REQUIRED``, and a
  client certificate must chain to that CA.
- `client_context(ca, certificate=None, key=None)`: TLS 1.3 at least,
  the server's chain checked against `ca` (``CERT_REQUIRED``) and its
  name against the host name we meant (``check_hostname``); with a
  certificate and key, the client can answer a mutual-TLS server.

`serve_tls` (or `TLSServer.serve` on a nursery) accepts TCP
connections, runs the handshake under a deadline, and hands each
authenticated stream to a handler with the client's identity
(`peer_identity`: the certificate's subject common name, else its first
subject alternative name; None without a certificate). The default
handler, `greet_and_echo`, writes ``hello <identity>`` and a newline,
then echoes every byte back. A handshake that fails is not the
handler's business: the server records why in `TLSServer.refusals` and
closes the connection.

Who sees a refusal where: a client that rejects the server (another
CA, an expired certificate, the wrong host name) fails in its own
handshake. In TLS 1.3 the client's certificate travels in the client's
last handshake flight, so the client's handshake is done before the
server has judged it; a client the server refuses finds out on its
first receive. What it finds is only that the connection ended
(``UNEXPECTED_EOF_WHILE_READING``): when a handshake fails,
`trio.SSLStream` raises without sending the alert that `ssl` prepared,
so the reason stays with the side that refused (`openssl s_client`,
by contrast, does send its alerts). `tls_error_reason` digs the `ssl`
reason out of the `trio.BrokenResourceError` that carries it.

From a shell (prints one JSON line once it listens)::

    python -m reference.security.tls serve --port 8443 --cert server.pem --key server.key \\
        --ca clients-ca.pem
"""

from __future__ import annotations

import argparse
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import trio

HANDSHAKE_TIMEOUT = 10.0  # seconds a client gets to finish its handshake
MAX_REFUSALS_KEPT = 100

Handler = Callable[[trio.SSLStream, "str | None"], Awaitable[None]]


def server_context(
    certificate: str | Path, key: str | Path, *, client_ca: str | Path | None = None
) -> ssl.SSLContext:
    """A server's settings: TLS 1.3 at least; with `client_ca`, mutual TLS (clients must prove)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(certificate, key)
    if client_ca is not None:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(
    ca: str | Path, *, certificate: str | Path | None = None, key: str | Path | None = None
) -> ssl.SSLContext:
    """A client's settings: TLS 1.3 at least; the server's chain and host name both checked."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED  # already the default: said here so it is read
    context.check_hostname = True
    if certificate is not None:
        context.load_cert_chain(certificate, key)
    return context


def peer_identity(stream: trio.SSLStream) -> str | None:
    """Who the verified peer certificate names: its common name, else its first alternative name."""
    certificate = stream.getpeercert()
    if not certificate:
        return None
    for relative_name in certificate.get("subject", ()):
        for attribute, value in relative_name:
            if attribute == "commonName":
                return value
    alternative_names = certificate.get("subjectAltName", ())
    return alternative_names[0][1] if alternative_names else None


def tls_error_reason(error: BaseException) -> str:
    """The `ssl` reason behind a failed TLS operation, e.g. ``"TLSV1_ALERT_UNKNOWN_CA"``."""
    while error is not None and not isinstance(error, ssl.SSLError):
        error = error.__cause__ or error.__context__
    if error is None:
        return "not a TLS error"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"{error.reason}: {error.verify_message}"
    return str(error.reason)


async def greet_and_echo(stream: trio.SSLStream, identity: str | None) -> None:
    """Say ``hello <identity>``, then send back every byte received until the client closes."""
    await stream.send_all(f"hello {identity or 'anonymous'}\n".encode())
    async for chunk in stream:
        await stream.send_all(chunk)


class TLSServer:
    """Accepts TLS connections, runs the handshake, and hands the client's identity to a handler."""

    def __init__(self, context: ssl.SSLContext, handler: Handler = greet_and_echo) -> None:
        self.context = context
        self.handler = handler
        self.port: int | None = None
        self.identities: list[str | None] = []  # of every client that completed a handshake
        self.refusals: list[str] = []  # why each failed handshake failed, newest last
        self._refusal_recorded = trio.Event()

    async def serve(
        self, port: int = 0, host: str = "127.0.0.1", *, task_status=trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen until cancelled; ``await nursery.start(server.serve, 0)`` returns the port."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self.port)
        await trio.serve_listeners(self._serve_connection, listeners)

    async def wait_refusals(self, count: int) -> list[str]:
        """Wait until at least `count` handshakes have failed; return the reasons."""
        while len(self.refusals) < count:
            await self._refusal_recorded.wait()
        return self.refusals

    async def _serve_connection(self, tcp_stream: trio.SocketStream) -> None:
        stream = trio.SSLStream(tcp_stream, self.context, server_side=True)
        try:
            with trio.fail_after(HANDSHAKE_TIMEOUT):
                await stream.do_handshake()
        except (trio.BrokenResourceError, trio.TooSlowError) as error:
            reason = "handshake timed out" if isinstance(error, trio.TooSlowError) else None
            self._refuse(reason or tls_error_reason(error))
            await trio.aclose_forcefully(tcp_stream)
            return
        identity = peer_identity(stream)
        self.identities.append(identity)
        try:
            await self.handler(stream, identity)
        except trio.BrokenResourceError:
            pass  # the client went away; nothing to answer
        finally:
            await trio.aclose_forcefully(stream)

    def _refuse(self, reason: str) -> None:
        self.refusals = [*self.refusals[-MAX_REFUSALS_KEPT + 1 :], reason]
        self._refusal_recorded.set()
        self._refusal_recorded = trio.Event()


@asynccontextmanager
async def serve_tls(
    context: ssl.SSLContext,
    handler: Handler = greet_and_echo,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
) -> AsyncIterator[TLSServer]:
    """`async with serve_tls(context) as server:` a TLS server on server.port for the block."""
    server = TLSServer(context, handler)
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(server.serve, port, host))
        yield server
        nursery.cancel_scope.cancel()


async def connect_tls(
    port: int,
    context: ssl.SSLContext,
    *,
    server_hostname: str = "localhost",
    host: str = "127.0.0.1",
) -> trio.SSLStream:
    """Connect to `host` and finish the handshake; the certificate must name `server_hostname`."""
    tcp_stream = await trio.open_tcp_stream(host, port)
    stream = trio.SSLStream(tcp_stream, context, server_hostname=server_hostname)
    try:
        await stream.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(tcp_stream)
        raise
    return stream


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="A TLS echo server that greets its client by name."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve greet-and-echo over TLS")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--cert", required=True, help="the server's certificate chain (PEM)")
    serve.add_argument("--key", required=True, help="the server's private key (PEM)")
    serve.add_argument("--ca", help="require client certificates issued by this CA (mutual TLS)")
    arguments = parser.parse_args(argv)
    context = server_context(arguments.cert, arguments.key, client_ca=arguments.ca)
    server = TLSServer(context)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(partial(server.serve, arguments.port, arguments.host))
            listening = {
                "listening": [arguments.host, port],
                "mutual_tls": arguments.ca is not None,
            }
            print(json.dumps(listening), flush=True)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops it quietly
        trio.run(run)


if __name__ == "__main__":
    main()
