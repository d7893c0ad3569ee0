"""Answers to exercises/02-serialization.ipynb: wrong ones the graders must reject (MUTANTS), and
right ones written another way that they must accept (ALTERNATIVES)."""

import struct

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


def head_with_signed_widths(major_type, argument):
    if argument < 24:
        return bytes([major_type << 5 | argument])
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 1 << (8 * width - 1):  # as if the argument were a signed integer
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


def string_limit_in_characters(data, position, max_size):
    major_type, length, position = read_head(data, position)
    if major_type not in (2, 3):
        raise CBORDecodeError("not a string")
    if length > len(data) - position:
        raise CBORDecodeError("too long")
    raw = data[position : position + length]
    try:
        value = raw if major_type == 2 else raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CBORDecodeError("not UTF-8") from None
    if len(value) > max_size:  # characters, where the limit is on the bytes read
        raise CBORDecodeError("too long")
    return value, position + length


def string_with_replacement_characters(data, position, max_size):
    major_type, length, position = read_head(data, position)
    if major_type not in (2, 3):
        raise CBORDecodeError("not a string")
    if length > max_size or length > len(data) - position:
        raise CBORDecodeError("too long")
    raw = data[position : position + length]
    return (raw if major_type == 2 else raw.decode("utf-8", "replace")), position + length


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
    map_depth_limit=True,
    string_limit=True,
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
                return _decode_string(data, position, max_size if string_limit else 2**64)
            if major_type == 7 and after_head == position + 1 and argument in (20, 21, 22):
                return {20: False, 21: True, 22: None}[argument], after_head
            if major_type not in (4, 5):
                raise CBORDecodeError("not handled")
            too_deep = depth > max_depth if depth_off_by_one else depth >= max_depth
            if depth_limit and too_deep and (map_depth_limit or major_type == 4):
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
    older_becomes_current=True,
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
        if not older_becomes_current and version < schema.version:
            return Message(schema.type, envelope["id"], version, checked)
        if schema.unknown_fields == "ignore" or not keep_unknown:
            return Message(schema.type, envelope["id"], schema.version, checked)
        unknown = {name: value for name, value in body.items() if name not in checked}
        newest = max(version, schema.version) if keep_newer_version else schema.version
        return Message(schema.type, envelope["id"], newest, checked, unknown)

    return read_message


def named(name, answer):
    """`answer`, renamed to say what is wrong (or different) with it."""
    answer.__name__ = answer.__qualname__ = name
    return answer


MUTANTS = {
    "check_encode_head": [
        head_with_24_inline,
        head_little_endian,
        head_without_the_shift,
        head_that_skips_two_bytes,
        head_with_signed_widths,
    ],
    "check_decode_string": [
        string_without_max_size,
        string_that_trusts_the_slice,
        string_that_lets_unicode_errors_out,
        string_of_any_major_type,
        string_position_before_the_payload,
        string_limit_in_characters,
        string_with_replacement_characters,
    ],
    "check_decode": [
        named("decode_without_a_depth_limit", make_decoder(depth_limit=False)),
        named("decode_one_level_too_deep", make_decoder(depth_off_by_one=True)),
        named("decode_without_a_size_limit", make_decoder(size_check=False)),
        named(
            "decode_that_allocates_first",
            make_decoder(remaining_check=False, preallocate=True),
        ),
        named("decode_negative_off_by_one", make_decoder(negative_off_by_one=True)),
        named("decode_with_bytes_left_over", make_decoder(trailing_check=False)),
        named("decode_with_any_key", make_decoder(key_check=False)),
        named("decode_maps_of_any_depth", make_decoder(map_depth_limit=False)),
        named("decode_strings_of_any_size", make_decoder(string_limit=False)),
    ],
    "check_read_message": [
        named("read_bools_as_ints", make_reader(bools_are_ints=True)),
        named("read_dropping_unknown_fields", make_reader(keep_unknown=False)),
        named("read_forgetting_the_newer_version", make_reader(keep_newer_version=False)),
        named("read_without_required_fields", make_reader(check_required=False)),
        named("read_falsy_as_missing", make_reader(falsy_is_missing=True)),
        named("read_any_old_version", make_reader(check_oldest=False)),
        named("read_keeping_the_older_version", make_reader(older_becomes_current=False)),
    ],
}


