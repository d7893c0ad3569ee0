"""CBOR (RFC 8949): a small codec to read in one sitting, and a correct one.

Theory of operation
-------------------
Every CBOR item starts with a *head*. Its first byte holds a *major type*
in the top 3 bits and *additional information* in the low 5 bits::

    initial byte:  m m m a a a a a
                   \\___/ \\_______/
                  major   additional information (0..31)

The additional information says where the *argument* is: 0..23 is the
argument itself; 24, 25, 26, 27 say that it follows in 1, 2, 4 or 8
big-endian bytes; 31 means "indefinite length" (or, in major type 7,
"break"); 28..30 are reserved and never well-formed. What the argument
means depends on the major type (RFC 8949 §3.1):

    0 unsigned integer   the argument is the value
    1 negative integer   the value is -1 - argument
    2 byte string        the argument is the length; that many bytes follow
    3 text string        same, and the bytes must be valid UTF-8
    4 array              the argument is the number of items that follow
    5 map                the argument is the number of key/value pairs
    6 tag                the argument is a tag number; one item follows
    7 simple and float   false, true, null, simple values, and floats
                         (additional information 25, 26, 27: half,
                         single, double precision)

So `dumps({"id": 7})` is `a1 62 69 64 07`: a map of 1 pair (a1), a text
string of length 2 (62) holding "id" (69 64), the unsigned integer 7.

Integers beyond 64 bits travel as *bignums*: tag 2 (or 3 for negative)
around a byte string holding the magnitude. Other tags come back as
`Tag(tag, value)`; simple values other than false/true/null as `Simple`.

`dumps` writes definite lengths only and the shortest head for every
argument. With `canonical=True` it follows the core deterministic
encoding of RFC 8949 §4.2.1, so equal values give equal bytes (which is
what a signature needs, chapter 07): each float in the shortest of half,
single and double precision that keeps its exact value (NaN as the half
0xf97e00), and the keys of every map sorted by the bytes of their
encodings.

`loads` reads what any encoder may write, including indefinite lengths
(RFC 8949 §3.2), and trusts nothing. A peer controls every length we
read, so before allocating anything `loads` checks a declared length
against the bytes that remain (an array of n items needs at least n more
bytes) and against `max_size`, and it counts nesting against
`max_depth`. It also refuses what is well-formed but not acceptable: bytes
after the one item, a bignum tag around anything but a byte string, a map
key that Python cannot hash (an array or a map), and a duplicate key
(RFC 8949 §5.6; keys that Python holds equal, such as 1 and true, count
as duplicates, since a dict would silently keep only one). Whatever is
wrong with the input, the one exception that escapes is `CBORDecodeError`,
which says what and at which offset.
"""

from __future__ import annotations

import math
import struct

from reference.wire.cbor_model import (
    ARRAY,
    BREAK,
    BYTE_STRING,
    DOUBLE,
    FALSE,
    HALF,
    INDEFINITE,
    MAJOR_TYPE_NAMES,
    MAP,
    NEGATIVE_BIGNUM,
    NEGATIVE_INT,
    NULL,
    POSITIVE_BIGNUM,
    SIMPLE_OR_FLOAT,
    SINGLE,
    TAG,
    TEXT_STRING,
    TRUE,
    UNSIGNED_INT,
    Simple,
    Tag,
)

DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_SIZE = 16 * 1024 * 1024
DEEPEST_SUPPORTED = 200  # each level of nesting costs the decoder up to three Python frames

_FLOAT_FORMATS = {HALF: ">e", SINGLE: ">f", DOUBLE: ">d"}
_CANONICAL_NAN = b"\xf9\x7e\x00"
_SIMPLE_MEANINGS = {FALSE: False, TRUE: True, NULL: None}


class CBORDecodeError(ValueError):
    """The input is not one well-formed CBOR item, or exceeds our limits."""


# ---------------------------------------------------------------- encoding


def encode_head(major_type: int, argument: int) -> bytes:
    """The head of an item: major type and the shortest form of `argument`.

    >>> encode_head(UNSIGNED_INT, 10).hex(), encode_head(TEXT_STRING, 500).hex()
    ('0a', '7901f4')
    """
    if argument < 0:
        raise ValueError(f"an argument is never negative, got {argument}")
    if argument < 24:
        return bytes([major_type << 5 | argument])
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 1 << (8 * width):
            return bytes([major_type << 5 | info]) + argument.to_bytes(width, "big")
    raise ValueError(f"argument {argument} does not fit in 64 bits")


def dumps(obj: object, *, canonical: bool = False) -> bytes:
    """Encode `obj` as one CBOR item (see the module docstring)."""
    out = bytearray()
    _encode(obj, out, canonical)
    return bytes(out)


