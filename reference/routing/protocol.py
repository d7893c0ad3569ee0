"""The NATS client protocol without I/O: bytes in, events out; events in, bytes out.

Theory of operation
-------------------
NATS speaks text lines over TCP. Each operation is a *control line* that
starts with its name (case does not matter) and ends with CRLF; PUB, HPUB,
MSG and HMSG are followed by a payload of the announced size and one more
CRLF::

    client -> server                   server -> client
    CONNECT {"verbose":false}          INFO {"max_payload":1048576}
    SUB orders.* 7                     MSG orders.new 7 5
    PUB orders.new 5                   hello
    hello                              PING
    PONG                               +OK  or  -ERR 'Unknown Protocol Operation'

Each operation is a small frozen dataclass (`Pub`, `Msg`, ...), and
`encode` turns one into bytes (both in `reference/routing/operations.py`).
`ProtocolReader` is the other half, in the style of
h11: `feed` it whatever arrived (`b""` means the peer closed), then call
`next_event` until it says `NEED_DATA`. A reader has a *role*, the side
that owns it: a `SERVER` reader accepts what clients send, a `CLIENT`
reader what servers send; anything else is an unknown operation.

A hostile peer cannot make the reader hold much: a line with no end is
refused once it passes `max_control_line` bytes, and a size over
`max_payload` is refused on its control line, before a byte of the payload
is buffered. If the caller feeds only after `NEED_DATA`, the reader holds
at most one unfinished operation plus the chunk it was just fed.

Errors a peer causes are `RemoteProtocolError`s; each carries `err_text`,
the text nats-server 2.9.10 replies with in `-ERR` before it closes (or
None where it closes without a word). Observed over a raw socket:

======================================  ===========================================
input                                   nats-server 2.9.10
======================================  ===========================================
``FOO``, an empty line, ``MSG`` sent    ``-ERR 'Unknown Protocol Operation'``, close
by a client, a payload not followed
by CRLF
``PUB a 2000000``                       ``-ERR 'Maximum Payload Violation'``, close
a control line over 4096 bytes          ``-ERR 'maximum control line exceeded'``, close
(lower case in 2.9.10)
``PUB a``, ``PUB a b``, ``SUB a``,      close, no ``-ERR`` (logs "processPub Parse Error")
``CONNECT {bad``
``ping``, ``PiNg``, a line ending in    accepted
LF alone, tabs between arguments
======================================  ===========================================

Two differences on purpose: nats-server checks the control line length
only when a line arrives split across reads (its comment calls the check
"not exact at all"); this reader checks every line, exactly. And it
refuses ``PINGX`` and ``UNSUB 1 x``, which nats-server lets through.
Subjects are not checked here: ``-ERR 'Invalid Subject'`` (SUB) and
``-ERR 'Invalid Publish Subject'`` (PUB, connection kept) are the broker's.
"""

from __future__ import annotations

import enum
import json
import re

from reference.routing.operations import (
    CRLF,
    Connect,
    Err,
    Event,
    HMsg,
    HPub,
    Info,
    LocalProtocolError,
    Msg,
    Ok,
    Ping,
    Pong,
    ProtocolError,
    Pub,
    Sub,
    Unsub,
)

DEFAULT_MAX_CONTROL_LINE = 4096
DEFAULT_MAX_PAYLOAD = 1_048_576


class Role(enum.Enum):
    """Who owns a reader: a `SERVER` reads what clients send, a `CLIENT` what servers send."""

    CLIENT = "client"
    SERVER = "server"

    def __repr__(self) -> str:
        return self.name


CLIENT, SERVER = Role.CLIENT, Role.SERVER


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


NEED_DATA = _Sentinel("NEED_DATA")  # feed more bytes, then ask again
CLOSED = _Sentinel("CLOSED")  # the peer closed the stream cleanly, between operations


# --- errors ------------------------------------------------------------------------------------


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that are not the protocol; `err_text` is nats-server's reply."""

    err_text: str | None = None


