"""Reading CBOR by eye: `annotate` explains an encoding head by head.

Theory of operation
-------------------
Chapter 02 teaches CBOR by taking encodings apart. `annotate(data)` walks
the same heads that `reference.wire.cbor.loads` reads, with the codec's own
`Decoder`, and prints one line per head: its initial byte and argument
bytes in hex, then what they mean (major type, argument, the value), with
a string's payload on the line beneath and nested items indented. It is
the hex view of `cbor.me` or `cbor2`'s diagnostic tools, written out so a
learner can read how the bytes and the rules of RFC 8949 §3 line up.

Only a well-formed item is explained: anything `loads` refuses raises the
same `CBORDecodeError`.
"""

from __future__ import annotations

from reference.wire.cbor import (
    ARRAY,
    BREAK,
    BYTE_STRING,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_SIZE,
    DOUBLE,
    HALF,
    INDEFINITE,
    MAJOR_TYPE_NAMES,
    MAP,
    NEGATIVE_INT,
    SIMPLE_OR_FLOAT,
    SINGLE,
    TAG,
    TEXT_STRING,
    UNSIGNED_INT,
    Decoder,
    loads,
)


def annotate(data: bytes) -> str:
    """Explain an encoding: each head on a line (initial byte, then argument
    bytes) with its major type and argument; a string's payload beneath it.

    >>> print(annotate(cbor.dumps({"id": 7})))
    a1          major 5, argument 1: map of 1 pair
      62        major 3, argument 2: text string of 2 bytes
        6964    'id'
      07        major 0, argument 7: unsigned integer 7
    """
    loads(data)  # only a well-formed item is explained; this raises CBORDecodeError
    decoder = Decoder(bytes(data), DEFAULT_MAX_DEPTH, DEFAULT_MAX_SIZE)
    lines: list[tuple[str, str]] = []

    def explain(depth: int) -> None:
        indent = "  " * depth
        start = decoder.position
        major_type, info, argument = decoder.read_head()
        initial, argument_bytes = (
            decoder.data[start : start + 1],
            decoder.data[start + 1 : decoder.position],
        )
        head = f"{indent}{initial.hex()} {argument_bytes.hex()}".rstrip()
        if major_type == SIMPLE_OR_FLOAT and info == INDEFINITE:
            lines.append((head, "break"))
            return
        if info == INDEFINITE:
            name = MAJOR_TYPE_NAMES[major_type]
            lines.append((head, f"major {major_type}, indefinite length: {name} until break"))
            while decoder.data[decoder.position] != BREAK:
                explain(depth + 1)
            explain(depth + 1)
            return
        decoder.position = start
        value = decoder.decode_item(depth) if major_type not in (ARRAY, MAP, TAG) else None
        decoder.position = start + 1 + len(argument_bytes)
        meaning = f"major {major_type}, argument {argument}: "
        if major_type in (UNSIGNED_INT, NEGATIVE_INT):
            meaning += f"{MAJOR_TYPE_NAMES[major_type]} {value}"
        elif major_type in (BYTE_STRING, TEXT_STRING):
            meaning += f"{MAJOR_TYPE_NAMES[major_type]} of {argument} byte{'s' * (argument != 1)}"
        elif major_type == ARRAY:
            meaning += f"array of {argument} item{'s' * (argument != 1)}"
        elif major_type == MAP:
            meaning += f"map of {argument} pair{'s' * (argument != 1)}"
        elif major_type == TAG:
            meaning += f"tag {argument}" + {2: " (positive bignum)", 3: " (negative bignum)"}.get(
                argument, ""
            )
        elif info in (HALF, SINGLE, DOUBLE):
            bits = 8 << (info - 24)
            meaning = f"major 7, additional information {info}: {bits}-bit float {value!r}"
        else:
            meaning += "null" if value is None else str(value).lower()
        lines.append((head, meaning))
        if major_type in (BYTE_STRING, TEXT_STRING):
            payload = decoder.read(argument).hex()
            lines.append((f"{indent}  {payload[:32]}{'..' * (len(payload) > 32)}", repr(value)))
        elif major_type in (ARRAY, MAP, TAG):
            for _ in range({ARRAY: argument, MAP: 2 * argument, TAG: 1}[major_type]):
                explain(depth + 1)

    explain(0)
    width = max(len(left) for left, _ in lines) + 4
    return "\n".join(f"{left:<{width}}{right}" for left, right in lines)
