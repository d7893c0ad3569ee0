"""Tests for reference/wire/schemas.py: envelopes across versions, and refusals.

Three versions of one message type stand for three programs deployed at
different times. Every pairing of writer and reader must work, a relay
older than both ends must forward what it does not understand, and every
malformed envelope must be refused with the offending field named.
"""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference.wire.schemas
from reference.wire import cbor
from reference.wire.schemas import EnvelopeError, Field, Message, MessageReader, Schema, encode

SKU, QUANTITY = Field("sku", str), Field("quantity", int)
NOTE = Field("note", (str, type(None)), default=None, since=2)
GIFT = Field("gift", bool, default=False, since=3)
TAGS = Field("tags", list, default=[], since=3)

V1 = Schema("order.placed", 1, (SKU, QUANTITY))
V2 = Schema("order.placed", 2, (SKU, QUANTITY, NOTE))
V3 = Schema("order.placed", 3, (SKU, QUANTITY, NOTE, GIFT, TAGS))
V2_IGNORING = Schema("order.placed", 2, V2.fields, unknown_fields="ignore")
PING = Schema("ping", 1, ())

BODIES = {
    1: {"sku": "A-1", "quantity": 3},
    2: {"sku": "A-1", "quantity": 3, "note": "ring twice"},
    3: {"sku": "A-1", "quantity": 3, "note": None, "gift": True, "tags": ["eu"]},
}
SCHEMAS = {1: V1, 2: V2, 3: V3}


def envelope(**changes: object) -> dict[str, object]:
    value = {"type": "order.placed", "id": 7, "version": 1, "body": dict(BODIES[1])}
    value.update(changes)
    return value


# --- round trips across versions --------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2, 3])
def test_same_version_round_trip(version):
    schema = SCHEMAS[version]
    message = schema.message(7, BODIES[version])
    assert MessageReader([schema]).decode(encode(message)) == message
    assert message.unknown == {}


@pytest.mark.parametrize(("writer", "reader"), [(1, 2), (1, 3), (2, 3)])
def test_older_bodies_are_upgraded_with_defaults(writer, reader):
    data = encode(SCHEMAS[writer].message(1, BODIES[writer]))
    message = MessageReader([SCHEMAS[reader]]).decode(data)
    assert message.version == reader
    expected = {f.name: f.default for f in SCHEMAS[reader].fields} | BODIES[writer]
    assert message.body == expected
    assert message.unknown == {}


@pytest.mark.parametrize(("writer", "reader"), [(2, 1), (3, 1), (3, 2)])
def test_newer_bodies_keep_their_unknown_fields_and_version(writer, reader):
    data = encode(SCHEMAS[writer].message(1, BODIES[writer]))
    message = MessageReader([SCHEMAS[reader]]).decode(data)
    known = {f.name for f in SCHEMAS[reader].fields}
    assert message.version == writer
    assert message.body == {k: v for k, v in BODIES[writer].items() if k in known}
    assert message.unknown == {k: v for k, v in BODIES[writer].items() if k not in known}
    assert encode(message) == data  # forwarded unchanged, byte for byte


def test_an_old_relay_between_new_ends_loses_nothing():
    original = V3.message(42, BODIES[3])
    relayed = encode(MessageReader([V1]).decode(encode(original)))
    assert MessageReader([V3]).decode(relayed) == original


def test_a_reader_that_ignores_unknown_fields_drops_them_and_says_so_in_the_version():
    message = MessageReader([V2_IGNORING]).decode(encode(V3.message(1, BODIES[3])))
    assert message.version == 2
    assert message.body == {"sku": "A-1", "quantity": 3, "note": None}
    assert message.unknown == {}
    forwarded = MessageReader([V3]).decode(encode(message))
    assert forwarded.body["gift"] is False  # the v3 field is lost, and takes its default


def test_defaults_are_not_shared_between_messages():
    first = MessageReader([V3]).decode(encode(V1.message(1, BODIES[1])))
    first.body["tags"].append("mutated")
    second = MessageReader([V3]).decode(encode(V1.message(2, BODIES[1])))
    assert second.body["tags"] == []


def test_the_reader_picks_the_schema_by_type():
    reader = MessageReader([V2, PING])
    assert reader.decode(encode(PING.message(9, {}))) == Message("ping", 9, 1, {})
    assert reader.decode(encode(V2.message(8, BODIES[2]))).body == BODIES[2]


def test_encoding_is_deterministic_whatever_the_order_of_the_body():
    shuffled = dict(reversed(list(BODIES[3].items())))
    assert encode(V3.message(1, shuffled)) == encode(V3.message(1, BODIES[3]))


@settings(max_examples=200)
@given(
    writer=st.sampled_from([1, 2, 3]),
    reader=st.sampled_from([1, 2, 3]),
    message_id=st.integers(0, 2**64 - 1),
    sku=st.text(max_size=20),
    quantity=st.integers(-(2**70), 2**70),
    note=st.none() | st.text(max_size=20),
    gift=st.booleans(),
    tags=st.lists(st.text(max_size=5), max_size=4),
)
def test_any_writer_any_reader(writer, reader, message_id, sku, quantity, note, gift, tags):
    values = {"sku": sku, "quantity": quantity, "note": note, "gift": gift, "tags": tags}
    written = {f.name: values[f.name] for f in SCHEMAS[writer].fields}
    message = MessageReader([SCHEMAS[reader]]).decode(
        encode(SCHEMAS[writer].message(message_id, written))
    )
    assert message.id == message_id
    assert message.version == max(writer, reader)
    for f in SCHEMAS[reader].fields:
        assert message.body[f.name] == (values[f.name] if f.since <= writer else f.default)
    assert {**message.body, **message.unknown} == written | {
        f.name: message.body[f.name] for f in SCHEMAS[reader].fields
    }


