"""A linearizability checker: could these calls have happened one at a time?

Theory of operation
-------------------
A history (`reference.order.history`) is *linearizable* (Herlihy & Wing,
1990) when its operations can be put in one sequence that (1) a correct
object, the model (`reference.order.models`), would produce, output for
output, and (2) keeps real-time order: if `a` returned before `b` was
called, `a` comes first. Each operation then seems to take effect at one
instant between its call and its return. That sequence is a *witness*.

Finding one is a search (Wing & Gong, 1993). Lay the calls and returns on
a time line, earliest first (at equal times calls first, so touching
intervals count as concurrent). Walk along it keeping the model's state:

- at a *call*, try to take the operation now: if the model accepts its
  output, remove its call and return from the line ("lift" it), push it
  on a stack, and start again from the front of what is left;
  otherwise, or if that step leads somewhere already explored, move on
  to the next entry;
- at a *return*, that operation's deadline has come and it was not taken:
  the last choice was wrong. Pop it, put its entries back ("unlift"),
  and try the entry after it.

The line is a doubly linked list, so lifting and unlifting are O(1) and
undone in reverse order. The search ends with every operation lifted (the
stack is a witness) or with an empty stack (none exists). Trying every
order costs n!, so, as Porcupine (Athalye, 2017) does, the checker
remembers each (set of operations taken, model state) it has reached: two
orders of the same operations that end in the same state have the same
future, so the second is not explored. The set is an int used as a
bitset; the state must be hashable (`UnhashableState` otherwise).
Histories where few operations overlap are checked in near-linear time;
the worst case stays exponential, so `max_states` bounds the search
(`SearchTooLarge`).

When the model can `partition` a history (one per key), each part is
searched on its own, which is faster and gives the same verdict
(linearizability is local). A global witness is built from the parts:
each operation gets the latest call time among itself and those before it
in its part (an instant inside its own interval, since the part's order
respects real time), and all operations are merged by that instant.

A pending operation (``ret = math.inf``, output `UNKNOWN`) must end up in
the witness too; the model accepts any output for it, so at worst it goes
last: "took effect after everything", which no client can tell from
"never took effect".

When there is no witness, `CheckResult` says why, for a diagram: `order`
is the longest sequence the search could explain (in the first part that
fails), and `unexplained` the operations that could have come next in
real time, none of which the model accepts there.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from reference.order.history import Operation, validate_history
from reference.order.models import Model

DEFAULT_MAX_STATES = 1_000_000


class UnhashableState(TypeError):
    """The model returned a state the checker cannot remember (not hashable)."""


class SearchTooLarge(RuntimeError):
    """The search explored `max_states` states without deciding."""


@dataclass(frozen=True)
class CheckResult:
    """The checker's verdict on a history.

    `linearizable`: the verdict. `order`: if linearizable, every operation
    in a witness order; if not, the longest sequence explained (in the
    first part that fails). `unexplained`: if not linearizable, the
    operations none of which can come next after `order`. `explored`:
    how many (operations taken, state) pairs the search reached.
    """

    linearizable: bool
    order: tuple[Operation, ...]
    unexplained: tuple[Operation, ...]
    explored: int


def check_operations(
    model: Model,
    history: Iterable[Operation],
    *,
    partition: bool = True,
    max_states: int = DEFAULT_MAX_STATES,
) -> CheckResult:
    """Is `history` linearizable for `model`? Checked part by part unless `partition=False`."""
    operations = validate_history(history)
    parts = model.partition(operations) if partition else [operations]
    if sum(len(part) for part in parts) != len(operations):
        raise ValueError(f"{type(model).__name__}.partition lost or added operations")
    witnesses = []
    explored = 0
    for part in parts:
        search = _Search(model, part, max_states)
        found = search.run()
        explored += len(search.seen)
        if not found:
            best = tuple(part[index] for index in search.best)
            return CheckResult(False, best, _could_come_next(part, search.best), explored)
        witnesses.append([part[index] for index in search.taken()])
    return CheckResult(True, _merge(witnesses), (), explored)


class _Entry:
    """A call or a return on the time line; a call knows its return (`match`)."""

    __slots__ = ("index", "match", "next", "prev")

    def __init__(self, index: int, match: _Entry | None) -> None:
        self.index = index
        self.match = match
        self.prev: _Entry | None = None
        self.next: _Entry | None = None


def _time_line(operations: list[Operation]) -> _Entry:
    """The head of a linked list of every call and return, earliest first."""
    returns = {index: _Entry(index, None) for index in range(len(operations))}
    moments = [(op.call, 0, index) for index, op in enumerate(operations)]
    moments += [(op.ret, 1, index) for index, op in enumerate(operations)]
    head = previous = _Entry(-1, None)
    for _, is_return, index in sorted(moments):
        entry = returns[index] if is_return else _Entry(index, returns[index])
        previous.next, entry.prev = entry, previous
        previous = entry
    return head


def _lift(call: _Entry) -> None:
    for entry in (call, call.match):
        entry.prev.next = entry.next
        if entry.next is not None:
            entry.next.prev = entry.prev


def _unlift(call: _Entry) -> None:
    for entry in (call.match, call):
        entry.prev.next = entry
        if entry.next is not None:
            entry.next.prev = entry


class _Search:
    def __init__(self, model: Model, operations: list[Operation], max_states: int) -> None:
        self.model = model
        self.operations = operations
        self.max_states = max_states
        self.stack: list[tuple[_Entry, Hashable]] = []  # (call taken, state before it)
        self.seen: set[tuple[int, Hashable]] = set()
        self.best: list[int] = []  # the longest stack so far, as operation indexes

    def taken(self) -> list[int]:
        return [call.index for call, _ in self.stack]

    def run(self) -> bool:
        head = _time_line(self.operations)
        state, done = self.model.init(), 0
        entry = head.next
        while head.next is not None:
            if entry.match is None:  # a return: its operation was never taken, so backtrack
                if not self.stack:
                    return False
                entry, state = self.stack.pop()
                done &= ~(1 << entry.index)
                _unlift(entry)
                entry = entry.next
                continue
            op = self.operations[entry.index]
            ok, new_state = self.model.step(state, op.input, op.output)
            if ok and self._first_visit(key := (done | 1 << entry.index, new_state)):
                self.stack.append((entry, state))
                done, state = key
                _lift(entry)
                if len(self.stack) > len(self.best):
                    self.best = self.taken()
                entry = head.next
            else:
                entry = entry.next
        return True

    def _first_visit(self, key: tuple[int, Hashable]) -> bool:
        try:
            if key in self.seen:
                return False
        except TypeError as error:
            name = type(self.model).__name__
            raise UnhashableState(f"{name} returned an unhashable state {key[1]!r}") from error
        if len(self.seen) >= self.max_states:
            raise SearchTooLarge(f"explored {len(self.seen):,} states without a verdict")
        self.seen.add(key)
        return True


def _could_come_next(part: list[Operation], explained: list[int]) -> tuple[Operation, ...]:
    """The operations left that real time allows next: called before any of them returned."""
    taken = set(explained)
    left = [op for index, op in enumerate(part) if index not in taken]
    deadline = min(op.ret for op in left)
    return tuple(sorted((op for op in left if op.call <= deadline), key=lambda op: op.call))


def _merge(witnesses: list[list[Operation]]) -> tuple[Operation, ...]:
    """One witness from the parts' witnesses, each operation at an instant of its interval."""
    placed = []
    for part, witness in enumerate(witnesses):
        instant = float("-inf")
        for position, op in enumerate(witness):
            instant = max(instant, op.call)
            placed.append((instant, part, position, op))
    placed.sort(key=lambda item: item[:3])
    return tuple(op for *_, op in placed)
