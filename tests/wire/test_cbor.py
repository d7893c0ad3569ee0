"""Tests for reference/wire/cbor.py, held to RFC 8949 and to cbor2.

In order: the examples of RFC 8949 Appendix A, byte for byte; the
not-well-formed examples of Appendix F, each of which must raise
`CBORDecodeError`; limits (size, depth, hostile lengths, memory); then
property tests against cbor2 as an independent implementation; then fuzzing
with random and mutated bytes, after which only `CBORDecodeError` may have
escaped.
"""

from __future__ import annotations

import doctest
import math
import random
import struct
import tracemalloc
from collections.abc import Mapping

import cbor2
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import reference.wire.cbor
from reference.wire.cbor import (
    DEEPEST_SUPPORTED,
    CBORDecodeError,
    Simple,
    Tag,
    dumps,
    encode_head,
    loads,
)
from reference.wire.cbor_explain import annotate

# --- helpers --------------------------------------------------------------------------------


def identical(a: object, b: object) -> bool:
    """Equal in type and value, floats bit for bit (any NaN matches any NaN).

    Plain `==` would let True pass for 1, 1.0 for 1 and -0.0 for 0.0.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or struct.pack(">d", a) == struct.pack(">d", b)
    if isinstance(a, list):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):  # in any order: canonical encoding may have sorted the keys
        if len(a) != len(b):
            return False
        items_a, items_b = (sorted(m.items(), key=lambda kv: dumps(kv[0])) for m in (a, b))
        return all(
            identical(key_a, key_b) and identical(value_a, value_b)
            for (key_a, value_a), (key_b, value_b) in zip(items_a, items_b, strict=True)
        )
    if isinstance(a, Tag):
        return a.tag == b.tag and identical(a.value, b.value)
    return a == b


def to_cbor2(value: object) -> object:
    """The same value in cbor2's types (CBORTag, CBORSimpleValue)."""
    if isinstance(value, list):
        return [to_cbor2(v) for v in value]
    if isinstance(value, dict):
        return {k: to_cbor2(v) for k, v in value.items()}
    if isinstance(value, Tag):
        return cbor2.CBORTag(value.tag, to_cbor2(value.value))
    if isinstance(value, Simple):
        return cbor2.undefined if value.value == 23 else cbor2.CBORSimpleValue(value.value)
    return value


def from_cbor2(value: object) -> object:
    # Inside a tag, cbor2 reads an array as a tuple and a map as a frozendict.
    if isinstance(value, list | tuple):
        return [from_cbor2(v) for v in value]
    if isinstance(value, Mapping):
        return {k: from_cbor2(v) for k, v in value.items()}
    if isinstance(value, cbor2.CBORTag):
        return Tag(value.tag, from_cbor2(value.value))
    if isinstance(value, cbor2.CBORSimpleValue):
        return Simple(value.value)
    if value is cbor2.undefined:
        return Simple(23)
    return value


# Tag numbers that cbor2 leaves alone (it gives meaning to 0-5, 25, 28-30, 35-37, 258, ...).
PLAIN_TAGS = st.sampled_from([6, 15, 23, 24, 40, 1000, 65535, 2**32, 2**64 - 1])
INTEGERS = st.one_of(
    st.integers(-(2**64) - 2, 2**64 + 2),
    st.sampled_from([0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1, 2**64]),
    st.integers(-(2**200), 2**200),
)
FLOATS = st.floats(allow_nan=False) | st.sampled_from([math.inf, -math.inf, -0.0, 65504.0])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    INTEGERS,
    FLOATS,
    st.text(max_size=30),
    st.binary(max_size=30),
    st.sampled_from([Simple(0), Simple(19), Simple(23), Simple(32), Simple(255)]),
)
# Keys of one family at a time (non-negative integers, negative integers, text, bytes,
# floats) sort the same bytewise and length-first; mixed keys often do not.
KEY_FAMILIES = [
    st.integers(0, 2**70),
    st.integers(-(2**70), -1),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.floats(allow_nan=False),
]
MIXED_KEYS = st.one_of(*KEY_FAMILIES, st.booleans(), st.none())


def containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.lists(children, max_size=6),
        *(st.dictionaries(keys, children, max_size=5) for keys in KEY_FAMILIES),
        st.dictionaries(MIXED_KEYS, children, max_size=5),
        st.builds(Tag, PLAIN_TAGS, children),
    )


VALUES = st.recursive(SCALARS, containers, max_leaves=25)


def key_orders_agree(value: object) -> bool:
    """True if in every map the bytewise and the length-first key orders coincide."""
    if isinstance(value, list):
        return all(key_orders_agree(v) for v in value)
    if isinstance(value, Tag):
        return key_orders_agree(value.value)
    if isinstance(value, dict):
        encoded = [dumps(k, canonical=True) for k in value]
        same = sorted(encoded) == sorted(encoded, key=lambda e: (len(e), e))
        return same and all(key_orders_agree(v) for v in value.values())
    return True


# --- RFC 8949 Appendix A: examples of encoded items -------------------------------------

NAN = math.nan
INF = math.inf
ONE_TO_25 = list(range(1, 26))

# (hex, decoded value, whether dumps(value, canonical=True) writes exactly this hex)
APPENDIX_A = [
    ("00", 0, True),
    ("01", 1, True),
    ("0a", 10, True),
    ("17", 23, True),
    ("1818", 24, True),
    ("1819", 25, True),
    ("1864", 100, True),
    ("1903e8", 1000, True),
    ("1a000f4240", 1000000, True),
    ("1b000000e8d4a51000", 1000000000000, True),
    ("1bffffffffffffffff", 18446744073709551615, True),
    ("c249010000000000000000", 18446744073709551616, True),
    ("3bffffffffffffffff", -18446744073709551616, True),
    ("c349010000000000000000", -18446744073709551617, True),
    ("20", -1, True),
    ("29", -10, True),
    ("3863", -100, True),
    ("3903e7", -1000, True),
    ("f90000", 0.0, True),
    ("f98000", -0.0, True),
    ("f93c00", 1.0, True),
    ("fb3ff199999999999a", 1.1, True),
    ("f93e00", 1.5, True),
    ("f97bff", 65504.0, True),
    ("fa47c35000", 100000.0, True),
    ("fa7f7fffff", 3.4028234663852886e38, True),
    ("fb7e37e43c8800759c", 1.0e300, True),
    ("f90001", 5.960464477539063e-8, True),
    ("f90400", 0.00006103515625, True),
    ("f9c400", -4.0, True),
    ("fbc010666666666666", -4.1, True),
    ("f97c00", INF, True),
    ("f97e00", NAN, True),
    ("f9fc00", -INF, True),
    ("fa7f800000", INF, False),
    ("fa7fc00000", NAN, False),
    ("faff800000", -INF, False),
    ("fb7ff0000000000000", INF, False),
    ("fb7ff8000000000000", NAN, False),
    ("fbfff0000000000000", -INF, False),
    ("f4", False, True),
    ("f5", True, True),
    ("f6", None, True),
    ("f7", Simple(23), True),
    ("f0", Simple(16), True),
    ("f8ff", Simple(255), True),
    (
        "c074323031332d30332d32315432303a30343a30305a",
        Tag(0, "2013-03-21T20:04:00Z"),
        True,
    ),
    ("c11a514b67b0", Tag(1, 1363896240), True),
    ("c1fb41d452d9ec200000", Tag(1, 1363896240.5), True),
    ("d74401020304", Tag(23, b"\x01\x02\x03\x04"), True),
    ("d818456449455446", Tag(24, b"dIETF"), True),
    (
        "d82076687474703a2f2f7777772e6578616d706c652e636f6d",
        Tag(32, "http://www.example.com"),
        True,
    ),
    ("40", b"", True),
    ("4401020304", b"\x01\x02\x03\x04", True),
    ("60", "", True),
    ("6161", "a", True),
    ("6449455446", "IETF", True),
    ("62225c", '"\\', True),
    ("62c3bc", "\u00fc", True),
    ("63e6b0b4", "\u6c34", True),
    ("64f0908591", "\U00010151", True),
    ("80", [], True),
    ("83010203", [1, 2, 3], True),
    ("8301820203820405", [1, [2, 3], [4, 5]], True),
    ("98190102030405060708090a0b0c0d0e0f101112131415161718181819", ONE_TO_25, True),
    ("a0", {}, True),
    ("a201020304", {1: 2, 3: 4}, True),
    ("a26161016162820203", {"a": 1, "b": [2, 3]}, True),
    ("826161a161626163", ["a", {"b": "c"}], True),
    (
        "a56161614161626142616361436164614461656145",
        {"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"},
        True,
    ),
    ("5f42010243030405ff", b"\x01\x02\x03\x04\x05", False),
    ("7f657374726561646d696e67ff", "streaming", False),
    ("9fff", [], False),
    ("9f018202039f0405ffff", [1, [2, 3], [4, 5]], False),
    ("9f01820203820405ff", [1, [2, 3], [4, 5]], False),
    ("83018202039f0405ff", [1, [2, 3], [4, 5]], False),
    ("83019f0203ff820405", [1, [2, 3], [4, 5]], False),
    ("9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff", ONE_TO_25, False),
    ("bf61610161629f0203ffff", {"a": 1, "b": [2, 3]}, False),
    ("826161bf61626163ff", ["a", {"b": "c"}], False),
    ("bf6346756ef563416d7421ff", {"Fun": True, "Amt": -2}, False),
]