# --- refusals name the field -----------------------------------------------------------------

REFUSED = {
    "not a map": ([1, 2], "envelope", "expected a map"),
    "type missing": ({k: v for k, v in envelope().items() if k != "type"}, "type", "missing"),
    "id missing": ({k: v for k, v in envelope().items() if k != "id"}, "id", "missing"),
    "body missing": ({k: v for k, v in envelope().items() if k != "body"}, "body", "missing"),
    "extra key": (envelope(extra=1), "envelope", "unexpected key 'extra'"),
    "type not text": (envelope(type=b"order.placed"), "type", "expected str"),
    "unknown type": (envelope(type="order.cancelled"), "type", "unknown message type"),
    "id negative": (envelope(id=-1), "id", "unsigned 64-bit"),
    "id too large": (envelope(id=2**64), "id", "unsigned 64-bit"),
    "id a bool": (envelope(id=True), "id", "unsigned 64-bit"),
    "id huge": (envelope(id=10**5000), "envelope", "bignum of 2077 bytes exceeds"),
    "id text": (envelope(id="7"), "id", "unsigned 64-bit"),
    "version zero": (envelope(version=0), "version", "positive integer"),
    "version a float": (envelope(version=1.0), "version", "positive integer"),
    "body not a map": (envelope(body=[]), "body", "expected a map"),
    "body key not text": (envelope(body={**BODIES[1], 1: 2}), "envelope", "map key must be a text"),
    "required field missing": (envelope(body={"sku": "A-1"}), "body.quantity", "missing"),
    "wrong type": (envelope(body={"sku": "A-1", "quantity": "3"}), "body.quantity", "int"),
    "bool for int": (envelope(body={"sku": "A-1", "quantity": True}), "body.quantity", "bool"),
    "wrong type in a newer field": (
        envelope(version=3, body={**BODIES[1], "gift": 1}),
        "body.gift",
        "expected bool, got int",
    ),
}


@pytest.mark.parametrize(("value", "field", "problem"), REFUSED.values(), ids=REFUSED.keys())
def test_invalid_envelopes_are_refused_with_the_field_named(value, field, problem):
    with pytest.raises(EnvelopeError, match=problem) as caught:
        MessageReader([V3]).decode(cbor.dumps(value))
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_versions_older_than_the_oldest_supported_are_refused():
    strict = Schema("order.placed", 3, V3.fields, oldest=2)
    with pytest.raises(EnvelopeError, match="v1 is no longer accepted") as caught:
        MessageReader([strict]).decode(encode(V1.message(1, BODIES[1])))
    assert caught.value.field == "version"
    assert MessageReader([strict]).decode(encode(V2.message(1, BODIES[2]))).version == 3


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "not well-formed CBOR"),
        (b"\xa4\x64type", "not well-formed CBOR"),
        (cbor.dumps(envelope()) + b"\x00", "not well-formed CBOR"),
        (b"\x81" * 100 + b"\x00", "nesting depth"),
        (bytes(70_000), "exceeds the maximum of 65536"),
    ],
)
def test_bytes_that_are_not_an_envelope_are_refused(data, problem):
    with pytest.raises(EnvelopeError, match=problem) as caught:
        MessageReader([V3]).decode(data)
    assert caught.value.field == "envelope"


VALID = encode(V3.message(7, BODIES[3]))


@settings(max_examples=1000)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=3))
def test_corrupted_envelopes_give_a_checked_message_or_an_envelope_error(changes):
    data = bytearray(VALID)
    for position, byte in changes:
        data[position] = byte
    reader = MessageReader([V1, V3, PING])
    try:
        message = reader.decode(bytes(data))
    except EnvelopeError as error:
        assert error.field in {"envelope", "type", "id", "version", "body"} or error.field in {
            f"body.{f.name}" for f in V3.fields
        }
        return
    assert reader.decode(encode(message)) == message


def test_a_writer_cannot_make_an_invalid_message():
    with pytest.raises(EnvelopeError, match="not a field") as caught:
        V1.message(1, {**BODIES[1], "colour": "red"})
    assert caught.value.field == "body.colour"
    with pytest.raises(EnvelopeError) as caught:
        V1.message(-5, BODIES[1])
    assert caught.value.field == "id"


@pytest.mark.parametrize(
    ("fields", "version", "complaint"),
    [
        ((SKU, SKU), 1, "appears twice"),
        ((SKU, Field("gift", bool, since=2)), 2, "needs a default"),
        ((SKU, Field("gift", bool, False, since=3)), 2, "since must be"),
    ],
)
def test_a_schema_that_could_not_evolve_is_refused(fields, version, complaint):
    with pytest.raises(ValueError, match=complaint):
        Schema("order.placed", version, fields)


def test_docstring_examples():
    options = doctest.ELLIPSIS
    assert doctest.testmod(reference.wire.schemas, optionflags=options).failed == 0


def test_an_envelope_decoded_elsewhere_still_needs_text_field_names():
    # decode() refuses non-text map keys in the CBOR policy; read() checks values it is handed.
    with pytest.raises(EnvelopeError, match="field names are text") as caught:
        MessageReader([V3]).read(envelope(body={**BODIES[1], 1: 2}))
    assert caught.value.field == "body"
