"""The CBOR data model (RFC 8949 §3): the eight major types, simple values and tags.

Theory of operation
-------------------
These are the names that reference/wire/cbor.py (the codec) and
reference/wire/cbor_explain.py (the explainer) share: the major types,
the additional-information values with a fixed meaning (the three float
widths, indefinite length and its "break"), the simple values false,
true, null and undefined, the bignum tag numbers, and two small types for
what the codec gives no meaning of its own to: `Tag` (a tag number around
an item) and `Simple` (a simple value other than false, true and null).
The codec's docstring explains how they fit into a head.
"""

from __future__ import annotations

from dataclasses import dataclass

UNSIGNED_INT, NEGATIVE_INT, BYTE_STRING, TEXT_STRING, ARRAY, MAP, TAG, SIMPLE_OR_FLOAT = range(8)
MAJOR_TYPE_NAMES = (
    "unsigned integer",
    "negative integer",
    "byte string",
    "text string",
    "array",
    "map",
    "tag",
    "simple value or float",
)
INDEFINITE = 31  # additional information for "indefinite length", and "break" in major type 7
BREAK = 0xFF
FALSE, TRUE, NULL, UNDEFINED = 20, 21, 22, 23  # simple values (major type 7)
HALF, SINGLE, DOUBLE = 25, 26, 27  # additional information of the three float widths
POSITIVE_BIGNUM, NEGATIVE_BIGNUM = 2, 3  # tag numbers


@dataclass(frozen=True)
class Tag:
    """A tagged item (major type 6) that this codec gives no meaning to."""

    tag: int
    value: object

    def __post_init__(self) -> None:
        if not 0 <= self.tag < 2**64:
            raise ValueError(f"a tag number is between 0 and 2**64 - 1, not {self.tag}")


@dataclass(frozen=True)
class Simple:
    """A simple value (major type 7) other than false, true and null."""

    value: int

    def __post_init__(self) -> None:
        if not (0 <= self.value < 20 or self.value == UNDEFINED or 32 <= self.value < 256):
            raise ValueError(f"{self.value} is not an encodable simple value (0..19, 23, 32..255)")

    def __str__(self) -> str:  # as in diagnostic notation, RFC 8949 §8
        return "undefined" if self.value == UNDEFINED else f"simple({self.value})"