@pytest.mark.parametrize(("hex_item", "value", "canonical"), APPENDIX_A)
def test_rfc_8949_appendix_a_decodes(hex_item, value, canonical):
    assert identical(loads(bytes.fromhex(hex_item)), value)


@pytest.mark.parametrize(
    ("hex_item", "value"), [(h, v) for h, v, canonical in APPENDIX_A if canonical]
)
def test_rfc_8949_appendix_a_encodes_in_preferred_serialization(hex_item, value):
    assert dumps(value, canonical=True).hex() == hex_item


def test_plain_dumps_writes_floats_as_doubles_and_everything_else_in_the_shortest_head():
    assert dumps(1.5).hex() == "fb3ff8000000000000"
    assert dumps([1000, "a", 2**64]).hex() == "831903e86161c249010000000000000000"
    assert dumps(bytearray(b"ab")) == dumps(b"ab") == bytes.fromhex("426162")
    assert dumps((1, 2)) == dumps([1, 2])


def test_dict_order_is_kept_unless_canonical():
    assert dumps({"b": 1, "a": 2}).hex() == "a2616201616102"
    assert dumps({"b": 1, "a": 2}, canonical=True).hex() == "a2616102616201"


def test_every_nan_is_the_half_precision_quiet_nan_when_canonical():
    signalling = struct.unpack(">d", bytes.fromhex("7ff0000000000001"))[0]
    negative = struct.unpack(">d", bytes.fromhex("fff8000000000000"))[0]
    for nan in (math.nan, signalling, negative):
        assert dumps(nan, canonical=True).hex() == "f97e00"


def test_a_float_that_would_round_is_not_shortened():
    assert dumps(65520.0, canonical=True).hex() == "fa477ff000"  # half would round it to inf
    assert dumps(2.0**-25, canonical=True).hex() == "fa33000000"  # below the smallest half
    assert dumps(1.0 + 2.0**-23, canonical=True).hex() == "fa3f800001"
    assert dumps(1.0 + 2.0**-24, canonical=True).hex() == "fb3ff0000010000000"


def test_encode_head_picks_the_shortest_argument():
    cases = {0: "00", 23: "17", 24: "1818", 255: "18ff", 256: "190100", 65535: "19ffff"}
    cases |= {65536: "1a00010000", 2**32 - 1: "1affffffff", 2**32: "1b0000000100000000"}
    for argument, expected in cases.items():
        assert encode_head(0, argument).hex() == expected
    assert encode_head(5, 2).hex() == "a2"
    with pytest.raises(ValueError):
        encode_head(0, 2**64)
    with pytest.raises(ValueError):
        encode_head(0, -1)


