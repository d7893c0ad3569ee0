"""The RPC wire format: four kinds of message, how they are encoded, how they are checked.

Theory of operation
-------------------
An RPC layer makes "ask another process to run a function" look like a
call. On the wire there are four kinds of message, each a CBOR map
(chapter 02) in one length-prefixed frame (chapter 01)::

    request       {"id": 7, "method": "add", "params": [2, 3]}
    notification  {"method": "log", "params": ["hello"]}      no id, no reply
    result        {"id": 7, "result": 5}
    error reply   {"id": 7, "error": {"type": "ZeroDivisionError", "message": "..."}}

The *id* is a correlation id: the client picks it (reference/rpc/pending.py),
the server copies it into the reply, and the client uses it to match the
reply to its call. That is what lets many calls share one connection and
their replies come back in any order. An error reply with no id is a
*farewell*: it is about the connection, not a call ("you sent garbage, I
am hanging up").

Here each kind is a small frozen dataclass. `encode_message` turns one into
CBOR bytes; `decode_message` turns bytes back into one, or raises
`ProtocolError`. Decoding is where a hostile or broken peer meets our
code, so it checks everything and trusts nothing:

- the bytes must be exactly one CBOR item that the workbook's one policy
  for untrusted CBOR accepts (reference/wire/untrusted.py: no trailing
  bytes, at most 32 levels deep, map keys text or bytes and each once, no
  tags but small bignums);
- the item must be a map; an id must be an integer from 0 to 2**64-1 (what
  CBOR encodes in a head of at most 9 bytes, with no bignum), a method
  text, params an array, an error a map of two texts;
- it must be exactly one of the four shapes above.

Error messages describe a peer's values briefly (`describe`), never by
their `repr`: the repr of a 1 MiB string is 1 MiB, and Python refuses to
turn an integer of over 4,300 digits into text at all.

A request whose id could be read but which is otherwise malformed carries
that id in `ProtocolError.call_id`, so the server can answer it with an
`InvalidRequest` error and keep the connection; anything else leaves the
stream untrustworthy and ends the connection.

Errors keep their meaning across the wire. A method that raises becomes an
error reply with the exception's type name and message, and the caller
gets a `RemoteError` carrying both. The server's own complaints use the
names below (`MethodNotFound`, `InvalidParams`, `InvalidRequest`, and
`ServerBusy` for a call refused unrun because the server is at a limit of
reference/rpc/limits.py, so it is safe to try again later). A reply
that cannot be sent — its value is not CBOR, or too large for a frame —
becomes, through `encode_reply`, an error reply that says so.

Nothing here does I/O: the Trio client (reference/rpc/client.py), the Trio
server (reference/rpc/server.py) and the blocking client
(reference/rpc/blocking.py) share this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cbor2

from reference.wire.framing import FrameTooLarge, encode_frame
from reference.wire.untrusted import MalformedCBOR, loads_untrusted

METHOD_NOT_FOUND = "MethodNotFound"
INVALID_PARAMS = "InvalidParams"
INVALID_REQUEST = "InvalidRequest"
SERVER_BUSY = "ServerBusy"
_LARGEST_ID = 2**64 - 1


class RpcError(Exception):
    """Base class for the errors an RPC call can raise."""


class ConnectionLost(RpcError):
    """The connection ended before the call was answered."""


class RemoteError(RpcError):
    """The remote side answered the call with an error."""

    def __init__(self, type: str, message: str) -> None:
        super().__init__(f"{type}: {message}")
        self.type = type
        self.message = message


class ProtocolError(RpcError):
    """A message does not follow the wire format.

    `call_id` is set when the message was a request whose id could be read,
    so that the error can be answered without closing the connection.
    """

    def __init__(self, reason: str, call_id: int | None = None) -> None:
        super().__init__(reason)
        self.call_id = call_id


@dataclass(frozen=True)
class Request:
    id: int
    method: str
    params: list[Any]


@dataclass(frozen=True)
class Notification:
    method: str
    params: list[Any]


@dataclass(frozen=True)
class Result:
    id: int
    value: Any


@dataclass(frozen=True)
class ErrorReply:
    id: int | None  # None: a farewell, about the connection rather than a call
    type: str
    message: str


Message = Request | Notification | Result | ErrorReply


def encode_message(message: Message) -> bytes:
    """The CBOR body of `message` (raises `cbor2.CBOREncodeError` if it cannot be)."""
    match message:
        case Request(call_id, method, params):
            body = {"id": call_id, "method": method, "params": params}
        case Notification(method, params):
            body = {"method": method, "params": params}
        case Result(call_id, value):
            body = {"id": call_id, "result": value}
        case ErrorReply(call_id, error_type, text):
            body = {} if call_id is None else {"id": call_id}
            body["error"] = {"type": error_type, "message": text}
    return cbor2.dumps(body)


def encode_reply(reply: Result | ErrorReply, max_frame_size: int) -> bytes:
    """The frame of `reply`; if it cannot be sent, the frame of an error reply saying why."""
    try:
        return encode_frame(encode_message(reply), max_frame_size=max_frame_size)
    except (cbor2.CBOREncodeError, FrameTooLarge) as exc:
        problem = f"the result could not be sent: {exc}"
        return encode_frame(encode_message(ErrorReply(reply.id, type(exc).__name__, problem)))


def decode_message(payload: bytes) -> Message:
    """Parse and check one message body; raise `ProtocolError` if it is malformed."""
    body = _decode_cbor(payload)
    if not isinstance(body, dict):
        raise ProtocolError(f"a message must be a CBOR map, not {type(body).__name__}")
    call_id = body.get("id")
    if "id" in body and not _is_call_id(call_id):
        raise ProtocolError(f"id must be an integer from 0 to 2**64-1, not {describe(call_id)}")
    if "method" in body:
        return _decode_call(body, call_id)
    if ("result" in body) == ("error" in body):
        raise ProtocolError("a message needs a method, a result or an error (one of the last two)")
    if "result" in body:
        if call_id is None:
            raise ProtocolError("a result needs the id of its request")
        return Result(call_id, body["result"])
    error = body["error"]
    if not (
        isinstance(error, dict)
        and isinstance(error.get("type"), str)
        and isinstance(error.get("message"), str)
    ):
        raise ProtocolError("error must be a map with text fields 'type' and 'message'")
    return ErrorReply(call_id, error["type"], error["message"])


def _decode_call(body: dict[Any, Any], call_id: int | None) -> Request | Notification:
    if "result" in body or "error" in body:
        raise ProtocolError("a request cannot carry a result or an error", call_id)
    method, params = body["method"], body.get("params", [])
    if not isinstance(method, str):
        raise ProtocolError("method must be a text string", call_id)
    if not isinstance(params, list):
        raise ProtocolError("params must be an array", call_id)
    if call_id is None:
        return Notification(method, params)
    return Request(call_id, method, params)


def _decode_cbor(payload: bytes) -> Any:
    try:  # the frame's size was checked by the framing layer
        return loads_untrusted(payload, max_size=len(payload))
    except MalformedCBOR as exc:
        raise ProtocolError(f"the body is not valid CBOR ({exc})") from None


def describe(value: object, width: int = 40) -> str:
    """A peer's value in at most about `width` characters, whatever its type or size."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        text = repr(value[: width + 1] if isinstance(value, str | bytes) else value)
        return text if len(text) <= width else text[: width - 3] + "..."
    return f"a value of type {type(value).__name__}"


def _is_call_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _LARGEST_ID
