"""Histories: what clients saw of a shared object, one operation at a time.

Theory of operation
-------------------
To judge a replicated store from the outside we record, for every call a
client made, an `Operation`: who called (`client`), what they asked
(`input`, e.g. ``("put", "x", 1)``), when they called (`call`), what came
back (`output`) and when it came back (`ret`). A *history* is a list of
them, in any order. Times are the observer's clock: one clock for all
clients, so "A returned before B was called" (`precedes`) means something.

An operation occupies the closed interval ``[call, ret]``: it took effect
at one instant somewhere in it. Two operations whose intervals overlap,
even at a single instant, are *concurrent*: either may have taken effect
first. Only ``a.ret < b.call`` puts `a` before `b` in real time.

A call that never returned (the client timed out, or crashed) may or may
not have taken effect, and if it did, at any time after its call, even
long after the client gave up. Such an operation is *pending*: record it
with ``ret = math.inf`` and ``output = UNKNOWN`` (`timed_out` builds one).
The two go together: a finite return with an unknown output, or a pending
call with a known one, is an `InvalidHistory`. A model must accept
`UNKNOWN` as any output (see `reference.order.models`), so a pending
operation placed last is always explained: "it never took effect" and "it
took effect after everything we saw" look the same to every observer.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any


class InvalidHistory(ValueError):
    """A history (or an operation in it) that the checker cannot judge."""


class _Unknown:
    """The output of a call that never returned: `UNKNOWN`, a single value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Operation:
    """One call by `client`: `input` at time `call`, `output` at time `ret`."""

    client: Hashable
    input: Any
    call: float
    output: Any
    ret: float

    @property
    def pending(self) -> bool:
        """True for a call that never returned (``ret`` is infinite)."""
        return self.ret == math.inf


def timed_out(client: Hashable, input: Any, call: float) -> Operation:
    """A call that never returned: it may take effect at any time after `call`, or never."""
    return Operation(client, input, call, UNKNOWN, math.inf)


def precedes(a: Operation, b: Operation) -> bool:
    """True when `a` returned before `b` was called: `a` took effect first."""
    return a.ret < b.call


def validate_history(history: Iterable[Operation]) -> list[Operation]:
    """The history as a list, after checking every operation; raises `InvalidHistory`."""
    operations = list(history)
    for index, op in enumerate(operations):
        where = f"operation {index} ({op!r})"
        if not isinstance(op, Operation):
            raise InvalidHistory(f"{where} is not an Operation")
        if not _is_time(op.call) or not _is_time(op.ret) or math.isinf(op.call):
            raise InvalidHistory(f"{where}: call must be a finite number and ret a number")
        if op.ret < op.call:
            raise InvalidHistory(f"{where} returns before it is called")
        if op.pending != (op.output is UNKNOWN):
            raise InvalidHistory(
                f"{where}: a call that never returned has ret=math.inf and output=UNKNOWN, "
                "and only such a call (it may take effect at any later time)"
            )
    return operations


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def describe_operation(op: Operation, *, show_none: bool = False) -> str:
    """A short label: ``put x 1``, ``get x → 1``, ``cas x 0 1 → True``, ``read → ?``.

    An output of None ("ok", as a write returns) is left out unless `show_none`
    (a read that found nothing).
    """
    words = op.input if isinstance(op.input, tuple) else (op.input,)
    text = " ".join(str(word) for word in words)
    if op.output is UNKNOWN:
        return f"{text} → ?"
    return text if op.output is None and not show_none else f"{text} → {op.output}"
