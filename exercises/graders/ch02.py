"""Graders for exercises/02-serialization.ipynb: CBOR heads, strings, containers, versions.

The reference modules are the oracles: a head must be what `reference.wire.cbor.encode_head`
writes, inputs are built with `reference.wire.cbor.dumps`, a decoded value must equal what
`reference.wire.cbor.loads` gives under the same limits, and a read message must equal what
`reference.wire.schemas.MessageReader` makes of the same envelope. Each grader has hand-picked
cases with a hint each, then a seeded random battery: arguments around every width boundary,
strings and nested values with limits just under, at and just over what they need, inputs cut
short or with a byte too many, and envelopes with fields missing, extra or of the wrong type.
"""

import random
from functools import partial

from exercises.grading import grader
from reference.wire import cbor
from reference.wire.cbor import CBORDecodeError, dumps, loads
from reference.wire.schemas import EnvelopeError, Field, MessageReader, Schema

HUGE_STRING = bytes.fromhex("5b4000000000000000")  # a byte string of 2**62 bytes, then nothing
HUGE_ARRAY = bytes.fromhex("9b4000000000000000")  # an array of 2**62 items
HUGE_MAP = bytes.fromhex("bb4000000000000000")  # a map of 2**62 pairs


def as_hex(data):
    """`data` as the learner would write it, shortened past 30 bytes (a case's name only)."""
    shown = data.hex() if len(data) <= 30 else f"{data[:30].hex()}... ({len(data):,} bytes)"
    return f"bytes.fromhex({shown!r})"


BOUNDARIES = sorted({n for k in (5, 8, 16, 32, 64) for n in (2**k - 24, 2**k - 1, 2**k, 2**k + 1)})


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
    rng = random.Random(2)
    arguments = [
        *range(30),
        *BOUNDARIES,
        *(rng.randrange(2 ** rng.randint(1, 64)) for _ in range(60)),
    ]
    for argument in arguments:
        major_type = rng.randrange(8)
        case = f"encode_head({major_type}, {argument})"
        if argument < 2**64:
            cases.equal(
                case,
                partial(encode_head, major_type, argument),
                cbor.encode_head(major_type, argument),
                hint="The shortest head: below 24 in the first byte, else 1, 2, 4 or 8 bytes "
                "after it, the fewest that hold the argument, big-endian.",
            )
        else:
            cases.raises(
                case,
                partial(encode_head, major_type, argument),
                ValueError,
                hint="Raise ValueError when the argument does not fit in 8 bytes.",
            )


def random_text(rng, longest):
    return "".join(rng.choice("aZ0 é€😀") for _ in range(rng.randint(0, longest)))


def random_string(rng):
    longest = rng.choice([5, 30, 300])
    if rng.random() < 0.5:
        return random_text(rng, longest)
    return rng.randbytes(rng.randint(0, longest))


def random_value(rng, depth):
    """A value of the exercise's subset of CBOR, nested at most `depth` containers deep."""
    kinds = ["int", "negative", "string", "simple", *(["list", "dict"] * (depth > 0))]
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([rng.randint(0, 30), rng.choice(BOUNDARIES[:-2]), rng.randrange(2**64)])
    if kind == "negative":
        return -1 - rng.choice([rng.randint(0, 30), rng.randrange(2**64)])
    if kind == "string":
        return random_string(rng)
    if kind == "simple":
        return rng.choice([False, True, None])
    if kind == "list":
        return [random_value(rng, depth - 1) for _ in range(rng.randint(0, 4))]
    keys = {rng.choice([rng.randint(-30, 30), random_text(rng, 5)]) for _ in range(4)}
    return {key: random_value(rng, depth - 1) for key in list(keys)[: rng.randint(0, 4)]}


def nesting(value):
    """How many containers deep `value` is."""
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(nesting, [*value, *value.values()]), default=0)
    return 0


