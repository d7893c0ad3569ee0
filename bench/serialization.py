"""Size and speed of four encodings on the same messages, measured in one run.

Each codec encodes a message and decodes it again, and must give back an
equal message (JSON needs help: it has no bytes, so they travel as base64
and the reader has to know which fields to turn back into bytes). Two
messages: a typical 10-field message, and a message holding a 1,000-element
array of floats. Times are per encode+decode, the best of several repeats
taken in turn, so that a busy moment on the machine hits every codec alike.

The last line is a JSON object; `teaching_cbor_vs_cbor2` is the teaching
codec's encode+decode time divided by cbor2's on the typical message.

Run: .venv/bin/python bench/serialization.py
"""

from __future__ import annotations

import base64
import json
import pickle
import random
import timeit
from collections.abc import Callable

import cbor2

from reference.wire import cbor

REPEATS = 7
SECONDS_PER_REPEAT = 0.15

TYPICAL = {
    "type": "order.placed",
    "id": 184467,
    "version": 2,
    "sent_at": 1700000000.125,
    "sender": "orders-3",
    "trace_id": bytes(range(16)),
    "priority": 3,
    "tags": ["eu", "retail"],
    "body": {"sku": "A-1029", "quantity": 4, "price": 19.99},
    "urgent": False,
}
_rng = random.Random(2)
LARGE = {
    "type": "sensor.readings",
    "id": 99,
    "samples": [_rng.gauss(20.0, 5.0) for _ in range(1000)],
}
MESSAGES = {"typical (10 fields)": TYPICAL, "1,000-element array": LARGE}


def json_encode(message: dict) -> bytes:
    def bytes_as_base64(value: object) -> str:
        if isinstance(value, bytes):
            return base64.b64encode(value).decode("ascii")
        raise TypeError(f"cannot encode {type(value).__name__}")

    return json.dumps(message, default=bytes_as_base64, separators=(",", ":")).encode()


def json_decode(data: bytes) -> dict:
    message = json.loads(data)
    if "trace_id" in message:  # the reader must know which strings were bytes
        message["trace_id"] = base64.b64decode(message["trace_id"])
    return message


CODECS: dict[str, tuple[Callable[[dict], bytes], Callable[[bytes], object]]] = {
    "JSON (bytes as base64)": (json_encode, json_decode),
    "cbor2": (cbor2.dumps, cbor2.loads),
    "pickle": (pickle.dumps, pickle.loads),
    "reference.wire.cbor": (cbor.dumps, cbor.loads),
}


def main() -> None:
    timers, numbers, best, sizes = {}, {}, {}, {}
    for message_name, message in MESSAGES.items():
        for codec_name, (encode, decode) in CODECS.items():
            assert decode(encode(message)) == message, codec_name
            case = message_name, codec_name
            sizes[case] = len(encode(message))
            timers[case] = timeit.Timer(lambda e=encode, d=decode, m=message: d(e(m)))
            number, seconds = timers[case].autorange()  # runs for at least 0.2 s
            numbers[case] = max(1, int(number * SECONDS_PER_REPEAT / seconds))
            best[case] = seconds / number
    for _ in range(REPEATS):
        for case, timer in timers.items():
            best[case] = min(best[case], timer.timeit(numbers[case]) / numbers[case])

    header = f"{'message':<22}{'codec':<25}{'bytes':>7}{'encode+decode':>16}{'vs cbor2':>10}"
    print(header)
    print("-" * len(header))
    for message_name in MESSAGES:
        baseline = best[message_name, "cbor2"]
        for codec_name in CODECS:
            size, seconds = sizes[message_name, codec_name], best[message_name, codec_name]
            print(
                f"{message_name:<22}{codec_name:<25}{size:>7}"
                f"{seconds * 1e6:>13.1f} us{seconds / baseline:>9.2f}x"
            )
    typical, large = MESSAGES
    ratio = best[typical, "reference.wire.cbor"] / best[typical, "cbor2"]
    ratio_large = best[large, "reference.wire.cbor"] / best[large, "cbor2"]
    print(
        json.dumps(
            {
                "teaching_cbor_vs_cbor2": round(ratio, 2),
                "teaching_cbor_vs_cbor2_1000_elements": round(ratio_large, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
