"""Mermaid sequence diagrams of a trace, which JupyterLab renders from Markdown.

Theory of operation
-------------------
A Mermaid `sequenceDiagram` is text: one `participant` per node, then one
line per arrow or note, top to bottom. `sequence_diagram(trace)` writes a
`reference.net.trace.Trace` that way, so a short exchange can be shown in a
Markdown cell (`IPython.display.Markdown(f"```mermaid\n{text}```")`) and
compared as text by nbval.

Mermaid has no slanted arrows, so each message is drawn when it *arrives*
(or is lost), from its sender to its receiver: a reordering shows as the
order of arrivals. A copy made by the network is a dashed arrow marked
"(copy)", a lost message ends in a cross with its reason, and crashes,
restarts, timers, partitions, heals and notes are notes over the node.
Node ids that are not plain identifiers get an alias. Long traces are cut
after `max_events` lines with a note saying how many were left out: the
space-time diagram (reference/net/spacetime.py) suits those better.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from reference.net.trace import (
    Crash,
    Deliver,
    Drop,
    Duplicate,
    Event,
    Heal,
    Note,
    Partition,
    Send,
    Start,
    TimerFired,
    Trace,
    short_label,
)


def sequence_diagram(
    trace: Trace, *, max_events: int = 60, label: Callable[[Any], str] | None = None
) -> str:
    """A Mermaid sequence diagram of `trace`, cut after `max_events` lines.

    `label(msg)` turns a message into its arrow's text (default: `short_label`).
    """
    return _mermaid(trace, max_events, label or short_label)


_SAFE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNSAFE_TEXT = re.compile(r"[;#\n\r]")


def _mermaid(trace: Trace, max_events: int, label: Callable[[Any], str]) -> str:
    nodes = trace.nodes()
    alias = {name: name if _SAFE_ID.match(name) else f"n{i}" for i, name in enumerate(nodes)}
    lines = ["sequenceDiagram"]
    for name in nodes:
        if alias[name] == name:
            lines.append(f"    participant {name}")
        else:
            lines.append(f"    participant {alias[name]} as {_clean(name)}")
    body: list[str] = []
    origin: dict[int, Any] = {}
    copies: set[int] = set()
    started: set[str] = set()
    for event in trace.events:
        line = _mermaid_line(event, alias, origin, copies, started, label)
        if line is not None:
            body.append("    " + line)
    if len(body) > max_events:
        hidden = len(body) - max_events
        body = body[:max_events]
        body.append(f"    Note over {alias[nodes[0]]}: … {hidden} more events not shown")
    return "\n".join(lines + body) + "\n"


def _mermaid_line(
    event: Event,
    alias: dict[str, str],
    origin: dict[int, Any],
    copies: set[int],
    started: set[str],
    label: Callable[[Any], str],
) -> str | None:
    if isinstance(event, Send):
        origin[event.msg_id] = event.msg
    elif isinstance(event, Duplicate):
        origin[event.msg_id] = origin.get(event.copy_of)
        copies.add(event.msg_id)
    elif isinstance(event, Deliver):
        text = _clean(label(origin.get(event.msg_id)))
        arrow = "-->>" if event.msg_id in copies else "->>"
        suffix = " (copy)" if event.msg_id in copies else ""
        return f"{alias[event.src]}{arrow}{alias[event.dst]}: {text}{suffix}"
    elif isinstance(event, Drop):
        text = _clean(label(origin.get(event.msg_id)))
        return f"{alias[event.src]}-x{alias[event.dst]}: {text} ({event.reason})"
    elif isinstance(event, TimerFired):
        name = event.name
        text = " ".join(map(str, name)) if isinstance(name, tuple | list) else str(name)
        return f"Note over {alias[event.node]}: timer {_clean(text)}"
    elif isinstance(event, Crash):
        return f"Note over {alias[event.node]}: crash"
    elif isinstance(event, Start):
        first = event.node not in started
        started.add(event.node)
        return None if first else f"Note over {alias[event.node]}: restart"
    elif isinstance(event, Partition | Heal):
        sides = event.side_a + event.side_b
        span = sides or tuple(alias)  # healing everything spans every node
        if not span:
            return None
        over = ",".join(dict.fromkeys(alias[name] for name in (span[0], span[-1])))
        what = "partition" if isinstance(event, Partition) else "heal"
        arrow = "→" if event.one_way else "|"
        detail = f"{' '.join(event.side_a)} {arrow} {' '.join(event.side_b)}" if sides else "all"
        return f"Note over {over}: {what} {_clean(detail)}"
    elif isinstance(event, Note):
        return f"Note over {alias[event.node]}: {_clean(event.text)}"
    return None


def _clean(text: str) -> str:
    return _UNSAFE_TEXT.sub(" ", text)