def _encode(obj: object, out: bytearray, canonical: bool) -> None:
    if isinstance(obj, str):
        encoded = obj.encode("utf-8")
        out += encode_head(TEXT_STRING, len(encoded))
        out += encoded
    elif obj is None:
        out.append(SIMPLE_OR_FLOAT << 5 | NULL)
    elif isinstance(obj, bool):  # before int: True is an int in Python, not in CBOR
        out.append(SIMPLE_OR_FLOAT << 5 | (TRUE if obj else FALSE))
    elif isinstance(obj, int):
        _encode_int(obj, out)
    elif isinstance(obj, bytes | bytearray):
        out += encode_head(BYTE_STRING, len(obj))
        out += obj
    elif isinstance(obj, float):
        out += _encode_float(obj, canonical)
    elif isinstance(obj, list | tuple):
        out += encode_head(ARRAY, len(obj))
        for item in obj:
            _encode(item, out, canonical)
    elif isinstance(obj, dict):
        out += encode_head(MAP, len(obj))
        if canonical:
            # RFC 8949 §4.2.1: sort by the bytes of each key's encoding.
            pairs = [(dumps(key, canonical=True), value) for key, value in obj.items()]
            for key_bytes, value in sorted(pairs, key=lambda pair: pair[0]):
                out += key_bytes
                _encode(value, out, canonical)
        else:
            for key, value in obj.items():
                _encode(key, out, canonical)
                _encode(value, out, canonical)
    elif isinstance(obj, Tag):
        out += encode_head(TAG, obj.tag)
        _encode(obj.value, out, canonical)
    elif isinstance(obj, Simple):
        out += encode_head(SIMPLE_OR_FLOAT, obj.value)
    else:
        raise TypeError(f"cannot encode an object of type {type(obj).__name__} as CBOR")


def _encode_int(value: int, out: bytearray) -> None:
    major_type, argument = (UNSIGNED_INT, value) if value >= 0 else (NEGATIVE_INT, -1 - value)
    if argument < 2**64:
        out += encode_head(major_type, argument)
    else:  # a bignum: the magnitude as a byte string without leading zeros, tagged
        out += encode_head(TAG, POSITIVE_BIGNUM if major_type == UNSIGNED_INT else NEGATIVE_BIGNUM)
        magnitude = argument.to_bytes((argument.bit_length() + 7) // 8, "big")
        out += encode_head(BYTE_STRING, len(magnitude))
        out += magnitude


def _encode_float(value: float, canonical: bool) -> bytes:
    if not canonical:
        return bytes([SIMPLE_OR_FLOAT << 5 | DOUBLE]) + struct.pack(">d", value)
    if math.isnan(value):
        return _CANONICAL_NAN
    for info in (HALF, SINGLE):
        try:
            packed = struct.pack(_FLOAT_FORMATS[info], value)
        except OverflowError:  # too large for this width
            continue
        if struct.unpack(_FLOAT_FORMATS[info], packed)[0] == value:
            return bytes([SIMPLE_OR_FLOAT << 5 | info]) + packed
    return bytes([SIMPLE_OR_FLOAT << 5 | DOUBLE]) + struct.pack(">d", value)


# ---------------------------------------------------------------- decoding


def loads(
    data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH, max_size: int = DEFAULT_MAX_SIZE
) -> object:
    """Decode exactly one CBOR item from `data`.

    `max_depth` bounds how deeply arrays, maps and tags nest; `max_size`
    bounds the length any string (in bytes) or container (in items) may
    declare. Raises `CBORDecodeError` for anything other than one
    well-formed, acceptable item within those limits.
    """
    if not 0 <= max_depth <= DEEPEST_SUPPORTED:
        raise ValueError(f"max_depth must be between 0 and {DEEPEST_SUPPORTED}")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"loads() takes bytes, not {type(data).__name__}")
    decoder = Decoder(bytes(data), max_depth, max_size)
    value = decoder.decode_item(0)
    if decoder.position != len(decoder.data):
        raise CBORDecodeError(
            f"expected exactly one item, but {len(decoder.data) - decoder.position} more"
            f" byte(s) follow it at offset {decoder.position}"
        )
    return value


