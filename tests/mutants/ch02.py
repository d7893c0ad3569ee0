"""Plausible wrong answers to exercises/02-serialization.ipynb."""

from reference.wire.cbor import CBORDecodeError
from reference.wire.schemas import REQUIRED, EnvelopeError, Message

# --- Task 1 · encode_head ---------------------------------------------------------------------


def head_with_24_inline(major_type, argument):
    if argument <= 24:  # off by one: 24 is additional information, not a value
        return bytes([major_type << 5 | argument])
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 1 << (8 * width):
            return bytes([major_type << 5 | info]) + argument.to_bytes(width, "big")
    raise ValueError(argument)


def head_little_endian(major_type, argument):
    if argument < 24:
        return bytes([major_type << 5 | argument])
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 1 << (8 * width):
            return bytes([major_type << 5 | info]) + argument.to_bytes(width, "little")
    raise ValueError(argument)


def head_without_the_shift(major_type, argument):
    if argument < 24:
        return bytes([major_type | argument])
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 1 << (8 * width):
            return bytes([major_type | info]) + argument.to_bytes(width, "big")
    raise ValueError(argument)


def head_that_skips_two_bytes(major_type, argument):
    if argument < 24:
        return bytes([major_type << 5 | argument])
    for info, width in ((24, 1), (26, 4), (27, 8)):
        if argument < 1 << (8 * width):
            return bytes([major_type << 5 | info]) + argument.to_bytes(width, "big")
    raise ValueError(argument)


# --- Task 2 · decode_string -------------------------------------------------------------------


def read_head(data, position):
    if position >= len(data):
        raise CBORDecodeError("input ends where an item should start")
    initial = data[position]
    major_type, info = initial >> 5, initial & 0x1F
    position += 1
    if info < 24:
        return major_type, info, position
    if info > 27:
        raise CBORDecodeError(f"additional information {info} is not handled here")
    width = 1 << (info - 24)
    if position + width > len(data):
        raise CBORDecodeError("input ends inside a head")
    return major_type, int.from_bytes(data[position : position + width], "big"), position + width


def string_without_max_size(data, position, max_size):
    major_type, length, position = read_head(data, position)
    if major_type not in (2, 3):
        raise CBORDecodeError("not a string")
    if length > len(data) - position:
        raise CBORDecodeError("too long")
    raw = data[position : position + length]
    try:
        return (raw if major_type == 2 else raw.decode("utf-8")), position + length
    except UnicodeDecodeError:
        raise CBORDecodeError("not UTF-8") from None


def string_that_trusts_the_slice(data, position, max_size):
    major_type, length, position = read_head(data, position)
    if major_type not in (2, 3):
        raise CBORDecodeError("not a string")
    if length > max_size:
        raise CBORDecodeError("too long")
    raw = data[position : position + length]  # shorter than length if the input was cut
    try:
        return (raw if major_type == 2 else raw.decode("utf-8")), position + length
    except UnicodeDecodeError:
        raise CBORDecodeError("not UTF-8") from None


def string_that_lets_unicode_errors_out(data, position, max_size):
    major_type, length, position = read_head(data, position)
    if major_type not in (2, 3):
        raise CBORDecodeError("not a string")
    if length > max_size or length > len(data) - position:
        raise CBORDecodeError("too long")
    raw = data[position : position + length]
    return (raw if major_type == 2 else raw.decode("utf-8")), position + length


def string_of_any_major_type(data, position, max_size):
    major_type, length, position = read_head(data, position)
    if length > max_size or length > len(data) - position:
        raise CBORDecodeError("too long")
    raw = data[position : position + length]
    try:
        return (raw.decode("utf-8") if major_type == 3 else raw), position + length
    except UnicodeDecodeError:
        raise CBORDecodeError("not UTF-8") from None


def string_position_before_the_payload(data, position, max_size):
    major_type, length, position = read_head(data, position)
    if major_type not in (2, 3):
        raise CBORDecodeError("not a string")
    if length > max_size or length > len(data) - position:
        raise CBORDecodeError("too long")
    raw = data[position : position + length]
    try:
        return (raw if major_type == 2 else raw.decode("utf-8")), position
    except UnicodeDecodeError:
        raise CBORDecodeError("not UTF-8") from None


def _decode_string(data, position, max_size):
    major_type, length, position = read_head(data, position)
    if major_type not in (2, 3):
        raise CBORDecodeError("not a string")
    if length > max_size or length > len(data) - position:
        raise CBORDecodeError("too long")
    raw = data[position : position + length]
    try:
        return (raw if major_type == 2 else raw.decode("utf-8")), position + length
    except UnicodeDecodeError:
        raise CBORDecodeError("not UTF-8") from None


