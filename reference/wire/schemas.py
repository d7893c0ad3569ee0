"""Message envelopes: a type, an id, a version and a body that can evolve.

Theory of operation
-------------------
Bytes that arrive are a claim, not a message. A reader turns them into a
`Message` only after checking everything about them, and says exactly what
was wrong otherwise. Every message travels in the same *envelope*, a CBOR
map with four keys::

    {"type": "order.placed", "id": 7, "version": 2, "body": {"sku": "A-1", "quantity": 3}}

`type` selects a `Schema`, which lists the body's fields: a name, the
Python types a value may have, a default, and the version that added it.
`id` lets a receiver match replies and drop duplicates (chapters 03 and
04). `version` is the version of the body's schema the writer used.

Writers and readers are upgraded at different times, so a reader meets
bodies older and newer than its own schema, and accepts both:

- An *older* body lacks the fields added since. Every field added after
  version 1 must have a default (a `Schema` refuses one without), so the
  reader fills in the defaults and the message is then a message of the
  reader's version.
- A *newer* body may hold fields this reader has never heard of. The
  schema's rule decides: "keep" puts them in `Message.unknown`, and
  `encode` writes them out again, so a relay that is older than both ends
  forwards them intact (what Protocol Buffers does); "ignore" drops them,
  and the message becomes a message of the reader's version.

A field is never renamed or given a new meaning. It is added, with a
default; an optional field may stop being written, and readers that still
list it take its default; a required field stays required for good. That
discipline, not the format, is what makes evolution work. Versions older
than `Schema.oldest` are refused by name.

What is refused, with an `EnvelopeError` naming the field: input that is
not one well-formed CBOR item or is larger than `max_message_size`; an
envelope that is not a map of exactly the four keys; an unknown type; an
id that is not an unsigned 64-bit integer; a version that is not a
positive integer or is older than the schema supports; a body that is
not a map with text keys; a missing required field; a value of the wrong
type (True is not an int here, though Python says it is).

A version 1 writer and a version 2 reader::

    >>> V1 = Schema("order.placed", 1, (Field("sku", str), Field("quantity", int)))
    >>> V2 = Schema("order.placed", 2, (*V1.fields, Field("gift", bool, False, since=2)))
    >>> data = encode(V1.message(7, {"sku": "A-1", "quantity": 3}))
    >>> message = MessageReader([V2]).decode(data)
    >>> message.version, message.body
    (2, {'sku': 'A-1', 'quantity': 3, 'gift': False})
    >>> MessageReader([V2]).decode(data[:-1])
    Traceback (most recent call last):
    ...
    reference.wire.schemas.EnvelopeError: envelope: not well-formed CBOR: ...
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from reference.wire import cbor
from reference.wire.untrusted import MalformedCBOR, loads_untrusted

ENVELOPE_KEYS = ("type", "id", "version", "body")
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024
MAX_DEPTH = 16  # the envelope, the body, and 14 levels of nesting inside the body


class EnvelopeError(ValueError):
    """A message was refused; `field` says where ("body.quantity", "id", ...)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


@dataclass(frozen=True)
class Field:
    """One field of a body: its name, allowed types, default and first version."""

    name: str
    types: type | tuple[type, ...]
    default: object = REQUIRED
    since: int = 1

    def check(self, value: object) -> None:
        allowed = self.types if isinstance(self.types, tuple) else (self.types,)
        # True is an int in Python, but on the wire it is not a number.
        wrong_bool = isinstance(value, bool) and bool not in allowed
        if wrong_bool or not isinstance(value, allowed):
            expected = " or ".join(t.__name__ for t in allowed)
            raise EnvelopeError(
                f"body.{self.name}", f"expected {expected}, got {type(value).__name__}"
            )


