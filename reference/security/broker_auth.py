"""The broker's `authorize` hook from bearer tokens: token, then scopes, then permissions.

Theory of operation
-------------------
A client connecting to the broker (`reference/routing/broker.py`) puts its
bearer token in CONNECT's ``"auth_token"``, where NATS clients send it
(``nats.connect(token=...)`` in nats-py). `token_authorizer` builds the
broker's ``authorize`` callable: it verifies the token
(`reference/security/tokens.py`) for this broker, the audience, and turns
the token's scopes (``{"pub": [...], "sub": [...]}``) into `Permissions`
(`reference/security/permissions.py`). Any failure, from a missing token
to an expired one or scopes that are not filters, is `NotAuthorized`; the
client only ever sees ``-ERR 'Authorization Violation'`` (telling a
stranger *why* would help them guess), while the broker keeps the reason
on the connection as ``refused_because``.

The token is checked once, at CONNECT: a connection outlives its token's
expiry, as it does in nats-server with bearer JWTs. The clock is a
parameter so that a test or the chapter can stand on an expiry edge.

    broker = Broker(authorize=token_authorizer(keys, issuer="workbook-issuer"))
"""

from __future__ import annotations

import time
from collections.abc import Callable

from reference.routing.authorization import NotAuthorized
from reference.routing.broker import SERVER_NAME
from reference.security.permissions import InvalidScopes, Permissions
from reference.security.tokens import InvalidToken, KeySet, verify_token


def token_authorizer(
    keys: KeySet,
    *,
    issuer: str,
    audience: str = SERVER_NAME,
    clock: Callable[[], float] = time.time,
    leeway: float = 0,
) -> Callable[[dict], Permissions]:
    """An ``authorize(connect_options)`` for the broker that reads a bearer token."""

    def authorize(connect_options: dict) -> Permissions:
        token = connect_options.get("auth_token")
        if not isinstance(token, str):
            raise NotAuthorized("CONNECT carries no auth_token")
        try:
            verified = verify_token(
                token, keys, issuer=issuer, audience=audience, now=clock(), leeway=leeway
            )
            return Permissions.from_scopes(verified.claims.scopes)
        except (InvalidToken, InvalidScopes) as error:
            raise NotAuthorized(f"{type(error).__name__}: {error}") from error

    return authorize
