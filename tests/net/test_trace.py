"""Traces: serialization, Mermaid text and space-time diagrams (reference/net/spacetime.py)."""

from __future__ import annotations

import functools
import io
import json

import pytest
from matplotlib.figure import Figure

from reference.delivery.reliable import ReliableReceiver, StopAndWaitSender
from reference.net import spacetime
from reference.net.links import Fixed, Link, Uniform
from reference.net.mermaid import sequence_diagram
from reference.net.simnet import Simulation
from reference.net.trace import (
    Crash,
    Deliver,
    Drop,
    Duplicate,
    Heal,
    Note,
    Partition,
    Send,
    Start,
    TimerFired,
    Trace,
    event_json,
    plain,
    short_label,
)


def eventful_simulation(seed: int = 4) -> Simulation:
    """Loss, duplicates, a partition, a crash and a restart in a few seconds."""
    sim = Simulation(seed, link=Link(loss=0.25, duplicate=0.25, delay=Uniform(0.05, 0.15)))
    sim.add_node("a", functools.partial(StopAndWaitSender, "b", range(8)))
    sim.add_node("b", ReliableReceiver)
    sim.call_at(0.5, sim.partition, ["a"], ["b"])
    sim.call_at(1.0, sim.heal)
    sim.call_at(1.5, sim.crash, "b")
    sim.call_at(1.8, sim.restart, "b")
    sim.run(until=30.0)
    assert sim.storage("b")["delivered"] == list(range(8))
    return sim


# --- Serialization ---------------------------------------------------------------------


def test_plain_makes_json_data_independent_of_set_order():
    value = {"s": {"b", "a", "c"}, "t": (1, b"\x00\xff"), 3: frozenset({(2, 1), (1, 2)})}
    assert plain(value) == {"s": ["a", "b", "c"], "t": [1, "00ff"], "3": [[1, 2], [2, 1]]}
    assert plain({(1, "x"): None}) == {'[1, "x"]': None}
    assert plain(Fixed(0.5)) == "Fixed(seconds=0.5)"


def test_every_line_of_the_text_is_a_json_object_with_its_kind_first():
    sim = eventful_simulation()
    lines = sim.trace.text().splitlines()
    assert len(lines) == len(sim.trace) > 50
    kinds = set()
    for line, event in zip(lines, sim.trace, strict=True):
        record = json.loads(line)
        assert next(iter(record)) == "kind" and record["kind"] == event.kind
        assert record["time"] == event.time
        kinds.add(record["kind"])
    assert {"start", "crash", "send", "duplicate", "drop", "deliver", "timer"} <= kinds
    assert {"partition", "heal"} <= kinds


def test_event_json_has_a_fixed_field_order():
    event = Send(0.5, "a", "b", 3, ("data", 0, {"k": {2, 1}}))
    assert event_json(event) == (
        '{"kind": "send", "time": 0.5, "src": "a", "dst": "b", "msg_id": 3, '
        '"msg": ["data", 0, {"k": [1, 2]}]}'
    )


def test_a_trace_built_from_events_equals_the_recorded_one():
    sim = eventful_simulation()
    copy = Trace(sim.trace.events)
    assert copy.events == sim.trace.events
    assert copy.text() == sim.trace.text()
    assert copy[0] == Start(0.0, "a")


def test_counts_and_nodes():
    trace = Trace(
        [
            Start(0.0, "x"),
            Start(0.0, "y"),
            Send(0.1, "y", "x", 1, "hi"),
            Drop(0.1, "y", "x", 1, "loss"),
            Note(0.2, "z", "hello"),
        ]
    )
    counts = trace.counts()
    assert counts["start"] == 2 and counts["send"] == 1 and counts["deliver"] == 0
    assert list(counts)[:3] == ["start", "crash", "send"]
    assert trace.nodes() == ["x", "y", "z"]


def test_short_labels():
    assert short_label(("data", 3, "x")) == "data 3 'x'"
    assert short_label(["ack", 4, 2]) == "ack 4 2"
    assert short_label(42) == "42"
    assert short_label(()) == "()"
    assert len(short_label("y" * 100)) == 24


# --- Space-time diagram ------------------------------------------------------------------


def texts_of(fig: Figure) -> list[str]:
    return [text.get_text() for text in fig.axes[0].texts]


def test_the_diagram_marks_messages_drops_copies_crashes_and_partitions():
    sim = eventful_simulation()
    fig = spacetime.draw(sim.trace)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["a", "b"]
    fated = [e for e in sim.trace if isinstance(e, Deliver | Drop)]
    arrows = [child for child in ax.get_children() if type(child).__name__ == "Annotation"]
    assert len(arrows) == len(fated)
    texts = texts_of(fig)
    assert "crash" in texts and "start" in texts
    assert any(text.startswith("partition: a↔b") for text in texts)
    assert len(ax.patches) >= 1  # the shaded partition
    fig.savefig(io.BytesIO(), format="png")