class UnknownOperation(RemoteProtocolError):
    err_text = "Unknown Protocol Operation"


class MissingPayloadEnd(UnknownOperation):
    """The payload is not followed by CRLF: its size was wrong (nats-server: unknown operation)."""


class ControlLineTooLong(RemoteProtocolError):
    err_text = "maximum control line exceeded"


class PayloadTooLarge(RemoteProtocolError):
    err_text = "Maximum Payload Violation"


class MalformedArguments(RemoteProtocolError):
    """A known operation with the wrong arguments (nats-server closes without -ERR)."""


class TruncatedInput(RemoteProtocolError):
    """The stream ended inside an operation."""


# --- reading ----------------------------------------------------------------------------------

_ACCEPTED = {
    SERVER: {"CONNECT", "PUB", "HPUB", "SUB", "UNSUB", "PING", "PONG"},
    CLIENT: {"INFO", "MSG", "HMSG", "+OK", "-ERR", "PING", "PONG"},
}
_FIRST_WORD = re.compile(rb"([^ \t]*)[ \t]*(.*)", re.DOTALL)  # white space is space and tab
_WORD = re.compile(rb"[^ \t]+")
_ARGUMENT_COUNTS = {  # (fewest, most) white-space separated arguments
    "PUB": (2, 3),
    "HPUB": (3, 4),
    "SUB": (2, 3),
    "UNSUB": (1, 2),
    "MSG": (3, 4),
    "HMSG": (4, 5),
    "PING": (0, 0),
    "PONG": (0, 0),
    "+OK": (0, 0),
}