def test_what_cannot_be_encoded_is_refused_by_name():
    with pytest.raises(TypeError, match="set"):
        dumps({1, 2})
    with pytest.raises(ValueError):
        Tag(-1, None)
    with pytest.raises(ValueError):
        Tag(2**64, None)
    for reserved in (20, 24, 31, 256, -1):
        with pytest.raises(ValueError):
            Simple(reserved)


def test_docstring_examples():
    assert doctest.testmod(reference.wire.cbor).failed == 0


def test_annotate_names_each_head_and_payload():
    assert annotate(dumps([-100, 1.5, b"\x01", 2**64], canonical=True)).splitlines() == [
        "84                          major 4, argument 4: array of 4 items",
        "  38 63                     major 1, argument 99: negative integer -100",
        "  f9 3e00                   major 7, additional information 25: 16-bit float 1.5",
        "  41                        major 2, argument 1: byte string of 1 byte",
        "    01                      b'\\x01'",
        "  c2                        major 6, argument 2: tag 2 (positive bignum)",
        "    49                      major 2, argument 9: byte string of 9 bytes",
        "      010000000000000000    b'\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00'",
    ]
    assert "78" * 16 + "..    'xxx" in annotate(dumps("x" * 40))  # a long payload is cut


def test_annotate_shows_indefinite_lengths_and_breaks():
    text = annotate(bytes.fromhex("bf6346756ef563416d7421ff"))
    assert text.splitlines()[0].endswith("major 5, indefinite length: map until break")
    assert text.splitlines()[-1].split() == ["ff", "break"]
    with pytest.raises(CBORDecodeError):
        annotate(b"\x82\x01")


# --- RFC 8949 Appendix F: not-well-formed items -------------------------------------------

APPENDIX_F = {
    "end of input in a head": (
        "18 19 1a 1b 1901 1a0102 1b01020304050607 38 58 78 98 9a01ff00 b8 d8 f8 f900 fa0000"
        " fb000000"
    ),
    "definite-length strings with short data": (
        "41 61 5affffffff00 5bffffffffffffffff010203 7affffffff00 7b7fffffffffffffff010203"
    ),
    "definite-length maps and arrays not closed with enough items": (
        "81 818181818181818181 8200 a1 a20102 a100 a2000000"
    ),
    "tag number not followed by tag content": "c0",
    "indefinite-length strings not closed by a break": "5f4100 7f6100",
    "indefinite-length maps and arrays not closed by a break": (
        "9f 9f0102 bf bf01020102 819f 9f8000 9f9f9f9f9fffffffff 9f819f819f9fffffff"
    ),
    "reserved additional information values": (
        "1c 1d 1e 3c 3d 3e 5c 5d 5e 7c 7d 7e 9c 9d 9e bc bd be dc dd de fc fd fe"
    ),
    "reserved two-byte encodings of simple values": "f800 f801 f818 f81f",
    "indefinite-length string chunks not of the correct type": (
        "5f00ff 5f21ff 5f6100ff 5f80ff 5fa0ff 5fc000ff 5fe0ff 7f4100ff"
    ),
    "indefinite-length string chunks not definite length": "5f5f4100ffff 7f7f6100ffff",
    "break occurring on its own outside of an indefinite-length item": "ff",
    "break occurring in a definite-length array or map or a tag": (
        "81ff 8200ff a1ff a1ff00 a100ff a20000ff 9f81ff 9f829f819f9fffffffff"
    ),
    "break in an indefinite-length map in a value position": "bf00ff bf000000ff",
    "major type 0, 1 or 6 with additional information 31": "1f 3f df",
}


@pytest.mark.parametrize(
    "hex_item",
    [
        pytest.param(hex_item, id=f"{kind}: {hex_item}")
        for kind, examples in APPENDIX_F.items()
        for hex_item in examples.split()
    ],
)
def test_rfc_8949_appendix_f_not_well_formed_items_are_refused(hex_item):
    with pytest.raises(CBORDecodeError):
        loads(bytes.fromhex(hex_item))