class Decoder:
    """The decoding state over one input: `loads` uses it, and so does `annotate`
    (reference/wire/cbor_explain.py), which walks the same heads to explain them."""

    def __init__(self, data: bytes, max_depth: int, max_size: int) -> None:
        self.data = data
        self.position = 0
        self.max_depth = max_depth
        self.max_size = max_size

    def fail(self, problem: str) -> CBORDecodeError:
        return CBORDecodeError(f"{problem} (at offset {self.position})")

    def read(self, count: int) -> bytes:
        end = self.position + count
        if end > len(self.data):  # checked before slicing: a false length costs nothing
            raise self.fail(f"{count} bytes are longer than the rest of the input")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def read_head(self) -> tuple[int, int, int]:
        """Return (major type, additional information, argument)."""
        if self.position >= len(self.data):
            raise self.fail("input ends where an item should start")
        initial = self.data[self.position]
        self.position += 1
        major_type, info = initial >> 5, initial & 0x1F
        if info < 24:
            return major_type, info, info
        if info < 28:  # the argument follows in 1, 2, 4 or 8 bytes
            return major_type, info, int.from_bytes(self.read(1 << (info - 24)), "big")
        if info == INDEFINITE:
            return major_type, info, 0
        raise self.fail(f"reserved additional information {info} in initial byte 0x{initial:02x}")

    def at_break(self) -> bool:
        """Consume a break (0xff) if one is next; inside indefinite lengths only."""
        if self.position < len(self.data) and self.data[self.position] == BREAK:
            self.position += 1
            return True
        return False

    def check_size(self, length: int, what: str) -> None:
        if length > self.max_size:
            raise self.fail(f"{what} of length {length} exceeds max_size {self.max_size}")

    def check_length(self, length: int, bytes_per_item: int, what: str) -> None:
        """Refuse a container's declared length before allocating anything for it."""
        self.check_size(length, what)
        if length * bytes_per_item > len(self.data) - self.position:
            raise self.fail(f"{what} of length {length} is longer than the rest of the input")

    def decode_item(self, depth: int) -> object:
        major_type, info, argument = self.read_head()
        if info == INDEFINITE:
            return self.decode_indefinite(major_type, depth)
        if major_type == UNSIGNED_INT:
            return argument
        if major_type == NEGATIVE_INT:
            return -1 - argument
        if major_type in (BYTE_STRING, TEXT_STRING):
            return self.read_string(major_type, argument)
        if depth >= self.max_depth and major_type != SIMPLE_OR_FLOAT:
            raise self.fail(f"nested deeper than max_depth {self.max_depth}")
        if major_type == ARRAY:
            self.check_length(argument, 1, "array")
            return [self.decode_item(depth + 1) for _ in range(argument)]
        if major_type == MAP:
            self.check_length(argument, 2, "map")
            result: dict[object, object] = {}
            for _ in range(argument):
                self.decode_pair(result, depth + 1)
            return result
        if major_type == TAG:
            return self.decode_tag(argument, self.decode_item(depth + 1))
        return self.decode_simple_or_float(info, argument)

    def decode_indefinite(self, major_type: int, depth: int) -> object:
        if major_type in (BYTE_STRING, TEXT_STRING):
            chunks, total = [], 0
            while not self.at_break():
                chunk_major_type, chunk_info, length = self.read_head()
                if chunk_major_type != major_type or chunk_info == INDEFINITE:
                    raise self.fail(
                        f"a chunk of an indefinite-length {MAJOR_TYPE_NAMES[major_type]}"
                        " must be a definite-length string of the same type"
                    )
                total += length
                self.check_size(total, MAJOR_TYPE_NAMES[major_type])
                # Each text chunk is valid UTF-8 on its own (RFC 8949 §3.2.3).
                chunks.append(self.read_string(major_type, length))
            return "".join(chunks) if major_type == TEXT_STRING else b"".join(chunks)
        if major_type == SIMPLE_OR_FLOAT:
            raise self.fail("break (0xff) outside an indefinite-length item")
        if major_type not in (ARRAY, MAP):
            raise self.fail(f"a {MAJOR_TYPE_NAMES[major_type]} cannot have indefinite length")
        if depth >= self.max_depth:
            raise self.fail(f"nested deeper than max_depth {self.max_depth}")
        if major_type == ARRAY:
            items: list[object] = []
            while not self.at_break():
                self.check_size(len(items) + 1, "array")
                items.append(self.decode_item(depth + 1))
            return items
        result: dict[object, object] = {}
        while not self.at_break():
            self.check_size(len(result) + 1, "map")
            self.decode_pair(result, depth + 1)
        return result

    def decode_pair(self, result: dict[object, object], depth: int) -> None:
        key_offset = self.position
        key = self.decode_item(depth)
        try:
            duplicate = key in result
        except TypeError:  # a list, dict or a Tag holding one cannot be a dict key
            raise CBORDecodeError(
                f"map key of type {type(key).__name__} at offset {key_offset} is not supported"
            ) from None
        if duplicate:  # RFC 8949 §5.6; also catches 1, 1.0 and true, equal keys in Python
            raise CBORDecodeError(f"duplicate map key at offset {key_offset}")
        result[key] = self.decode_item(depth)

    def read_string(self, major_type: int, length: int) -> bytes | str:
        self.check_size(length, MAJOR_TYPE_NAMES[major_type])
        raw = self.read(length)
        if major_type == BYTE_STRING:
            return raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise self.fail(f"text string is not valid UTF-8: {error.reason}") from None

    def decode_tag(self, tag: int, value: object) -> object:
        if tag in (POSITIVE_BIGNUM, NEGATIVE_BIGNUM):
            if not isinstance(value, bytes):
                raise self.fail(f"tag {tag} (bignum) must hold a byte string")
            magnitude = int.from_bytes(value, "big")
            return magnitude if tag == POSITIVE_BIGNUM else -1 - magnitude
        return Tag(tag, value)

    def decode_simple_or_float(self, info: int, argument: int) -> object:
        if info in _FLOAT_FORMATS:
            width = 1 << (info - 24)
            return struct.unpack(_FLOAT_FORMATS[info], argument.to_bytes(width, "big"))[0]
        if info == 24 and argument < 32:
            raise self.fail(f"simple value {argument} must be encoded in the initial byte")
        if argument in _SIMPLE_MEANINGS:
            return _SIMPLE_MEANINGS[argument]
        return Simple(argument)
