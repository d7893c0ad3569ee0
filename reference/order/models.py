"""Models: what a correct object does, one operation at a time.

Theory of operation
-------------------
The checker knows nothing about registers or key-value stores. It asks a
*model*, the object's sequential specification, whether an operation's
output is right when the operation runs alone on a given state:

``init()``
    the state before any operation;
``step(state, input, output) -> (ok, new_state)``
    `ok` says whether `output` is what `input` returns on `state`;
    `new_state` is the state after it. For `UNKNOWN` (a call that never
    returned) `ok` must be True: the client saw nothing, so anything goes,
    and the operation still changes the state as it would have;
``partition(history) -> list of sub-histories``
    optional: histories that can be judged separately, like one per key.
    Linearizability is *local* (Herlihy & Wing, 1990): a history is
    linearizable exactly when each object's sub-history is, so a store
    with independent keys is checked key by key, which is much faster;
``describe(op) -> str``
    a short label for drawings.

A state must be hashable and compare by value (ints, strings, tuples,
frozensets): the checker remembers the (state, operations done) pairs it
has explored, and two equal states must look equal.

Most objects are deterministic: an input on a state has one right output.
`DeterministicModel` writes `step` once from ``apply(state, input) ->
(output, new_state)``, so each model below is just its `apply`:

`RegisterModel`     ``("write", v) → None``, ``("read",) → v``
`CounterModel`      ``("add", n) → None``, ``("read",) → total``
`KeyValueModel`     ``("put", k, v) → None``, ``("get", k) → v or None``,
                    ``("cas", k, expected, new) → True/False``; per key
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from reference.order.history import UNKNOWN, InvalidHistory, Operation, describe_operation


class Model:
    """The interface the checker calls; subclass it and write `init` and `step`."""

    def init(self) -> Hashable:
        raise NotImplementedError

    def step(self, state: Hashable, input: Any, output: Any) -> tuple[bool, Hashable]:
        raise NotImplementedError

    def partition(self, history: list[Operation]) -> list[list[Operation]]:
        """Sub-histories to check separately: by default the whole history is one."""
        return [history]

    def describe(self, op: Operation) -> str:
        return describe_operation(op)


class DeterministicModel(Model):
    """A model whose every input has one right output, given by `apply`."""

    reads: frozenset[str] = frozenset()  # operations whose output None is worth showing

    def apply(self, state: Hashable, input: Any) -> tuple[Any, Hashable]:
        """What `input` returns on `state`, and the state after it."""
        raise NotImplementedError

    def step(self, state: Hashable, input: Any, output: Any) -> tuple[bool, Hashable]:
        expected, new_state = self.apply(state, input)
        return (output is UNKNOWN or output == expected), new_state

    def describe(self, op: Operation) -> str:
        name = op.input[0] if isinstance(op.input, tuple) and op.input else op.input
        return describe_operation(op, show_none=name in self.reads)


class RegisterModel(DeterministicModel):
    """One value, read and written whole; it starts as `initial`."""

    reads = frozenset({"read"})

    def __init__(self, initial: Hashable = None) -> None:
        self.initial = initial

    def init(self) -> Hashable:
        return self.initial

    def apply(self, state: Hashable, input: Any) -> tuple[Any, Hashable]:
        match input:
            case ("write", value):
                return None, value
            case ("read",):
                return state, state
        raise InvalidHistory(f"a register has no operation {input!r}")


class CounterModel(DeterministicModel):
    """A number that starts at 0: add to it, read it."""

    reads = frozenset({"read"})

    def init(self) -> Hashable:
        return 0

    def apply(self, state: Hashable, input: Any) -> tuple[Any, Hashable]:
        match input:
            case ("add", int(amount)):
                return None, state + amount
            case ("read",):
                return state, state
        raise InvalidHistory(f"a counter has no operation {input!r}")


class KeyValueModel(DeterministicModel):
    """Keys to values, with get, put and compare-and-set; a missing key reads as None.

    The state is a frozenset of (key, value) pairs, so the model also works
    on a whole history; `partition` splits it by key, the fast way.
    """

    reads = frozenset({"get"})

    def init(self) -> Hashable:
        return frozenset()

    def apply(self, state: Hashable, input: Any) -> tuple[Any, Hashable]:
        match input:
            case ("get", key):
                return _lookup(state, key), state
            case ("put", key, value):
                return None, _store(state, key, value)
            case ("cas", key, expected, new):
                if _lookup(state, key) == expected:
                    return True, _store(state, key, new)
                return False, state
        raise InvalidHistory(f"a key-value store has no operation {input!r}")

    def partition(self, history: list[Operation]) -> list[list[Operation]]:
        by_key: dict[Hashable, list[Operation]] = {}
        for op in history:
            if not isinstance(op.input, tuple) or len(op.input) < 2:
                raise InvalidHistory(f"a key-value operation names its key: {op.input!r}")
            by_key.setdefault(op.input[1], []).append(op)
        return list(by_key.values())


def _lookup(state: frozenset, key: Hashable) -> Any:
    return next((value for k, value in state if k == key), None)


def _store(state: frozenset, key: Hashable, value: Any) -> frozenset:
    return frozenset({(k, v) for k, v in state if k != key} | {(key, value)})