@pytest.mark.parametrize(
    ("hex_item", "complaint"),
    [
        ("", "where an item should start"),
        ("0000", "exactly one item"),
        ("62c328", "not valid UTF-8"),
        ("7f61c361a9ff", "not valid UTF-8"),  # é split across two chunks
        ("c201", "bignum"),
        ("c380", "bignum"),
        ("a2010201f5", "duplicate map key"),
        ("a2f50101f5", "duplicate map key"),  # true and 1 are one key in a Python dict
        ("a1800000", "not supported"),
        ("a1c1a0f5", "not supported"),
        ("bf01020103ff", "duplicate map key"),
    ],
)
def test_valid_structure_we_cannot_accept_is_refused_with_a_reason(hex_item, complaint):
    with pytest.raises(CBORDecodeError, match=complaint):
        loads(bytes.fromhex(hex_item))


def test_loads_takes_bytes_like_objects_only():
    assert loads(bytearray(b"\x01")) == loads(memoryview(b"\x01")) == 1
    with pytest.raises(TypeError):
        loads("01")


# --- limits ---------------------------------------------------------------------------------


def nested(depth: int, opener: bytes, closer: bytes = b"") -> bytes:
    return opener * depth + b"\x00" + closer * depth


@pytest.mark.parametrize(
    ("opener", "closer"),
    [
        (b"\x81", b""),
        (b"\xa1\x00", b""),
        (b"\xc6", b""),
        (b"\x9f", b"\xff"),
        (b"\xbf\x00", b"\xff"),
    ],
    ids=["array", "map", "tag", "indefinite array", "indefinite map"],
)
def test_depth_limit_admits_exactly_max_depth_levels(opener, closer):
    assert loads(nested(5, opener, closer), max_depth=5) is not None
    with pytest.raises(CBORDecodeError, match="max_depth"):
        loads(nested(6, opener, closer), max_depth=5)
    with pytest.raises(CBORDecodeError, match="max_depth"):
        loads(nested(100_000, opener, closer))


def test_the_deepest_supported_nesting_fits_on_the_python_stack():
    for opener, closer in [(b"\xbf\x00", b"\xff"), (b"\xa1\x00", b""), (b"\x81", b"")]:
        loads(nested(DEEPEST_SUPPORTED, opener, closer), max_depth=DEEPEST_SUPPORTED)
    with pytest.raises(ValueError):
        loads(b"\x00", max_depth=DEEPEST_SUPPORTED + 1)


@pytest.mark.parametrize(
    "value", [b"abcd", "abcd", [1, 2, 3, 4], {1: 2, 3: 4, 5: 6, 7: 8}], ids=type
)
def test_size_limit_admits_exactly_max_size(value):
    definite = dumps(value)
    assert loads(definite, max_size=4) == value
    with pytest.raises(CBORDecodeError, match="max_size"):
        loads(definite, max_size=3)


@pytest.mark.parametrize(
    "hex_item", ["5f4261624163ff", "7f6261626163ff", "9f01020304ff", "bf0102030405060708ff"]
)
def test_size_limit_counts_indefinite_lengths_as_they_grow(hex_item):
    loads(bytes.fromhex(hex_item), max_size=4)
    with pytest.raises(CBORDecodeError, match="max_size"):
        loads(bytes.fromhex(hex_item), max_size=2)


HOSTILE_HEADS = {
    "byte string of 2**60 bytes": "5b1000000000000000",
    "text string of 2**64-1 bytes": "7bffffffffffffffff",
    "array of 2**32 items": "9b0000000100000000",
    "map of 2**32 pairs": "bb0000000100000000",
    "chunk of 2**60 bytes": "5f5b1000000000000000",
    "array of 2**24 arrays": "9a01000000" + "80" * 1000,
    "map of 2**20 pairs": "ba00100000" + "0000" * 1000,
}


