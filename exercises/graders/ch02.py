"""Graders for exercises/02-serialization.ipynb: CBOR heads, strings, containers, versions.

The reference modules are the oracles: inputs are built with `reference.wire.cbor.dumps`, a decoded
value must equal what `reference.wire.cbor.loads` gives, and a read message must equal what
`reference.wire.schemas.MessageReader` makes of the same envelope.
"""

from exercises.grading import grader, short
from reference.wire.cbor import CBORDecodeError, dumps, loads
from reference.wire.schemas import EnvelopeError, Field, MessageReader, Schema

HUGE_STRING = bytes.fromhex("5b4000000000000000")  # a byte string of 2**62 bytes, then nothing
HUGE_ARRAY = bytes.fromhex("9b4000000000000000")  # an array of 2**62 items
HUGE_MAP = bytes.fromhex("bb4000000000000000")  # a map of 2**62 pairs


@grader("Task 1 · encode_head")
def check_encode_head(cases, encode_head):
    table = [
        (0, 0, "00", "Arguments 0..23 go in the low 5 bits of the initial byte."),
        (0, 23, "17", "23 is the largest argument that fits in the initial byte."),
        (0, 24, "1818", "From 24 on, additional information 24 says: 1 byte follows."),
        (0, 255, "18ff", "255 still fits in the one byte after the initial byte."),
        (0, 256, "190100", "256 needs 2 bytes: additional information 25."),
        (3, 500, "7901f4", "The major type goes in the top 3 bits: 3 << 5 is 0x60."),
        (0, 65535, "19ffff", "65535 is the largest 2-byte argument."),
        (4, 65536, "9a00010000", "65536 needs 4 bytes (additional information 26)."),
        (5, 2**32 - 1, "baffffffff", "2**32 - 1 is the largest 4-byte argument."),
        (2, 2**32, "5b0000000100000000", "2**32 needs 8 bytes (additional information 27)."),
        (1, 2**64 - 1, "3bffffffffffffffff", "2**64 - 1 is the largest argument of all."),
        (7, 20, "f4", "Major type 7 with argument 20 is false."),
    ]
    for major_type, argument, expected, hint in table:
        cases.equal(
            f"encode_head({major_type}, {argument})",
            lambda m=major_type, a=argument: encode_head(m, a),
            bytes.fromhex(expected),
            hint=hint + " Arguments are big-endian.",
        )
    cases.raises(
        "encode_head(0, 2**64): too large for any head",
        lambda: encode_head(0, 2**64),
        ValueError,
        hint="Raise ValueError when the argument does not fit in 8 bytes.",
    )


@grader("Task 2 · decode_string")
def check_decode_string(cases, decode_string):
    good = [
        ("a byte string", dumps(b"abc"), 0, (b"abc", 4)),
        ("a text string", dumps("héllo"), 0, ("héllo", 7)),
        ("an empty byte string", dumps(b""), 0, (b"", 1)),
        ("an empty text string", dumps(""), 0, ("", 1)),
        ("a string after other bytes", b"\x00\x01" + dumps("hi") + b"\xff", 2, ("hi", 5)),
        (
            "300 bytes (a 2-byte length)",
            dumps(bytes(range(100)) * 3),
            0,
            (bytes(range(100)) * 3, 303),
        ),
    ]
    for case, data, position, expected in good:
        cases.equal(
            f"{case}: decode_string(bytes.fromhex({short(data.hex(), 30)}), {position}, 1000)",
            lambda d=data, p=position: decode_string(d, p, 1000),
            expected,
            hint="Return (value, position just after the payload); text decodes from UTF-8.",
        )
    ten = dumps(b"0123456789")
    cases.equal(
        "a 10-byte string with max_size=10",
        lambda: decode_string(ten, 0, 10),
        (b"0123456789", 11),
        hint="max_size itself is allowed.",
    )
    refused = [
        (
            "an 11-byte string with max_size=10",
            dumps(b"0123456789a"),
            10,
            "Refuse a length over max_size.",
        ),
        (
            "a string cut short",
            dumps("hello")[:-1],
            1000,
            "A slice past the end quietly returns fewer bytes: compare the length with what"
            " remains first.",
        ),
        (
            "a string that declares 2**62 bytes",
            HUGE_STRING,
            2**64,
            "Check the declared length against the bytes that remain before allocating anything.",
        ),
        (
            "invalid UTF-8 in a text string",
            bytes.fromhex("62c328"),
            1000,
            "UnicodeDecodeError is not a CBORDecodeError: catch it and raise CBORDecodeError.",
        ),
        (
            "an integer, not a string",
            dumps(5),
            1000,
            "Check the major type: only 2 and 3 are strings.",
        ),
        (
            "an array, not a string",
            dumps(["a"]),
            1000,
            "Check the major type: only 2 and 3 are strings.",
        ),
    ]
    for case, data, max_size, hint in refused:
        cases.raises(
            case, lambda d=data, m=max_size: decode_string(d, 0, m), CBORDecodeError, hint=hint
        )


