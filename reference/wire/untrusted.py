"""One policy for decoding CBOR that came from a peer: what is accepted, and one error for the rest.

Theory of operation
-------------------
Every part of the workbook that reads CBOR off the network — the RPC wire
format (chapter 03), the UDP runtime's datagrams (chapter 04), message
envelopes (chapter 02) — decodes it here, with `loads_untrusted`, so a
hostile peer meets the same rules everywhere. The decoder is `cbor2`'s; the
rules are ours:

- *Size*: at most `max_size` bytes, checked before decoding starts.
- *Depth*: containers nest at most `max_depth` deep (cbor2 counts it), so
  a few bytes of ``[[[[...`` cannot exhaust the stack.
- *Items*: at most `max_items` data items, counted before cbor2 builds
  anything. Size alone does not bound memory: an empty map is one byte on
  the wire and about 72 bytes in Python, so 1 MiB of ``0xa0`` bytes would
  decode into ~72 MiB. With the item count bounded, what a decoded value
  costs is bounded too: at most `max_items` objects (under 100 bytes each
  for the empty ones), plus its strings, which take at most 4 bytes of
  memory per byte received (Python stores a text holding one emoji at 4
  bytes a character). `count_items` does the counting (see there).
- *Exactly one item*: bytes left over after it are an error, not ignored.
- *Map keys* are text or byte strings, each at most once in a map. A
  duplicate key is refused (RFC 8949 §5.6: two readers could keep different
  values), and so is a key of any other type, which shuts out maps of
  crafted keys whose hashes collide.
- *Tags*: none but the bignums (tags 2 and 3), and those only up to
  `MAX_BIGNUM_BYTES`. cbor2 turns other tags into Python objects a message
  has no business holding: datetimes, decimals, regular expressions, sets,
  and shared references (tags 28 and 29), which can build a list that
  contains itself and send any code that walks it into endless recursion.
  A huge bignum costs little to send and much to use: Python refuses to
  print an integer of over 4,300 digits, so one in an error message would
  raise in the error handler.

Text must be valid UTF-8. Whatever is wrong, the one exception that escapes
is `MalformedCBOR`, whose message says what (callers add where: "the body
is not valid CBOR (...)"), and which callers turn into their own protocol
error (`ProtocolError`, `EnvelopeError`) or a counted drop.
"""

from __future__ import annotations

import io
from typing import Any

import cbor2

DEFAULT_MAX_SIZE = 1024 * 1024
DEFAULT_MAX_DEPTH = 32
DEFAULT_MAX_ITEMS = 100_000  # ~7 MiB of empty containers at worst; a 32-byte RPC call has 5
MAX_BIGNUM_BYTES = 16  # integers up to 128 bits
POSITIVE_BIGNUM, NEGATIVE_BIGNUM = 2, 3
# The tags that cbor2 6 decodes into objects of its own (found by trying every tag number
# up to 70,000: tests/wire/test_untrusted.py does it again, so an upgrade cannot add one).
CBOR2_BUILT_IN_TAGS = (0, 1, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261)
CBOR2_BUILT_IN_TAGS += (1004, 43000, 55799)


class MalformedCBOR(ValueError):
    """Bytes that are not one CBOR item of the kind this workbook accepts from a peer."""


def loads_untrusted(
    data: bytes,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> Any:
    """Decode one CBOR item from a peer under the policy above, or raise `MalformedCBOR`."""
    if len(data) > max_size:
        raise MalformedCBOR(f"{len(data)} bytes exceeds the maximum of {max_size} bytes")
    if len(data) > max_items:  # every item takes at least one byte: fewer bytes, fewer items
        count_items(data, limit=max_items)
    source = io.BytesIO(data)
    decoder = cbor2.CBORDecoder(
        source,
        max_depth=max_depth,
        allow_duplicate_keys=False,
        strict_hashable_types=True,
        semantic_decoders=_SEMANTIC_DECODERS,
        tag_hook=_refuse_unknown_tag,
    )
    try:
        value = decoder.decode()
    except Exception as exc:  # cbor2 raises several types for bad input
        raise MalformedCBOR(str(_our_reason(exc) or exc)) from None
    left_over = len(data) - source.tell()
    if left_over:
        raise MalformedCBOR(f"{left_over} bytes left over after the item")
    return value


def count_items(data: bytes, *, limit: int) -> int:
    """Count the CBOR data items in `data` from their heads alone; refuse more than `limit`.

    Every CBOR item starts with a head: a byte whose top 3 bits are the
    major type and whose low 5 say how long the argument that follows is
    (below 24: the argument itself; 24-27: 1, 2, 4 or 8 bytes of it). Only
    strings (major types 2 and 3) have a body after the head, `argument`
    bytes long, which we jump over; the items inside an array, a map or a
    tag are just the heads that come next. So one pass from left to right,
    never going back, visits every head once: linear time, and no memory
    beyond a few integers. Tags, the break byte of indefinite lengths and
    the chunks of indefinite strings are counted as items too, which errs
    on the safe side. The walk checks nothing else: what is malformed is
    left for cbor2 to find.
    """
    items, position, end = 0, 0, len(data)
    while position < end:
        items += 1
        if items > limit:
            raise MalformedCBOR(f"more than {limit} data items (the maximum, max_items)")
        major_type, info = data[position] >> 5, data[position] & 0x1F
        position += 1
        argument = info
        if 24 <= info <= 27:
            size = 1 << (info - 24)
            argument = int.from_bytes(data[position : position + size], "big")
            position += size
        if major_type in (2, 3) and info != 31:  # a string's body; 31: chunks follow instead
            position += argument
    return items


def _our_reason(exc: BaseException | None) -> MalformedCBOR | None:
    """The policy's own complaint, if cbor2 wrapped one raised from a hook."""
    while exc is not None and not isinstance(exc, MalformedCBOR):
        exc = exc.__cause__ or exc.__context__
    return exc


def _bignum(sign: int):
    def decode(magnitude: object, immutable: bool) -> int:
        if not isinstance(magnitude, bytes):
            raise MalformedCBOR(f"a bignum holds a byte string, not {type(magnitude).__name__}")
        if len(magnitude) > MAX_BIGNUM_BYTES:
            raise MalformedCBOR(
                f"a bignum of {len(magnitude)} bytes exceeds the maximum of {MAX_BIGNUM_BYTES}"
            )
        value = int.from_bytes(magnitude, "big")
        return value if sign > 0 else -1 - value

    return decode


def _refuse_tag(tag: int):
    def refuse(value: object, immutable: bool) -> None:
        raise MalformedCBOR(f"tag {tag} is not accepted")

    return refuse


def _refuse_unknown_tag(tag: cbor2.CBORTag, immutable: bool) -> None:
    # cbor2 6 calls tag hooks as hook(tag, immutable), like its semantic decoders.
    raise MalformedCBOR(f"tag {tag.tag} is not accepted")


_SEMANTIC_DECODERS = {tag: _refuse_tag(tag) for tag in CBOR2_BUILT_IN_TAGS}
_SEMANTIC_DECODERS[POSITIVE_BIGNUM] = _bignum(+1)
_SEMANTIC_DECODERS[NEGATIVE_BIGNUM] = _bignum(-1)
