"""The chapter 05 broker behind mutual TLS, with tokens bound to the certificate's name.

Theory of operation
-------------------
Nothing new is routed here: the `Broker` of `reference/routing/broker.py`
does all of that. What changes is who gets to it. Each TCP connection
goes first through `TLSServer` (`reference/security/tls.py`), whose
context requires a client certificate from the deployment's CA; a client
without one, or with one from another CA, never gets a byte of NATS
(the refusal is kept in `refusals`). A client that passes hands its
`trio.SSLStream` to `Broker.handle_connection`, which speaks NATS over
it as over plain TCP.

The broker's ``authorize`` hook then reads the bearer token in CONNECT
(`token_authorizer`, `reference/security/broker_auth.py`), which yields
the grants: the member's room and nothing else. One more rule binds the
two proofs: the token's subject must be the name in the certificate, so
a member who copies another member's token cannot use it over its own
connection. The hook only sees CONNECT's options, so the certificate's
name reaches it in a context variable, set in the connection's task
before the broker starts on it (Trio tasks inherit the context they are
started from, so the connection's reader task sees it too).

    python -m reference.capstone broker --dir D --port 4222

prints ``{"listening": ["127.0.0.1", port]}`` once it listens.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import trio

from reference.capstone.credentials import ISSUER, load_broker
from reference.routing.authorization import NotAuthorized
from reference.routing.broker import SERVER_NAME, Broker
from reference.security.broker_auth import token_authorizer
from reference.security.permissions import Permissions
from reference.security.tls import TLSServer
from reference.security.tokens import InvalidToken, KeySet, verify_token

_certificate_name: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "certificate_name", default=None
)


def name_bound_authorizer(
    keys: KeySet, *, clock: Callable[[], float] = time.time
) -> Callable[[dict], Permissions]:
    """`token_authorizer`, and the token's subject must be the client certificate's name."""
    by_token = token_authorizer(keys, issuer=ISSUER, clock=clock)

    def authorize(connect_options: dict) -> Permissions:
        permissions = by_token(connect_options)  # NotAuthorized unless the token is good
        try:
            verified = verify_token(
                connect_options["auth_token"],
                keys,
                issuer=ISSUER,
                audience=SERVER_NAME,
                now=clock(),
            )
        except InvalidToken as error:  # expired between the two checks
            raise NotAuthorized(f"{type(error).__name__}: {error}") from error
        certificate_name = _certificate_name.get()
        if verified.claims.subject != certificate_name:
            raise NotAuthorized(
                f"token for {verified.claims.subject!r} on a connection of {certificate_name!r}"
            )
        return permissions

    return authorize


class SecureBroker:
    """A `Broker` reachable only over mutual TLS, for members with a token of their own name."""

    def __init__(self, directory: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        credentials = load_broker(directory)
        self.broker = Broker(authorize=name_bound_authorizer(credentials.token_keys, clock=clock))
        self.tls = TLSServer(credentials.tls, self._serve_client)

    @property
    def refusals(self) -> list[str]:
        """Why each failed TLS handshake failed, newest last."""
        return self.tls.refusals

    async def serve(
        self, port: int = 0, host: str = "127.0.0.1", *, task_status=trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen until cancelled; ``await nursery.start(secure.serve, 0)`` returns the port."""
        async with trio.open_nursery() as nursery:
            self.broker.port = await nursery.start(partial(self.tls.serve, port, host))
            self.broker.host = host
            task_status.started(self.broker.port)

    async def _serve_client(self, stream: trio.SSLStream, identity: str | None) -> None:
        _certificate_name.set(identity)
        await self.broker.handle_connection(stream)