@grader("Task 3 · decode")
def check_decode(cases, decode):
    values = [
        0, 23, 24, 1000, 2**64 - 1, -1, -24, -25, -1000, -(2**64),
        False, True, None, "x", b"y",
        [], [1, [2, 3]], {}, {"a": 1, "b": [2, 3]}, {1: "one", -1: b"minus one"},
        [{"deep": [[[{}]]]}, "tail"],
    ]  # fmt: skip
    for value in values:
        cases.equal(
            f"decode(bytes.fromhex({short(dumps(value).hex(), 30)})), holding {short(value, 30)}",
            lambda v=value: decode(dumps(v), 16, 1000),
            loads(dumps(value)),
            hint="Negative integers are -1 - argument; 20, 21, 22 in major type 7 are"
            " false, true, null.",
        )
    five_deep = dumps([[[[[0]]]]])
    cases.equal(
        "5 nested arrays with max_depth=5",
        lambda: decode(five_deep, 5, 1000),
        [[[[[0]]]]],
        hint="max_depth counts arrays and maps: 5 levels are allowed when max_depth is 5.",
    )
    four = dumps([1, 2, 3, 4])
    cases.equal("4 items with max_size=4", lambda: decode(four, 16, 4), [1, 2, 3, 4])
    refused = [
        ("6 nested arrays with max_depth=5", dumps([[[[[[0]]]]]]), 5, 1000,
         "Refuse an array or map nested deeper than max_depth."),
        ("100,000 nested arrays", b"\x81" * 100_000 + b"\x00", 16, 1000,
         "Without a depth limit, deep input exhausts Python's stack (RecursionError)."),
        ("5 items with max_size=4", dumps([1, 2, 3, 4, 5]), 16, 4,
         "Refuse an array whose count exceeds max_size."),
        ("3 pairs with max_size=2", dumps({1: 1, 2: 2, 3: 3}), 16, 2,
         "Refuse a map whose count of pairs exceeds max_size."),
        ("an array that declares 2**62 items", HUGE_ARRAY, 16, 2**64,
         "n items need at least n more bytes: check before building anything."),
        ("a map that declares 2**62 pairs", HUGE_MAP, 16, 2**64,
         "n pairs need at least 2n more bytes: check before building anything."),
        ("an array cut short", bytes.fromhex("8301"), 16, 1000,
         "An item missing at the end is an error, not a shorter array."),
        ("a string cut short inside an array", dumps(["hello"])[:-1], 16, 1000,
         "Use decode_string from Task 2 for major types 2 and 3."),
        ("bytes after the item", dumps(1) + b"\x00", 16, 1000,
         "Exactly one item: anything left over is an error."),
        ("a tag (not handled in this exercise)", bytes.fromhex("c100"), 16, 1000,
         "Refuse what you do not handle with CBORDecodeError, never another exception."),
        ("a float (not handled in this exercise)", dumps(1.5), 16, 1000,
         "Refuse what you do not handle with CBORDecodeError, never another exception."),
        ("an array as a map key", bytes.fromhex("a18000"), 16, 1000,
         "A list cannot be a dict key in Python: refuse it with CBORDecodeError, not TypeError."),
        ("an empty input", b"", 16, 1000, "There is no item at all."),
    ]  # fmt: skip
    for case, data, max_depth, max_size, hint in refused:
        cases.raises(
            case,
            lambda d=data, depth=max_depth, size=max_size: decode(d, depth, size),
            CBORDecodeError,
            hint=hint,
        )