class ProtocolReader:
    """Sans-I/O reader: `feed(bytes)`, then `next_event()` until `NEED_DATA`.

    >>> reader = ProtocolReader(CLIENT)
    >>> reader.feed(b"MSG news 1 5\\r\\nhel")
    >>> reader.next_event()
    NEED_DATA
    >>> reader.feed(b"lo\\r\\nping\\n")
    >>> reader.next_event()
    Msg(subject='news', sid='1', reply_to=None, payload=b'hello')
    >>> reader.next_event()
    Ping()
    """

    def __init__(
        self,
        role: Role,
        max_control_line: int = DEFAULT_MAX_CONTROL_LINE,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
    ) -> None:
        self.role = role
        self.max_control_line = max_control_line
        self.max_payload = max_payload
        self._buffer = bytearray()
        self._start = 0  # bytes before this are consumed; dropped at the next feed
        self._awaiting: tuple[str, list[str], int, int] | None = None  # a parsed line's payload
        self._ended = False
        self._error: RemoteProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned inside an event."""
        return len(self._buffer) - self._start

    def feed(self, data: bytes) -> None:
        """Add received bytes; `b""` means the peer closed the stream."""
        if self._ended:
            raise LocalProtocolError("feed() called after end of stream")
        if not data:
            self._ended = True
            return
        del self._buffer[: self._start]
        self._start = 0
        self._buffer += data

    def next_event(self) -> Event | _Sentinel:
        """The next complete event, `NEED_DATA`, or `CLOSED` after a clean end of stream.

        After a `RemoteProtocolError` the stream cannot be trusted to be in
        step again, so every later call raises the same error.
        """
        if self._error is not None:
            raise self._error
        try:
            event = self._payload_event() if self._awaiting else self._control_line_event()
        except RemoteProtocolError as error:
            self._error = error
            self._buffer.clear()
            self._start = 0
            raise
        if event is NEED_DATA and self._ended:
            if self.buffered or self._awaiting:
                self._error = TruncatedInput(
                    f"stream ended inside an operation ({self.buffered} B)"
                )
                raise self._error
            return CLOSED
        return event

    def _control_line_event(self) -> Event | _Sentinel:
        limit = self._start + self.max_control_line + 2  # room for the CRLF
        end = self._buffer.find(b"\n", self._start, limit)
        if end < 0:
            unfinished = self.buffered - self._buffer.endswith(b"\r")
            if unfinished > self.max_control_line:
                raise ControlLineTooLong(f"a control line over {self.max_control_line} bytes")
            return NEED_DATA
        line = bytes(self._buffer[self._start : end]).removesuffix(b"\r")
        if len(line) > self.max_control_line:
            raise ControlLineTooLong(f"a control line of {len(line)} bytes")
        self._start = end + 1
        return self._parse_line(line)

    def _parse_line(self, line: bytes) -> Event | _Sentinel:
        name, rest = _FIRST_WORD.fullmatch(line).groups()
        name = name.upper().decode("ascii", "replace")
        if name not in _ACCEPTED[self.role]:
            raise UnknownOperation(f"{self.role!r} does not accept {line[:40]!r}")
        if name in ("CONNECT", "INFO"):
            return _json_event(name, rest)
        if name == "-ERR":
            return Err(_text(rest.strip()).removeprefix("'").removesuffix("'"))
        words = [_text(word) for word in _WORD.findall(rest)]
        fewest, most = _ARGUMENT_COUNTS[name]
        if not fewest <= len(words) <= most:
            raise MalformedArguments(f"{name} takes {fewest} to {most} arguments: {line[:80]!r}")
        match name:
            case "PING":
                return Ping()
            case "PONG":
                return Pong()
            case "+OK":
                return Ok()
            case "SUB":
                return Sub(words[0], words[1] if len(words) == 3 else None, words[-1])
            case "UNSUB":
                return Unsub(words[0], _size(words[1]) if len(words) == 2 else None)
        return self._expect_payload(name, words)

    def _expect_payload(self, name: str, words: list[str]) -> _Sentinel:
        with_headers = name in ("HPUB", "HMSG")
        sizes = [_size(word) for word in words[-2:]] if with_headers else [0, _size(words[-1])]
        header_size, total_size = sizes
        if header_size > total_size:
            raise MalformedArguments(f"{name} header size {header_size} over total {total_size}")
        if total_size > self.max_payload:
            raise PayloadTooLarge(f"{name} of {total_size} bytes over {self.max_payload}")
        self._awaiting = (
            name,
            words[: -len(sizes) if with_headers else -1],
            header_size,
            total_size,
        )
        return self._payload_event()

    def _payload_event(self) -> Event | _Sentinel:
        name, words, header_size, total_size = self._awaiting
        if self.buffered < total_size + 2:
            return NEED_DATA
        start, end = self._start, self._start + total_size
        if self._buffer[end : end + 2] != CRLF:
            raise MissingPayloadEnd(f"{name} payload of {total_size} bytes not followed by CRLF")
        headers = bytes(self._buffer[start : start + header_size])
        payload = bytes(self._buffer[start + header_size : end])
        self._start = end + 2
        self._awaiting = None
        reply_to = words[-1] if len(words) == (2 if name in ("PUB", "HPUB") else 3) else None
        match name:
            case "PUB":
                return Pub(words[0], reply_to, payload)
            case "HPUB":
                return HPub(words[0], reply_to, headers, payload)
            case "MSG":
                return Msg(words[0], words[1], reply_to, payload)
        return HMsg(words[0], words[1], reply_to, headers, payload)


def _json_event(name: str, rest: bytes) -> Connect | Info:
    try:
        options = json.loads(rest)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise MalformedArguments(f"{name} needs a JSON object: {error}") from None
    if not isinstance(options, dict):
        raise MalformedArguments(f"{name} needs a JSON object, not {type(options).__name__}")
    return Connect(options) if name == "CONNECT" else Info(options)


def _text(word: bytes) -> str:
    try:
        return word.decode()
    except UnicodeDecodeError:
        raise MalformedArguments(f"not UTF-8: {word[:40]!r}") from None


def _size(word: str) -> int:
    if not (word.isascii() and word.isdigit()):
        raise MalformedArguments(f"a size must be decimal digits, not {word!r}")
    return int(word)