@pytest.mark.parametrize("hex_item", HOSTILE_HEADS.values(), ids=HOSTILE_HEADS.keys())
@pytest.mark.parametrize(
    ("max_size", "complaint"),
    [(2**64, "longer than the rest of the input"), (1000, "exceeds max_size")],
)
def test_a_declared_length_is_checked_before_anything_is_allocated(hex_item, max_size, complaint):
    data = bytes.fromhex(hex_item)
    tracemalloc.start()
    try:
        with pytest.raises(CBORDecodeError, match=complaint):
            loads(data, max_size=max_size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 + 4 * len(data)


def test_hostile_lengths_are_refused_against_max_size_even_when_the_bytes_are_there():
    data = dumps(bytes(1000))
    with pytest.raises(CBORDecodeError, match="max_size"):
        loads(data, max_size=999)


# --- against cbor2, an independent implementation ---------------------------------------------


@settings(max_examples=250)
@given(VALUES)
def test_we_decode_what_cbor2_encodes(value):
    assert identical(loads(cbor2.dumps(to_cbor2(value))), value)
    assert identical(loads(cbor2.dumps(to_cbor2(value), canonical=True)), value)


@settings(max_examples=250)
@given(VALUES)
def test_cbor2_decodes_what_we_encode(value):
    assert identical(from_cbor2(cbor2.loads(dumps(value))), value)
    assert identical(from_cbor2(cbor2.loads(dumps(value, canonical=True))), value)


@settings(max_examples=250)
@given(VALUES)
def test_plain_encoding_is_byte_for_byte_cbor2s_for_finite_floats(value):
    # cbor2 writes infinities and NaN as halves even when not canonical; we write
    # every float as a double unless asked for the canonical form.
    assume(all(math.isfinite(f) for f in floats_in(value)))
    assert dumps(value) == cbor2.dumps(to_cbor2(value))


@settings(max_examples=250)
@given(VALUES)
def test_canonical_encoding_is_byte_for_byte_cbor2s_where_both_follow_rfc_8949(value):
    assume(key_orders_agree(value))
    assert dumps(value, canonical=True) == cbor2.dumps(to_cbor2(value), canonical=True)


@settings(max_examples=1000)
@given(st.floats(allow_nan=False) | st.floats(width=32) | st.floats(width=16))
def test_canonical_floats_are_byte_for_byte_cbor2s(number):
    assert dumps(number, canonical=True) == cbor2.dumps(number, canonical=True)
    assert len(dumps(number, canonical=True)) <= len(dumps(number))
    assert identical(loads(dumps(number, canonical=True)), number)


def floats_in(value: object) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, list):
        return [f for item in value for f in floats_in(item)]
    if isinstance(value, dict):
        return [f for item in [*value, *value.values()] for f in floats_in(item)]
    if isinstance(value, Tag):
        return floats_in(value.value)
    return []


def test_canonical_map_key_order_is_rfc_8949_bytewise_where_cbor2_sorts_length_first():
    """Where cbor2 6.3 deviates from RFC 8949 §4.2.1, and how the tests allow for it.

    RFC 8949 §4.2.1 (core deterministic encoding) sorts the keys of a map by
    the bytewise lexicographic order of their encodings. cbor2 6.3's
    `canonical=True` instead sorts by the length of the encoded key first and
    only then bytewise: the "canonical CBOR" order of the obsoleted RFC 7049
    §3.9, which RFC 8949 §4.2.3 keeps only as "length-first map key ordering".

    The two orders agree whenever no shorter encoded key is bytewise greater
    than a longer one: in particular among keys of one major type (all
    non-negative integers, all negative integers, all text strings, all byte
    strings, all floats). They disagree for mixed keys such as 100 (18 64) and
    -1 (20): bytewise 100 comes first, length-first -1 does. We follow the RFC;
    the byte-for-byte comparison with cbor2 is restricted to values whose maps
    sort the same either way (`key_orders_agree`), and this test pins down
    the difference with the example of RFC 8949 §4.2.1.
    """
    keys = [10, 100, -1, "z", "aa", (100,), (-1,), False]  # §4.2.1, already bytewise sorted
    value = {key: 0 for key in reversed(keys)}
    ours = dumps(value, canonical=True)
    assert ours == b"\xa8" + b"".join(dumps(key) + b"\x00" for key in keys)

    length_first = sorted(keys, key=lambda k: (len(dumps(k)), dumps(k)))
    assert length_first == [10, -1, False, 100, "z", (-1,), "aa", (100,)]
    theirs = cbor2.dumps(value, canonical=True)
    assert theirs == b"\xa8" + b"".join(dumps(key) + b"\x00" for key in length_first)
    assert not key_orders_agree({k: 0 for k in [100, -1]})
    assert key_orders_agree({k: 0 for k in [100, 24, 0, 2**40]})


