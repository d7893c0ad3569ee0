"""Who may connect, publish and subscribe: the broker's authorization hook.

Theory of operation
-------------------
By default the broker lets anyone connect and publish or subscribe to
anything. Give it an ``authorize`` callable and it asks, once per client,
at CONNECT: ``authorize(connect_options)`` gets the CONNECT options (a
NATS client sends its token as ``"auth_token"``) and either returns the
client's *grants*, any object with ``may_publish(subject)`` and
``may_subscribe(filter)`` (``reference/security/permissions.py`` has one),
or raises `NotAuthorized`.

The broker then answers as nats-server 2.9.10 does (observed over a raw
socket with users and permissions in its configuration file):

- no credentials, wrong ones, or any operation before CONNECT:
  ``-ERR 'Authorization Violation'``, and the connection closes;
- a PUB outside the grants: ``-ERR 'Permissions Violation for Publish to
  "SUBJECT"'``; the message is not routed and the connection stays open;
- a SUB outside the grants: ``-ERR 'Permissions Violation for
  Subscription to "FILTER"'``; nothing is subscribed, the connection
  stays open. With ``verbose`` on, a refused operation gets its ``-ERR``
  instead of ``+OK``, not both.

The broker also tells clients in INFO (``"auth_required": true``): nats-py
sends its credentials only to a server that asks for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

AUTHORIZATION_VIOLATION = "Authorization Violation"


class NotAuthorized(Exception):
    """`authorize` refuses a client; the message says why (it is not sent)."""


class Grants(Protocol):
    """What one authorized client may do."""

    def may_publish(self, subject: str) -> bool: ...
    def may_subscribe(self, filter_text: str) -> bool: ...


Authorize = Callable[[dict], Grants]


def publish_violation(subject: str) -> str:
    """nats-server's -ERR text for a PUB outside the grants."""
    return f'Permissions Violation for Publish to "{subject}"'


def subscription_violation(filter_text: str) -> str:
    """nats-server's -ERR text for a SUB outside the grants."""
    return f'Permissions Violation for Subscription to "{filter_text}"'