# --- Right answers, written another way -------------------------------------------------------

_HEADS = ((24, ">BB", 1 << 8), (25, ">BH", 1 << 16), (26, ">BI", 1 << 32), (27, ">BQ", 1 << 64))


def head_with_struct(major_type, argument):
    if argument < 24:
        return struct.pack(">B", major_type << 5 | argument)
    for info, layout, limit in _HEADS:
        if argument < limit:
            return struct.pack(layout, major_type << 5 | info, argument)
    raise ValueError(f"{argument} needs more than 8 bytes")


def string_from_a_memoryview(data, position, max_size):
    major_type, length, start = read_head(data, position)
    if major_type != 2 and major_type != 3:
        raise CBORDecodeError("not a string")
    view = memoryview(data)[start:]
    if length > min(max_size, len(view)):
        raise CBORDecodeError("longer than allowed or than the input")
    raw = bytes(view[:length])
    if major_type == 3:
        try:
            return str(raw, "utf-8"), start + length
        except UnicodeError:
            raise CBORDecodeError("not UTF-8") from None
    return raw, start + length


class _Reader:
    """Decodes by walking a position through the data, one method per kind of item."""

    def __init__(self, data, max_depth, max_size):
        self.data, self.position = data, 0
        self.max_depth, self.max_size = max_depth, max_size

    def item(self, depth):
        start = self.position
        major_type, argument, self.position = read_head(self.data, start)
        if major_type in (2, 3):
            value, self.position = string_from_a_memoryview(self.data, start, self.max_size)
            return value
        if major_type == 0:
            return argument
        if major_type == 1:
            return -1 - argument
        if major_type == 7 and self.position == start + 1 and argument in (20, 21, 22):
            return (False, True, None)[argument - 20]
        if major_type == 4:
            inner = self.deeper(depth, argument, 1)
            return [self.item(inner) for _ in range(argument)]
        if major_type == 5:
            inner = self.deeper(depth, argument, 2)
            return dict(self.pair(inner) for _ in range(argument))
        raise CBORDecodeError(f"not handled: major type {major_type}")

    def deeper(self, depth, count, bytes_per_entry):
        if depth + 1 > self.max_depth or count > self.max_size:
            raise CBORDecodeError("too deep or too large")
        if count * bytes_per_entry > len(self.data) - self.position:
            raise CBORDecodeError("the count is larger than the input")
        return depth + 1

    def pair(self, depth):
        key = self.item(depth)
        if isinstance(key, list | dict):
            raise CBORDecodeError("an unhashable key")
        return key, self.item(depth)


def decode_with_a_reader(data, max_depth, max_size):
    reader = _Reader(data, max_depth, max_size)
    value = reader.item(0)
    if reader.position != len(data):
        raise CBORDecodeError("bytes left over")
    return value


def read_with_a_comprehension(schema, envelope):
    version, body = envelope["version"], envelope["body"]
    if type(version) is not int or not max(1, schema.oldest) <= version:
        raise EnvelopeError("version", f"not a version this reader accepts: {version!r}")
    if not isinstance(body, dict):
        raise EnvelopeError("body", "not a map")
    for field in schema.fields:
        types = field.types if isinstance(field.types, tuple) else (field.types,)
        if field.name not in body:
            if field.default is REQUIRED:
                raise EnvelopeError(f"body.{field.name}", "missing")
        elif type(body[field.name]) is bool and bool not in types:
            raise EnvelopeError(f"body.{field.name}", "a bool")
        elif not isinstance(body[field.name], types):
            raise EnvelopeError(f"body.{field.name}", "wrong type")
    known = {field.name: body.get(field.name, field.default) for field in schema.fields}
    if schema.unknown_fields == "ignore":
        return Message(schema.type, envelope["id"], schema.version, known)
    unknown = {name: value for name, value in body.items() if name not in known}
    return Message(schema.type, envelope["id"], max(version, schema.version), known, unknown)


ALTERNATIVES = {
    "check_encode_head": [head_with_struct],
    "check_decode_string": [string_from_a_memoryview],
    "check_decode": [decode_with_a_reader],
    "check_read_message": [read_with_a_comprehension],
}
