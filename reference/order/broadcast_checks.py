"""Checking a broadcast run from its trace: exactly once, FIFO, causal and total order.

Theory of operation
-------------------
Every broadcast node (reference/order/broadcast.py) writes a note into the
trace when it broadcasts a message and when it delivers one:
``broadcast a#2: ...`` and ``deliver a#2: ...``, where ``a#2`` is the message
id ``("a", 2)``, a's second broadcast. `broadcast_steps(trace)` reads those
notes back, in trace order; every check below works on them alone, so it
judges any protocol, on the simulator or over UDP, without looking inside
the nodes. Each check returns the first `Violation` it finds, or None; a
violation names the guarantee, the nodes and messages involved and says what
went wrong in a sentence, for the chapter to show next to the diagram.

- `exactly_once_violation(trace, group)`: every member delivers every
  broadcast message once: none missing, none twice.
- `fifo_violation(trace)`: each member delivers each sender's messages in the
  order the sender broadcast them (a#1 before a#2).
- `causal_violation(trace)`: if m1 → m2, every member that delivers m2 has
  delivered m1 before. Here m1 → m2 is happens-before *between broadcasts*:
  m2's sender had broadcast or delivered m1 (or something that m1 → ...)
  before broadcasting m2. It is computed from the steps, not from the
  packets in the trace: a node that has *received* m1 but holds it back has
  not delivered it, so what it broadcasts meanwhile does not depend on m1.
- `total_order_violation(trace)`: any two members that both deliver m1 and m2
  deliver them in the same order. (With exactly once, that is: every member
  delivers the same sequence.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations, pairwise

from reference.net.trace import Note, Trace
from reference.order.broadcast import MessageId, parse_step_note


@dataclass(frozen=True, slots=True)
class Step:
    """A node broadcast or delivered a message (read from a note in the trace)."""

    node: str
    kind: str  # "broadcast" or "deliver"
    message: MessageId
    time: float
    position: int  # the note's place in `trace.events`


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken guarantee: which, who, which messages, and what happened."""

    guarantee: str
    nodes: tuple[str, ...]
    messages: tuple[MessageId, ...]
    explanation: str

    def __str__(self) -> str:
        return f"{self.guarantee} violated: {self.explanation}"


def name(message: MessageId) -> str:
    """``("a", 2)`` as ``a#2``."""
    return f"{message[0]}#{message[1]}"


def broadcast_steps(trace: Trace) -> list[Step]:
    """Every broadcast and delivery the nodes noted, in trace order."""
    steps = []
    for position, event in enumerate(trace):
        if isinstance(event, Note) and (parsed := parse_step_note(event.text)) is not None:
            steps.append(Step(event.node, *parsed, event.time, position))
    return steps


def delivery_orders(trace: Trace) -> dict[str, list[MessageId]]:
    """What each node delivered, in order (nodes that delivered nothing are absent)."""
    orders: dict[str, list[MessageId]] = {}
    for step in broadcast_steps(trace):
        if step.kind == "deliver":
            orders.setdefault(step.node, []).append(step.message)
    return orders


def exactly_once_violation(trace: Trace, group: Iterable[str]) -> Violation | None:
    steps = broadcast_steps(trace)
    sent = dict.fromkeys(step.message for step in steps if step.kind == "broadcast")
    orders = delivery_orders(trace)
    for node in sorted(group):
        delivered = orders.get(node, [])
        seen: set[MessageId] = set()
        for message in delivered:
            if message in seen:
                return Violation(
                    "exactly once", (node,), (message,), f"{node} delivered {name(message)} twice"
                )
            if message not in sent:
                text = f"{node} delivered {name(message)}, which nobody broadcast"
                return Violation("exactly once", (node,), (message,), text)
            seen.add(message)
        for message in sent:
            if message not in seen:
                text = f"{node} never delivered {name(message)}"
                return Violation("exactly once", (node,), (message,), text)
    return None


def fifo_violation(trace: Trace) -> Violation | None:
    for node, order in delivery_orders(trace).items():
        expected: dict[str, int] = {}
        for origin, n in order:
            due = expected.get(origin, 1)
            if n > due:
                first, later = name((origin, due)), name((origin, n))
                text = f"{node} delivered {later} before {first}"
                return Violation("FIFO", (node,), ((origin, due), (origin, n)), text)
            expected[origin] = max(due, n + 1)
    return None


def causal_violation(trace: Trace) -> Violation | None:
    knows: dict[str, set[MessageId]] = {}  # what each node's next broadcast will depend on
    depends: dict[MessageId, frozenset[MessageId]] = {}  # everything that → this message
    delivered: dict[str, set[MessageId]] = {}
    for step in broadcast_steps(trace):
        known = knows.setdefault(step.node, set())
        if step.kind == "broadcast":
            depends[step.message] = frozenset(known)
            known.add(step.message)
            continue
        done = delivered.setdefault(step.node, set())
        missing = depends.get(step.message, frozenset()) - done
        if missing:
            first, later = min(missing), step.message
            text = (
                f"{step.node} delivered {name(later)} before {name(first)},"
                f" though {name(first)} → {name(later)}"
            )
            return Violation("causal order", (step.node,), (first, later), text)
        done.add(step.message)
        known |= depends.get(step.message, frozenset()) | {step.message}
    return None


def total_order_violation(trace: Trace) -> Violation | None:
    orders = delivery_orders(trace)
    places = {node: _first_places(order) for node, order in orders.items()}
    for p, q in combinations(sorted(orders), 2):
        common = [message for message in places[p] if message in places[q]]
        for a, b in pairwise(common):
            if places[q][a] > places[q][b]:
                text = (
                    f"{p} delivered {name(a)} before {name(b)},"
                    f" {q} delivered {name(b)} before {name(a)}"
                )
                return Violation("total order", (p, q), (a, b), text)
    return None


def _first_places(order: list[MessageId]) -> dict[MessageId, int]:
    """Where each message was first delivered (dicts keep insertion order)."""
    places: dict[MessageId, int] = {}
    for place, message in enumerate(order):
        places.setdefault(message, place)
    return places