@dataclass(frozen=True)
class Schema:
    """The body of one message type, at the version this program writes."""

    type: str
    version: int
    fields: tuple[Field, ...]
    unknown_fields: Literal["keep", "ignore"] = "keep"
    oldest: int = 1

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.type}: a field name appears twice")
        if self.unknown_fields not in ("keep", "ignore"):
            raise ValueError(f"{self.type}: unknown_fields is 'keep' or 'ignore'")
        for f in self.fields:
            if not 1 <= f.since <= self.version:
                raise ValueError(f"{self.type}.{f.name}: since must be 1..{self.version}")
            if f.since > 1 and f.default is REQUIRED:
                raise ValueError(
                    f"{self.type}.{f.name} was added in version {f.since}, so it needs a"
                    " default for bodies written before then"
                )

    def message(self, id: int, body: Mapping[str, object]) -> Message:
        """A new message of this type at the current version, checked."""
        known = {f.name for f in self.fields}
        for name in body:
            if name not in known:
                raise EnvelopeError(f"body.{name}", f"not a field of {self.type} v{self.version}")
        return self.read_body(id, self.version, body)

    def read_body(self, id: int, version: int, body: Mapping[str, object]) -> Message:
        """Check a body written at `version`: fill defaults, keep or drop unknowns."""
        if not _is_int(id) or not 0 <= id < 2**64:
            raise EnvelopeError("id", f"expected an unsigned 64-bit integer, got {_describe(id)}")
        if not _is_int(version) or version < 1:
            raise EnvelopeError("version", f"expected a positive integer, got {_describe(version)}")
        if version < self.oldest:
            raise EnvelopeError(
                "version",
                f"{self.type} v{version} is no longer accepted (oldest is v{self.oldest})",
            )
        checked: dict[str, object] = {}
        for f in self.fields:
            if f.name in body:
                f.check(body[f.name])
                checked[f.name] = body[f.name]
            elif f.default is REQUIRED:
                raise EnvelopeError(f"body.{f.name}", "required field is missing")
            else:
                checked[f.name] = copy.deepcopy(f.default)
        if self.unknown_fields == "ignore":
            return Message(self.type, id, self.version, checked)
        unknown = {name: value for name, value in body.items() if name not in checked}
        return Message(self.type, id, max(version, self.version), checked, unknown)


@dataclass(frozen=True)
class Message:
    """A checked message. `version` is the schema version the body now satisfies;
    `unknown` holds the fields a newer writer added, when the schema keeps them."""

    type: str
    id: int
    version: int
    body: Mapping[str, object]
    unknown: Mapping[str, object] = field(default_factory=dict)


def encode(message: Message) -> bytes:
    """The envelope as deterministic CBOR; kept unknown fields go back in the body."""
    body = {**message.body, **message.unknown}
    envelope = {"type": message.type, "id": message.id, "version": message.version, "body": body}
    return cbor.dumps(envelope, canonical=True)


class MessageReader:
    """Turns untrusted bytes into checked `Message`s, or raises `EnvelopeError`."""

    def __init__(
        self, schemas: Iterable[Schema], *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    ) -> None:
        self.schemas = {schema.type: schema for schema in schemas}
        self.max_message_size = max_message_size

    def decode(self, data: bytes) -> Message:
        if len(data) > self.max_message_size:
            raise EnvelopeError(
                "envelope", f"{len(data)} bytes exceeds the maximum of {self.max_message_size}"
            )
        try:
            envelope = loads_untrusted(data, max_size=self.max_message_size, max_depth=MAX_DEPTH)
        except MalformedCBOR as error:
            raise EnvelopeError("envelope", f"not well-formed CBOR: {error}") from None
        return self.read(envelope)

    def read(self, envelope: object) -> Message:
        """Check an envelope that is already decoded."""
        if not isinstance(envelope, dict):
            raise EnvelopeError("envelope", f"expected a map, got {type(envelope).__name__}")
        for key in ENVELOPE_KEYS:
            if key not in envelope:
                raise EnvelopeError(key, "missing from the envelope")
        for key in envelope:
            if key not in ENVELOPE_KEYS:
                raise EnvelopeError("envelope", f"unexpected key {_describe(key)}")
        message_type, body = envelope["type"], envelope["body"]
        if not isinstance(message_type, str):
            raise EnvelopeError("type", f"expected str, got {type(message_type).__name__}")
        if message_type not in self.schemas:
            raise EnvelopeError("type", f"unknown message type {_describe(message_type)}")
        if not isinstance(body, dict):
            raise EnvelopeError("body", f"expected a map, got {type(body).__name__}")
        for name in body:
            if not isinstance(name, str):
                raise EnvelopeError("body", f"field names are text, got {_describe(name)}")
        schema = self.schemas[message_type]
        return schema.read_body(envelope["id"], envelope["version"], body)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(value: object) -> str:
    """Untrusted input in an error message: short values shown, the rest by type."""
    if (_is_int(value) and abs(value) < 10**20) or (isinstance(value, str) and len(value) < 40):
        return repr(value)
    return f"a value of type {type(value).__name__}"
