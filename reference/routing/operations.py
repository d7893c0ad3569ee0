"""The operations of the NATS client protocol as events, and how each is written.

Theory of operation
-------------------
Every NATS operation is a small frozen dataclass: what a client sends
(`Connect`, `Pub`, `HPub`, `Sub`, `Unsub`), what a server sends (`Info`,
`Msg`, `HMsg`, `Ok`, `Err`) and what both send (`Ping`, `Pong`). `encode`
writes one as nats-server does: the operation's name and its arguments
separated by single spaces, CRLF, and for the four that carry one, the
payload and one more CRLF. A header block (`HPub`, `HMsg`) is the raw
``NATS/1.0`` block that goes in front of the payload; the control line
carries its size and the size of headers and payload together.

`encode` refuses what the wire cannot carry (a subject with a space, an
empty sid, an -ERR text of two lines) with `LocalProtocolError`: it is our
own mistake, not the peer's. Reading bytes back into these events is
`reference/routing/protocol.py`'s job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

CRLF = b"\r\n"

# --- events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Connect:
    options: dict


@dataclass(frozen=True)
class Info:
    options: dict


@dataclass(frozen=True)
class Pub:
    subject: str
    reply_to: str | None
    payload: bytes


@dataclass(frozen=True)
class HPub:
    subject: str
    reply_to: str | None
    headers: bytes  # the raw block, b"NATS/1.0\r\nName: value\r\n\r\n"
    payload: bytes


@dataclass(frozen=True)
class Sub:
    subject: str
    queue: str | None
    sid: str


@dataclass(frozen=True)
class Unsub:
    sid: str
    max_msgs: int | None = None


@dataclass(frozen=True)
class Msg:
    subject: str
    sid: str
    reply_to: str | None
    payload: bytes


@dataclass(frozen=True)
class HMsg:
    subject: str
    sid: str
    reply_to: str | None
    headers: bytes
    payload: bytes


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Pong:
    pass


@dataclass(frozen=True)
class Ok:
    pass


@dataclass(frozen=True)
class Err:
    message: str


Event = Connect | Info | Pub | HPub | Sub | Unsub | Msg | HMsg | Ping | Pong | Ok | Err
# --- errors -----------------------------------------------------------------------------------


class ProtocolError(Exception):
    """Someone broke the NATS protocol."""


class LocalProtocolError(ProtocolError):
    """We were asked to encode something the protocol cannot carry."""


# --- writing ----------------------------------------------------------------------------------


def encode(event: Event) -> bytes:
    """The bytes that carry `event` on the wire."""
    match event:
        case Connect(options) | Info(options):
            name = "CONNECT" if isinstance(event, Connect) else "INFO"
            return f"{name} {json.dumps(options, separators=(',', ':'))}\r\n".encode()
        case Pub(subject, reply_to, payload):
            return _line("PUB", subject, reply_to, len(payload)) + payload + CRLF
        case HPub(subject, reply_to, headers, payload):
            sizes = (len(headers), len(headers) + len(payload))
            return _line("HPUB", subject, reply_to, *sizes) + headers + payload + CRLF
        case Sub(subject, queue, sid):
            return _line("SUB", subject, queue, sid)
        case Unsub(sid, max_msgs):
            if max_msgs is not None and max_msgs < 0:
                raise LocalProtocolError(f"max_msgs must not be negative, not {max_msgs}")
            return _line("UNSUB", sid, max_msgs)
        case Msg(subject, sid, reply_to, payload):
            return _line("MSG", subject, sid, reply_to, len(payload)) + payload + CRLF
        case HMsg(subject, sid, reply_to, headers, payload):
            sizes = (len(headers), len(headers) + len(payload))
            return _line("HMSG", subject, sid, reply_to, *sizes) + headers + payload + CRLF
        case Ping():
            return b"PING\r\n"
        case Pong():
            return b"PONG\r\n"
        case Ok():
            return b"+OK\r\n"
        case Err(message):
            if "\r" in message or "\n" in message:
                raise LocalProtocolError(f"an -ERR text must be one line: {message!r}")
            return f"-ERR '{message}'\r\n".encode()
    raise LocalProtocolError(f"not a NATS event: {event!r}")


def _line(name: str, *arguments: str | int | None) -> bytes:
    words = [name]
    for argument in arguments:
        if argument is None:
            continue
        word = str(argument)
        if not word or any(space in word for space in " \t\r\n"):
            raise LocalProtocolError(f"{name} argument {word!r} is empty or holds white space")
        words.append(word)
    return " ".join(words).encode() + CRLF