SKU, QUANTITY = Field("sku", str), Field("quantity", int)
NOTE = Field("note", str, default="", since=2)
GIFT = Field("gift", bool, default=False, since=3)
ORDER_V2 = Schema("order.placed", 2, (SKU, QUANTITY, NOTE))
ORDER_V2_IGNORING = Schema("order.placed", 2, ORDER_V2.fields, unknown_fields="ignore")
ORDER_V3 = Schema("order.placed", 3, (SKU, QUANTITY, NOTE, GIFT), oldest=2)


def envelope(version, body):
    return {"type": "order.placed", "id": 7, "version": version, "body": body}


@grader("Task 4 · read_message")
def check_read_message(cases, read_message):
    good = [
        ("a v2 body, read by v2", ORDER_V2, envelope(2, {"sku": "A", "quantity": 3, "note": "x"}),
         "Copy the known fields into the body."),
        ("a v1 body, read by v2", ORDER_V2, envelope(1, {"sku": "A", "quantity": 3}),
         "A field missing from an older body takes its default; the result is a v2 message."),
        ("a quantity of 0", ORDER_V2, envelope(2, {"sku": "A", "quantity": 0, "note": ""}),
         "0 and '' are values, not missing fields: test `name in body`."),
        ("a v3 body, read by v2 (keep)", ORDER_V2,
         envelope(3, {"sku": "A", "quantity": 3, "note": "", "gift": True}),
         "Keep unknown fields in Message.unknown, and keep the writer's newer version."),
        ("a v3 body, read by v2 (ignore)", ORDER_V2_IGNORING,
         envelope(3, {"sku": "A", "quantity": 3, "note": "", "gift": True}),
         "With unknown_fields='ignore', drop them: the message is then of the reader's version."),
        ("a v2 body, read by v3", ORDER_V3, envelope(2, {"sku": "A", "quantity": 3, "note": "x"}),
         "gift was added in v3: take its default."),
    ]  # fmt: skip
    for case, schema, value, hint in good:
        cases.equal(
            case,
            lambda s=schema, v=value: read_message(s, v),
            MessageReader([schema]).read(value),
            hint=hint,
        )
    refused = [
        ("sku missing", ORDER_V2, envelope(2, {"quantity": 3}), "body.sku",
         "A required field (default REQUIRED) must be there, in every version."),
        ("quantity is text", ORDER_V2, envelope(2, {"sku": "A", "quantity": "3"}), "body.quantity",
         "Check each value's type with the field's `types`."),
        ("quantity is True", ORDER_V2, envelope(2, {"sku": "A", "quantity": True}), "body.quantity",
         "isinstance(True, int) is True in Python: refuse a bool where bool is not allowed."),
        ("note is None", ORDER_V2, envelope(2, {"sku": "A", "quantity": 1, "note": None}),
         "body.note", "A value that is present must have the right type, even an optional one."),
        ("version 0", ORDER_V2, envelope(0, {"sku": "A", "quantity": 1}), "version",
         "A version is an int, 1 or more."),
        ("version '2'", ORDER_V2, envelope("2", {"sku": "A", "quantity": 1}), "version",
         "A version is an int, not text."),
        ("version True", ORDER_V2, envelope(True, {"sku": "A", "quantity": 1}), "version",
         "A version is an int, not a bool."),
        ("a v1 body, read by v3 (oldest is 2)", ORDER_V3, envelope(1, {"sku": "A", "quantity": 1}),
         "version", "Refuse versions older than schema.oldest."),
        ("body is a list", ORDER_V2, envelope(2, ["A", 1]), "body", "The body must be a dict."),
    ]  # fmt: skip
    for case, schema, value, field, hint in refused:
        error = cases.raises(
            case, lambda s=schema, v=value: read_message(s, v), EnvelopeError, hint=hint
        )
        cases.true(
            f"{case}: the error names the field",
            error.field == field,
            f"expected EnvelopeError({field!r}, ...), got field {error.field!r}",
            hint=f"Raise EnvelopeError({field!r}, <what is wrong>).",
        )
