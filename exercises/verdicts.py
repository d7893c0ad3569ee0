"""How a verdict says what went wrong: values compared as plain values, the place where two
long values first differ, and an exception as the learner needs to see it.

`same_value` is the comparison every grader uses: a tuple and a list with the same items are
the same, because a tuple sent over the network arrives as a list; `True` is not `1`.
`difference` says "expected X, got Y" in full when that fits on a line, and otherwise where
the two first differ (an index, a key, a field, an offset in a string), so a list of a
thousand items never hides its one wrong item behind "...". `describe` shows an exception's
type and message with the line of the answer that raised it, and an `ExceptionGroup` (what a
nursery raises) by the exceptions inside it.
"""

from __future__ import annotations

import dataclasses
import os
import sysconfig
import traceback
from pathlib import Path
from typing import Any

import trio

_NOT_THE_ANSWER = tuple(
    str(path) + os.sep
    for path in (
        Path(__file__).resolve().parent,  # the graders
        Path(__file__).resolve().parent.parent / "reference",
        Path(trio.__file__).resolve().parent,
        *(Path(sysconfig.get_path(name)).resolve() for name in ("stdlib", "purelib", "platlib")),
    )
)


def same_value(expected: Any, got: Any) -> bool:
    """Whether `got` is `expected` as a plain value.

    Lists and tuples with the same items are the same, and so are dicts with
    the same items; `True` and `1` are not; anything else compares with ==.
    """
    if isinstance(expected, list | tuple):
        return (
            isinstance(got, list | tuple)
            and len(got) == len(expected)
            and all(map(same_value, expected, got))
        )
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(same_value(value, got[key]) for key, value in expected.items())
        )
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(got) is type(expected) and got == expected
    try:
        return bool(got == expected)
    except Exception:
        return False


_WHOLE = 240  # a verdict shows both values whole when they fit in about this many characters


def difference(expected: Any, got: Any) -> str:
    """'expected X, got Y' in full, or for long values, where they first differ."""
    whole = f"expected {expected!r}, got {got!r}"
    if len(whole) <= _WHOLE:
        return whole
    where, expected_part, got_part = _first_difference(expected, got, "")
    if not where:  # nothing smaller to point at
        return whole
    return (
        f"expected {_whole_or_size(expected)}, got {_whole_or_size(got)}; they first differ "
        f"at {where}: expected {_part(expected_part)}, got {_part(got_part)}"
    )


class _Missing:
    def __repr__(self) -> str:
        return "nothing (it ends before)"


_END = _Missing()


def _first_difference(expected: Any, got: Any, where: str) -> tuple[str, Any, Any]:
    if isinstance(expected, list | tuple) and isinstance(got, list | tuple):
        for index, (item, other) in enumerate(zip(expected, got, strict=False)):
            if not same_value(item, other):
                return _first_difference(item, other, f"{where}[{index}]")
        index = min(len(expected), len(got))
        return f"{where}[{index}]", _item(expected, index), _item(got, index)
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in [*expected, *(key for key in got if key not in expected)]:
            item, other = expected.get(key, _END), got.get(key, _END)
            if not same_value(item, other):
                return _first_difference(item, other, f"{where}[{key!r}]")
    if dataclasses.is_dataclass(expected) and type(got) is type(expected):
        for field in dataclasses.fields(expected):
            item, other = getattr(expected, field.name), getattr(got, field.name)
            if not same_value(item, other):
                return _first_difference(item, other, f"{where}.{field.name}")
    long = len(repr(expected)) > _WHOLE // 3
    for kind in (str, bytes | bytearray):
        if long and isinstance(expected, kind) and isinstance(got, kind):
            start = next(
                (i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
                min(len(expected), len(got)),
            )
            return f"{where}[{start}:]", expected[start : start + 40], got[start : start + 40]
    return where, expected, got


def _item(sequence: Any, index: int) -> Any:
    return sequence[index] if index < len(sequence) else _END


def _size(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return f"{len(value):,} bytes"
    if isinstance(value, str):
        return f"a string of {len(value):,} characters"
    if isinstance(value, list | tuple | dict):
        noun = "keys" if isinstance(value, dict) else "items"
        return f"a {type(value).__name__} of {len(value):,} {noun}"
    return repr(value)


def _whole_or_size(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _WHOLE // 3 else _size(value)


def _part(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _WHOLE else f"{_size(value)} that begins {text[:_WHOLE]}"


def describe(exc: BaseException) -> str:
    """An exception as the learner needs it: type, message, and the line of the answer."""
    leaves = exceptions_inside(exc)
    if leaves != [exc]:
        inside = "; ".join(_one(leaf) for leaf in leaves)
        return f"{inside} (inside an {type(exc).__name__}, as a nursery raises it)"
    return _one(exc)


def _one(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frame = next(
        (
            frame
            for frame in reversed(traceback.extract_tb(exc.__traceback__))
            if not os.path.abspath(frame.filename).startswith(_NOT_THE_ANSWER)
        ),
        None,
    )
    if frame is None:
        return text
    line = f": {frame.line.strip()}" if frame.line else ""
    return f"{text} (in {frame.name}, line {frame.lineno}{line})"


def exceptions_inside(exc: BaseException) -> list[BaseException]:
    """The exceptions an exception stands for: itself, or what its groups hold."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in exceptions_inside(inner)]
    return [exc]


def not_written(leaves: list[BaseException]) -> str:
    """The problem of an answer whose stub raised NotImplementedError."""
    stub = next(leaf for leaf in leaves if isinstance(leaf, NotImplementedError))
    return f"not written yet (NotImplementedError: {stub})"


def exception_names(expected: type[BaseException] | tuple[type[BaseException], ...]) -> str:
    """`FrameTooLarge`, or `KeyError or IndexError`."""
    if isinstance(expected, tuple):
        return " or ".join(cls.__name__ for cls in expected)
    return expected.__name__