@settings(max_examples=300)
@given(st.dictionaries(MIXED_KEYS, st.integers(), min_size=2, max_size=8))
def test_mixed_keys_are_sorted_bytewise_and_still_read_by_cbor2(value):
    encoded = dumps(value, canonical=True)
    assert cbor2.loads(encoded) == value
    keys = [dumps(k, canonical=True) for k in loads(encoded)]
    assert keys == sorted(keys)


# --- fuzzing: only CBORDecodeError ever escapes ----------------------------------------------


def decodes_or_refuses(data: bytes) -> None:
    """Decode untrusted bytes: the value must re-encode to an equal value, or the
    input must be refused with CBORDecodeError. Anything else fails the test."""
    try:
        value = loads(data, max_depth=16, max_size=1 << 16)
    except CBORDecodeError:
        return
    assert identical(loads(dumps(value)), value)


@settings(max_examples=2000)
@given(st.binary(min_size=1, max_size=48))
def test_fuzz_random_bytes(data):
    for start in range(len(data)):  # every suffix is random bytes too: ~25 cases per example
        decodes_or_refuses(data[start:])


MUTATIONS = ["flip", "set", "insert", "delete", "truncate", "splice_head"]
INTERESTING_BYTES = [0x00, 0x18, 0x1B, 0x1F, 0x5F, 0x7F, 0x9F, 0xBF, 0xC2, 0xF8, 0xFB, 0xFF]


def mutate(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        where = rng.randrange(len(buffer) + 1)
        kind = rng.choice(MUTATIONS)
        if kind == "flip" and buffer:
            buffer[where % len(buffer)] ^= 1 << rng.randrange(8)
        elif kind == "set" and buffer:
            buffer[where % len(buffer)] = rng.choice([*INTERESTING_BYTES, rng.randrange(256)])
        elif kind == "insert":
            buffer[where:where] = bytes([rng.choice(INTERESTING_BYTES)])
        elif kind == "delete":
            del buffer[where : where + rng.randint(1, 4)]
        elif kind == "truncate":
            del buffer[where:]
        elif kind == "splice_head":  # a head declaring a huge length, anywhere
            major_type = rng.choice([2, 3, 4, 5])
            buffer[where:where] = encode_head(major_type, rng.choice([2**16, 2**31, 2**63]))
    return bytes(buffer)


@settings(max_examples=300)
@given(VALUES, st.integers(0, 2**32))
def test_fuzz_mutated_encodings(value, seed):
    rng = random.Random(seed)
    data = dumps(value, canonical=rng.random() < 0.5)
    for _ in range(30):
        decodes_or_refuses(mutate(data, rng))


def test_fuzz_mutations_of_the_rfc_examples_with_bounded_memory():
    seed = 20240803
    rng = random.Random(seed)
    corpus = [bytes.fromhex(h) for h, _, _ in APPENDIX_A]
    corpus += [bytes.fromhex(h) for examples in APPENDIX_F.values() for h in examples.split()]
    tracemalloc.start()
    try:
        for case in range(30_000):
            data = mutate(rng.choice(corpus), rng)
            try:
                decodes_or_refuses(data)
            except Exception:
                print(f"seed {seed}, case {case}: input {data.hex()}")
                raise
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024, f"decoding inputs of at most ~100 bytes peaked at {peak} bytes"
