"""What the NATS client (`reference/routing/client.py`) can be in, and what it raises.

Theory of operation
-------------------
A client is CONNECTING until its first server answers, then CONNECTED,
RECONNECTING while it dials the next server after a loss, and CLOSED for
good once closed or out of reconnect attempts. Every error the client
raises is a `ClientError`, so an application catches one class; a
publish while disconnected with a full buffer raises
`reference.routing.reconnect.ReconnectBufferFull` instead, since waiting
would wait for a server that may never come back.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


class ClientError(Exception):
    """Something the client cannot do."""


class NoServersAvailable(ClientError):
    """No server of the list answered the first time round."""


class ConnectionClosed(ClientError):
    """The client is closed, or gave up reconnecting."""


class MaxPayloadExceeded(ClientError):
    """A message larger than the server's max_payload (from its INFO)."""


class ServerError(ClientError):
    """The server answered -ERR to something sent before this flush or request."""