def test_each_arrow_runs_from_the_send_on_the_senders_line_to_the_fate_on_the_receivers():
    trace = Trace(
        [
            Start(0.0, "a"),
            Start(0.0, "b"),
            Send(1.0, "a", "b", 1, "there"),
            Deliver(1.5, "a", "b", 1),
            Send(2.0, "b", "a", 2, "back"),
            Drop(2.25, "b", "a", 2, "loss"),
            Send(3.0, "a", "b", 3, "cut"),
            Drop(3.0, "a", "b", 3, "partition"),  # lost as sent: drawn 45% of a median flight
        ]
    )
    ax = spacetime.draw(trace).axes[0]
    arrows = [child for child in ax.get_children() if type(child).__name__ == "Annotation"]
    assert {arrow.arrowprops["arrowstyle"] for arrow in arrows} == {"-|>"}  # head at `xy`
    tails_and_heads = sorted((*arrow.xyann, *arrow.xy) for arrow in arrows)
    expected = [
        (1.0, 0, 1.5, 1),  # from a's line (row 0) at the send to b's (row 1) at the delivery
        (2.0, 1, 2.25, 0),
        (3.0, 0, 3.0 + 0.45 * 0.5, 0.45),
    ]
    assert [pytest.approx(arrow) for arrow in tails_and_heads] == expected


def test_labels_are_left_out_when_there_are_too_many_messages():
    sim = eventful_simulation()
    assert "data 0 0" in texts_of(spacetime.draw(sim.trace, max_labels=1000))
    assert "data 0 0" not in texts_of(spacetime.draw(sim.trace, max_labels=3))
    custom = texts_of(spacetime.draw(sim.trace, label=lambda msg: f"<{msg[0]}>", max_labels=1000))
    assert "<data>" in custom and "<ack>" in custom


def test_partition_labels_name_one_way_links_and_summarize_many():
    nodes = ["a", "b", "c", "d", "e"]
    trace = Trace(
        [
            *(Start(0.0, name) for name in nodes),
            Partition(1.0, ("a",), ("b",), True),
            Partition(2.0, ("a", "b"), ("c", "d", "e"), False),
            Heal(3.0, (), (), False),
            Note(4.0, "a", "healed"),
        ]
    )
    fig = spacetime.draw(trace)
    partitions = [text for text in texts_of(fig) if text.startswith("partition: ")]
    assert partitions == ["partition: a→b", "partition: a↔c, a↔d, a↔e, b↔c (+3)"]
    assert len(fig.axes[0].patches) == 2  # one shaded span per cut, none after the heal


def test_a_window_of_time_and_an_empty_trace_can_be_drawn():
    sim = eventful_simulation()
    whole = len(spacetime.draw(sim.trace).axes[0].texts)
    part = spacetime.draw(sim.trace, start=0.0, end=0.4)
    assert part.axes[0].get_xlim()[0] == 0.0
    assert len(part.axes[0].texts) < whole
    empty = spacetime.draw(Trace())
    empty.savefig(io.BytesIO(), format="png")


# --- Mermaid -----------------------------------------------------------------------------


def test_mermaid_text_for_a_small_trace():
    trace = Trace(
        [
            Start(0.0, "a"),
            Start(0.0, "b"),
            Send(0.0, "a", "b", 1, ("data", 0, "x")),
            Duplicate(0.0, "a", "b", 2, 1),
            Deliver(0.1, "a", "b", 1),
            Send(0.1, "b", "a", 3, ("ack", 1, 0)),
            Drop(0.1, "b", "a", 3, "loss"),
            Deliver(0.12, "a", "b", 2),
            TimerFired(0.3, "a", ("retransmit", "b")),
            Partition(0.4, ("a",), ("b",), False),
            Crash(0.5, "b"),
            Start(0.6, "b"),
            Heal(0.7, (), (), False),
            Note(0.8, "a", "done; #1"),
        ]
    )
    assert sequence_diagram(trace) == (
        "sequenceDiagram\n"
        "    participant a\n"
        "    participant b\n"
        "    a->>b: data 0 'x'\n"
        "    b-xa: ack 1 0 (loss)\n"
        "    a-->>b: data 0 'x' (copy)\n"
        "    Note over a: timer retransmit b\n"
        "    Note over a,b: partition a | b\n"
        "    Note over b: crash\n"
        "    Note over b: restart\n"
        "    Note over a,b: heal all\n"
        "    Note over a: done   1\n"
    )


def test_mermaid_is_deterministic_and_cut_short_for_long_traces():
    first = sequence_diagram(eventful_simulation().trace, max_events=10)
    assert first == sequence_diagram(eventful_simulation().trace, max_events=10)
    lines = first.splitlines()
    assert len(lines) == 1 + 2 + 10 + 1
    assert lines[-1].startswith("    Note over a: … ") and lines[-1].endswith(
        "more events not shown"
    )


def test_mermaid_aliases_node_ids_it_cannot_use_directly():
    trace = Trace([Start(0.0, "node 1"), Start(0.0, "ok"), Deliver(1.0, "node 1", "ok", 9)])
    text = sequence_diagram(trace)
    assert "    participant n0 as node 1\n" in text
    assert "    n0->>ok: None\n" in text


@pytest.mark.parametrize("one_way, arrow", [(True, "→"), (False, "|")])
def test_mermaid_partitions_show_their_direction(one_way, arrow):
    trace = Trace([Start(0.0, "a"), Start(0.0, "b"), Partition(1.0, ("a",), ("b",), one_way)])
    assert sequence_diagram(trace).endswith(f"Note over a,b: partition a {arrow} b\n")


def test_the_simulation_records_what_trace_draws():
    sim = Simulation(link=Link(delay=Fixed(0.01)))
    sim.add_node("a", functools.partial(StopAndWaitSender, "b", ["only"]))
    sim.add_node("b", ReliableReceiver)
    sim.run()
    assert sequence_diagram(sim.trace) == (
        "sequenceDiagram\n"
        "    participant a\n"
        "    participant b\n"
        "    a->>b: data 0 'only'\n"
        "    b->>a: ack 1 0\n"
    )