# --- Task 3 · decode --------------------------------------------------------------------------


def make_decoder(
    *,
    depth_limit=True,
    depth_off_by_one=False,
    size_check=True,
    remaining_check=True,
    preallocate=False,
    negative_off_by_one=False,
    trailing_check=True,
    key_check=True,
):
    """A decoder with one of its safeguards switched off or one detail wrong."""

    def decode(data, max_depth, max_size):
        def item(position, depth):
            major_type, argument, after_head = read_head(data, position)
            if major_type == 0:
                return argument, after_head
            if major_type == 1:
                return (-argument if negative_off_by_one else -1 - argument), after_head
            if major_type in (2, 3):
                return _decode_string(data, position, max_size)
            if major_type == 7 and after_head == position + 1 and argument in (20, 21, 22):
                return {20: False, 21: True, 22: None}[argument], after_head
            if major_type not in (4, 5):
                raise CBORDecodeError("not handled")
            too_deep = depth > max_depth if depth_off_by_one else depth >= max_depth
            if depth_limit and too_deep:
                raise CBORDecodeError("too deep")
            if size_check and argument > max_size:
                raise CBORDecodeError("too long")
            per_item = 1 if major_type == 4 else 2
            if remaining_check and argument * per_item > len(data) - after_head:
                raise CBORDecodeError("longer than the input")
            position = after_head
            if major_type == 4 and preallocate:
                items = [None] * argument  # fails at once for a huge count: MemoryError
                for index in range(argument):
                    items[index], position = item(position, depth + 1)
                return items, position
            if major_type == 4:
                items = []
                for _ in range(argument):
                    value, position = item(position, depth + 1)
                    items.append(value)
                return items, position
            pairs = {}
            for _ in range(argument):
                key, position = item(position, depth + 1)
                if key_check and isinstance(key, list | dict):
                    raise CBORDecodeError("unhashable key")
                value, position = item(position, depth + 1)
                pairs[key] = value
            return pairs, position

        value, position = item(0, 0)
        if trailing_check and position != len(data):
            raise CBORDecodeError("trailing bytes")
        return value

    return decode


# --- Task 4 · read_message --------------------------------------------------------------------


def make_reader(
    *,
    bools_are_ints=False,
    keep_unknown=True,
    keep_newer_version=True,
    check_required=True,
    falsy_is_missing=False,
    check_oldest=True,
):
    def read_message(schema, envelope):
        version, body = envelope["version"], envelope["body"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise EnvelopeError("version", "bad version")
        if check_oldest and version < schema.oldest:
            raise EnvelopeError("version", "too old")
        if not isinstance(body, dict):
            raise EnvelopeError("body", "not a dict")
        checked = {}
        for field in schema.fields:
            present = bool(body.get(field.name)) if falsy_is_missing else field.name in body
            if present:
                value = body[field.name]
                allowed = field.types if isinstance(field.types, tuple) else (field.types,)
                wrong_bool = isinstance(value, bool) and bool not in allowed
                if (wrong_bool and not bools_are_ints) or not isinstance(value, allowed):
                    raise EnvelopeError(f"body.{field.name}", "wrong type")
                checked[field.name] = value
            elif field.default is REQUIRED and check_required:
                raise EnvelopeError(f"body.{field.name}", "missing")
            else:
                checked[field.name] = field.default
        if schema.unknown_fields == "ignore" or not keep_unknown:
            return Message(schema.type, envelope["id"], schema.version, checked)
        unknown = {name: value for name, value in body.items() if name not in checked}
        newest = max(version, schema.version) if keep_newer_version else schema.version
        return Message(schema.type, envelope["id"], newest, checked, unknown)

    return read_message


MUTANTS = {
    "check_encode_head": [
        head_with_24_inline,
        head_little_endian,
        head_without_the_shift,
        head_that_skips_two_bytes,
    ],
    "check_decode_string": [
        string_without_max_size,
        string_that_trusts_the_slice,
        string_that_lets_unicode_errors_out,
        string_of_any_major_type,
        string_position_before_the_payload,
    ],
    "check_decode": [
        make_decoder(depth_limit=False),
        make_decoder(depth_off_by_one=True),
        make_decoder(size_check=False),
        make_decoder(remaining_check=False, preallocate=True),
        make_decoder(negative_off_by_one=True),
        make_decoder(trailing_check=False),
        make_decoder(key_check=False),
    ],
    "check_read_message": [
        make_reader(bools_are_ints=True),
        make_reader(keep_unknown=False),
        make_reader(keep_newer_version=False),
        make_reader(check_required=False),
        make_reader(falsy_is_missing=True),
        make_reader(check_oldest=False),
    ],
}