def widest(value):
    """The largest count of items (or pairs) or bytes of any string in `value`."""
    if isinstance(value, list):
        return max([len(value), *map(widest, value)])
    if isinstance(value, dict):
        return max([len(value), *map(widest, [*value, *value.values()])])
    if isinstance(value, str):
        return len(value.encode())
    return len(value) if isinstance(value, bytes) else 0


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
            f"{case}: decode_string({as_hex(data)}, {position}, 1000)",
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
    rng = random.Random(3)
    for run in range(40):
        value = random_string(rng)
        encoded = dumps(value)
        prefix, suffix = rng.randbytes(rng.randint(0, 5)), rng.randbytes(rng.randint(0, 3))
        data, position = prefix + encoded + suffix, len(prefix)
        length = len(value.encode() if isinstance(value, str) else value)
        max_size = max(0, length + rng.choice([-1, 0, 0, 1, 100]))
        case = (
            f"random string {run}: decode_string({as_hex(data)}, {position}, {max_size}), "
            f"a string of {length} bytes"
        )
        if length <= max_size:
            cases.equal(
                case,
                partial(decode_string, data, position, max_size),
                (value, position + len(encoded)),
                hint="Start at `position`, and return the position just after the payload, "
                "whatever follows it.",
            )
        else:
            cases.raises(
                case,
                partial(decode_string, data, position, max_size),
                CBORDecodeError,
                hint="Refuse a length over max_size.",
            )
        cut = prefix + encoded[: rng.randrange(len(encoded))]
        cases.raises(
            f"random string {run}, cut after {len(cut)} of its {len(prefix + encoded)} bytes",
            partial(decode_string, cut, position, 10**6),
            CBORDecodeError,
            hint="Compare the length with the bytes that remain after the head.",
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
            f"decode(bytes.fromhex({dumps(value).hex()!r}), 16, 1000), holding {value!r}",
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
        ("6 nested maps with max_depth=5", dumps({0: {0: {0: {0: {0: {0: 0}}}}}}), 5, 1000,
         "Maps count towards the depth as arrays do."),
        ("a 5-byte string inside an array, with max_size=4", dumps([b"12345"]), 16, 4,
         "max_size bounds strings too: pass it on to decode_string."),
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
    rng = random.Random(4)
    for run in range(60):
        value = random_value(rng, depth=rng.randint(0, 5))
        data = dumps(value)
        depth, largest = nesting(value), widest(value)
        max_depth = max(0, depth + rng.choice([-1, 0, 1]))
        max_size = max(0, largest + rng.choice([-1, 0, 1]))
        case = (
            f"random value {run}: decode({as_hex(data)}, {max_depth}, {max_size}), holding "
            f"{value!r} ({depth} levels deep, {largest} items or bytes at most)"
        )
        try:
            expected = loads(data, max_depth=max_depth, max_size=max_size)
        except CBORDecodeError:
            cases.raises(
                case,
                partial(decode, data, max_depth, max_size),
                CBORDecodeError,
                hint="Refuse nesting deeper than max_depth (n nested containers need "
                "max_depth >= n) and any string or container over max_size.",
            )
        else:
            cases.equal(
                case,
                partial(decode, data, max_depth, max_size),
                expected,
                hint="A value exactly at the limits is allowed: max_depth levels, max_size "
                "items or bytes.",
            )
        for label, damaged in [
            ("cut short", data[: rng.randrange(len(data))]),
            ("with a byte too many", data + bytes([rng.randrange(256)])),
        ]:
            cases.raises(
                f"random value {run}, {label}: decode({as_hex(damaged)}, 16, 10**6)",
                partial(decode, damaged, 16, 10**6),
                CBORDecodeError,
                hint="Exactly one whole item: an input that ends early, or has bytes left over, "
                "is refused.",
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
    rng = random.Random(5)
    for run in range(60):
        schema = rng.choice([ORDER_V2, ORDER_V2_IGNORING, ORDER_V3])
        value = random_envelope(rng)
        case = f"random envelope {run}, read by {schema_name(schema)}: {value!r}"
        try:
            expected = MessageReader([schema]).read(value)
        except EnvelopeError as refusal:
            error = cases.raises(
                case,
                partial(read_message, schema, value),
                EnvelopeError,
                hint="Check the version, then that the body is a dict, then each field in the "
                "schema's order: missing and required, or of the wrong type.",
            )
            cases.same(
                f"{case}: the error names the field",
                error.field,
                refusal.field,
                hint=f"The first thing wrong here is {refusal.field!r}: {refusal.problem}.",
            )
        else:
            cases.equal(
                case,
                partial(read_message, schema, value),
                expected,
                hint="Fields present keep their values, missing optional ones take their "
                "default; unknown ones are kept (and the newer version) or ignored.",
            )


def schema_name(schema):
    return f"v{schema.version} ({schema.unknown_fields} unknown fields, oldest v{schema.oldest})"


FIELD_VALUES = [  # (field, a value of the right type, values of a wrong type)
    ("sku", ["A-1", ""], [5, None, b"A-1"]),
    ("quantity", [0, 3, 2**40], ["3", True, 3.0, None]),
    ("note", ["", "ring twice"], [None, 7]),
    ("gift", [True, False], [1, "yes"]),
]


def random_envelope(rng):
    """An order envelope with fields missing, extra or of the wrong type, now and then.

    The statement checks the version before the body's type, and the reference the other way
    round; a body that is not a dict therefore comes with a good version.
    """
    body = {}
    for name, right, wrong in FIELD_VALUES:
        roll = rng.random()
        if roll < 0.7:
            body[name] = rng.choice(right)
        elif roll < 0.8:
            body[name] = rng.choice(wrong)
    if rng.random() < 0.3:
        body["colour"] = rng.choice(["red", 3, None])
    if rng.random() < 0.05:  # with a good version: which of two faults comes first is free
        return envelope(rng.choice([2, 3]), list(body.values()))
    return envelope(rng.choice([1, 2, 2, 3, 3, 4, 0, -1, True, "2", 2.0]), body)
