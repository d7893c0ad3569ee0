"""The one policy for decoding CBOR from a peer (reference/wire/untrusted.py)."""

from __future__ import annotations

import contextlib
import tracemalloc

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.wire.untrusted import (
    CBOR2_BUILT_IN_TAGS,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_ITEMS,
    MAX_BIGNUM_BYTES,
    MalformedCBOR,
    count_items,
    loads_untrusted,
)

PLAIN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**127), 2**127 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.binary(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(PLAIN)
def test_plain_values_come_back_as_they_went(value):
    assert loads_untrusted(cbor2.dumps(value)) == value


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "premature end"),
        (b"\x62\xff\xfe", "text string"),
        (cbor2.dumps([1]) + b"\x00", "1 bytes left over"),
        (bytes.fromhex("a2616101616102"), "Duplicate map key"),
        (cbor2.dumps({1: 2}), "map key must be a text string or byte string"),
        (cbor2.dumps({(1, 2): 3}), "map key must be"),
        (b"\x81" * (DEFAULT_MAX_DEPTH + 1) + b"\x00", "nesting depth"),
        (bytes.fromhex("d81c81d81d00"), "tag 29 is not accepted"),  # a list that holds itself
        (cbor2.dumps(cbor2.CBORTag(35, "(a+)+$")), "tag 35 is not accepted"),  # a regex
        (cbor2.dumps(cbor2.CBORTag(9999, 1)), "tag 9999 is not accepted"),
        (cbor2.dumps(10**5000), "bignum of 2077 bytes exceeds the maximum of 16"),
        (cbor2.dumps(cbor2.CBORTag(2, "not bytes")), "a bignum holds a byte string"),
    ],
)
def test_what_the_policy_refuses_it_names(data, problem):
    with pytest.raises(MalformedCBOR, match=problem):
        loads_untrusted(data)


def test_the_size_is_checked_before_decoding():
    with pytest.raises(MalformedCBOR, match="2 bytes exceeds the maximum of 1 bytes"):
        loads_untrusted(b"\x81\x00", max_size=1)
    assert loads_untrusted(b"\x81\x00", max_size=2) == [0]


def test_depth_is_a_parameter_with_both_edges():
    assert loads_untrusted(b"\x81" * 4 + b"\x00", max_depth=4) == [[[[0]]]]
    with pytest.raises(MalformedCBOR, match="nesting depth"):
        loads_untrusted(b"\x81" * 5 + b"\x00", max_depth=4)


def test_bignums_up_to_the_limit_are_integers():
    largest = 2 ** (8 * MAX_BIGNUM_BYTES) - 1
    assert loads_untrusted(cbor2.dumps(largest)) == largest
    assert loads_untrusted(cbor2.dumps(-largest - 1)) == -largest - 1
    with pytest.raises(MalformedCBOR, match="bignum"):
        loads_untrusted(cbor2.dumps(largest + 1))


def test_every_tag_but_the_bignums_is_refused():
    # cbor2 decodes some tags into objects of its own; a new cbor2 may add more. Try them all.
    accepted = []
    for tag in range(70_000):
        try:
            loads_untrusted(cbor2.dumps(cbor2.CBORTag(tag, b"\x01")))
        except MalformedCBOR:
            continue
        accepted.append(tag)
    assert accepted == [2, 3]
    assert 2 not in CBOR2_BUILT_IN_TAGS and 3 not in CBOR2_BUILT_IN_TAGS


@given(st.binary(max_size=64))
def test_garbage_raises_only_malformed_cbor(data):
    with contextlib.suppress(MalformedCBOR):
        loads_untrusted(data)


def test_a_million_empty_maps_are_refused_before_they_are_built():
    # 1 MiB of 0xa0 is one array of a million empty maps: 1 byte each on the wire, ~72 in Python.
    data = b"\x9a\x00\x0f\x42\x40" + b"\xa0" * 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(MalformedCBOR, match=f"more than {DEFAULT_MAX_ITEMS} data items"):
            loads_untrusted(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024  # under the frame's own size; decoding it took ~72 MiB


def test_the_item_count_is_a_parameter_with_both_edges():
    five = cbor2.dumps([[], {}, "x", b"y"])  # five heads: the array and its four items
    assert loads_untrusted(five, max_items=5) == [[], {}, "x", b"y"]
    with pytest.raises(MalformedCBOR, match="more than 4 data items"):
        loads_untrusted(five, max_items=4)


@given(PLAIN)
def test_count_items_counts_what_cbor2_builds(value):
    def built(item):
        if isinstance(item, list):
            return 1 + sum(map(built, item))
        if isinstance(item, dict):
            return 1 + sum(built(k) + built(v) for k, v in item.items())
        return 2 if isinstance(item, int) and not -(2**64) <= item < 2**64 else 1  # tag + bytes

    assert count_items(cbor2.dumps(value), limit=10**6) == built(value)


def test_count_items_skips_string_contents_and_float_bodies():
    # the array, two strings of 0xa0 bytes (empty-map heads, were they heads), a float whose
    # body is 8 bytes, and a bignum: a tag and its byte string
    assert count_items(cbor2.dumps(["\xa0" * 50, b"\xa0" * 50, 1.5, 10**20]), limit=100) == 6
