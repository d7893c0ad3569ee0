"""The trace explorer: a run recorded step by step, the widget's logic, the static fallback."""

from __future__ import annotations

import functools

import ipywidgets
import pytest
from matplotlib.figure import Figure

from reference.debug.explorer import Explorer, explore
from reference.debug.steps import record, short_text
from reference.net.links import Fixed, Link
from reference.net.node import Node
from reference.net.simnet import InFlight, PendingTimer, Simulation
from reference.net.spacetime import describe_cut, draw
from reference.net.trace import Deliver, Send
from reference.order.raft_scenarios import kv_cluster

LINK = Link(delay=Fixed(0.05))


class Pinger(Node):
    """Every 0.1 s sends ("ping", n) to its peer; counts and notes what it gets."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.sent = 0
        self.got = 0
        self._hidden = "not shown"

    def on_start(self) -> None:
        self.ctx.set_timer(0.1, "ping")

    def on_timer(self, name) -> None:
        self.sent += 1
        self.ctx.send(self.peer, ("ping", self.sent))
        self.ctx.set_timer(0.1, "ping")

    def on_message(self, src, msg) -> None:
        self.got += 1
        self.ctx.note(f"got {msg[1]}")


class Described(Pinger):
    def describe(self) -> str:
        return f"sent {self.sent}"


def pingers(node=Pinger) -> Simulation:
    sim = Simulation(0, link=LINK)
    sim.add_node("a", functools.partial(node, "b"))
    sim.add_node("b", functools.partial(node, "a"))
    return sim


def faulty_pingers() -> Simulation:
    sim = pingers()
    sim.call_at(0.32, sim.partition, ["a"], ["b"])
    sim.call_at(0.52, sim.heal)
    sim.call_at(0.72, sim.crash, "b")
    sim.call_at(0.92, sim.restart, "b")
    return sim


def first(recording, predicate):
    return next(step for step in recording.steps if predicate(step))


# -- The simulator's read-only views


def test_in_flight_lists_a_message_from_its_send_until_it_arrives():
    sim = pingers()
    sim.run(until=0.12)
    assert sim.in_flight() == [
        InFlight("a", "b", 1, ("ping", 1), pytest.approx(0.15)),
        InFlight("b", "a", 2, ("ping", 1), pytest.approx(0.15)),
    ]
    sim.run(until=0.16)
    assert sim.in_flight() == []


def test_pending_timers_leave_out_cancelled_and_crashed_timers():
    sim = pingers()
    sim.run(until=0.05)
    assert sim.pending_timers() == [
        PendingTimer("a", "ping", pytest.approx(0.1)),
        PendingTimer("b", "ping", pytest.approx(0.1)),
    ]
    sim.node("a").ctx.cancel_timer("ping")
    sim.crash("b")
    assert sim.pending_timers() == []


def test_cut_links_follow_partition_and_heal():
    sim = pingers()
    sim.partition(["a"], ["b"], one_way=True)
    assert sim.cut_links == {("a", "b")}
    sim.heal()
    assert sim.cut_links == frozenset()


# -- Recording


def test_recording_leaves_the_trace_as_a_plain_run_writes_it():
    plain_run = faulty_pingers()
    plain_run.run(until=1.5)
    recorded = faulty_pingers()
    recording = record(recorded, until=1.5)
    assert recorded.trace.text() == plain_run.trace.text()
    assert sum(len(step.events) for step in recording.steps) == len(plain_run.trace)
    assert not recording.truncated


def test_states_change_between_steps_and_private_attributes_stay_out():
    recording = record(pingers(), until=0.3)
    states = [step.nodes["a"]["sent"] for step in recording.steps if step.nodes["a"]]
    assert states[0] == "0" and states[-1] == "2"
    assert set(recording.steps[-1].nodes["a"]) == {"peer", "sent", "got"}


def test_a_node_describes_itself_when_it_can():
    recording = record(pingers(Described), until=0.15)
    assert recording.steps[-1].nodes["a"] == {"state": "sent 1"}


def test_a_crashed_node_is_down_until_it_restarts():
    recording = record(faulty_pingers(), until=1.5)
    crash = first(recording, lambda step: "crash" in step.kinds)
    assert crash.nodes["b"] is None and crash.nodes["a"] is not None
    assert not any(timer.node == "b" for timer in crash.timers)
    restart = first(recording, lambda step: step.number > crash.number and step.nodes["b"])
    assert restart.time == pytest.approx(0.92)
    assert restart.nodes["b"]["sent"] == "0"  # a fresh object


def test_a_partition_shows_its_cut_links_until_the_heal():
    recording = record(faulty_pingers(), until=1.5)
    cut = [step for step in recording.steps if step.cut]
    assert cut[0].kinds == {"partition"} and cut[0].cut == {("a", "b"), ("b", "a")}
    after = recording.steps[cut[-1].number]
    assert after.kinds == {"heal"} and after.cut == frozenset()


def test_a_message_is_in_flight_from_its_send_until_its_delivery_or_drop():
    recording = record(faulty_pingers(), until=1.5)
    ends = {"deliver": 0, "drop": 0}
    for sent_in in recording.steps:
        for send in (e for e in sent_in.events if isinstance(e, Send)):
            later = recording.steps[sent_in.number - 1 :]
            end = next(s for s in later if any(_ends(e, send.msg_id) for e in s.events))
            flying = [s for s in later if s.number < end.number]
            assert all(send.msg_id in {m.msg_id for m in s.in_flight} for s in flying)
            assert send.msg_id not in {m.msg_id for m in end.in_flight}
            ends["deliver" if "deliver" in end.kinds else "drop"] += 1
    assert ends["deliver"] > 5 and ends["drop"] >= 2  # the partition and the crash drop some


def _ends(event, msg_id: int) -> bool:
    return event.kind in ("deliver", "drop") and event.msg_id == msg_id


def test_timers_appear_when_set_and_go_when_they_fire():
    recording = record(pingers(), until=0.1)
    started = recording.steps[0]
    assert [t.node for t in started.timers] == ["a"]
    fired = first(recording, lambda step: "timer" in step.kinds)
    assert [(t.node, t.due) for t in fired.timers][-1] == ("a", pytest.approx(0.2))


def test_a_run_without_end_stops_at_max_events():
    recording = record(pingers(), max_events=25)
    assert len(recording.steps) == 25 and recording.truncated


def test_short_text_is_the_same_whatever_the_hash_seed_and_never_an_address():
    assert short_text({"s3", "s1", "s2"}) == "{'s1', 's2', 's3'}"
    assert short_text(list(range(100))) == "(100) [0, 1, 2, 3, ...]"
    assert short_text(object()) == "<object>"
    assert short_text("x" * 50, width=10) == "x" * 9 + "…"


# -- The explorer's logic, without a browser


def raft_explorer(until: float = 1.5) -> Explorer:
    sim, _ = kv_cluster(1)
    sim.call_at(0.6, sim.partition, ["s1"], ["s2", "s3"])
    sim.call_at(1.2, sim.heal)
    return Explorer(record(sim, until))


def test_moving_changes_the_tables_shown():
    explorer = raft_explorer()
    explorer.go_to(1)
    early = explorer.tables_html()
    assert "step 1 of" in early and "<td>leader</td>" not in early
    explorer.go_to(len(explorer.recording.steps))
    assert "<td>leader</td>" in explorer.tables_html()
    assert explorer.step_by(-1).number == len(explorer.recording.steps) - 1


def test_next_drop_lands_on_the_first_later_drop():
    explorer = raft_explorer()
    explorer.go_to(1)
    step = explorer.jump("drop")
    drops = [s.number for s in explorer.recording.steps if "drop" in s.kinds]
    assert step.number == drops[0] and "drop" in step.kinds
    assert explorer.jump("drop").number == drops[1]
    explorer.go_to(len(explorer.recording.steps))
    assert explorer.jump("crash") is None  # nothing later: it stays
    assert explorer.step.number == len(explorer.recording.steps)


def test_the_node_filter_keeps_only_steps_touching_the_node():
    explorer = raft_explorer()
    explorer.show_nodes(["s3"])
    assert explorer.visible and all(step.touches(["s3"]) for step in explorer.visible)
    assert len(explorer.visible) < len(explorer.recording.steps)
    explorer.step_by(-(10**6))
    while True:
        step = explorer.jump("delivery")
        if step is None:
            break
        assert any(isinstance(e, Deliver) and "s3" in (e.src, e.dst) for e in step.events)
    assert "<th>s3</th>" in explorer.tables_html() and "<th>s1</th>" not in explorer.tables_html()
    explorer.show_nodes([])
    assert len(explorer.visible) == len(explorer.recording.steps)


def test_the_widget_follows_its_slider_and_buttons():
    explorer = raft_explorer(until=0.5)
    box = explorer.widget()
    slider = box.children[0].children[0]
    tables = box.children[-1]
    slider.value = 3
    assert explorer.step.number == 3 and "step 3 of" in tables.value
    next_button = box.children[0].children[2]
    next_button.click()
    assert slider.value == 4 and "step 4 of" in tables.value
    next_note = next(b for b in box.children[1].children if b.description == "next note")
    next_note.click()
    assert "note" in explorer.step.kinds and slider.value == explorer.step.number
    image = box.children[3]
    assert isinstance(image, ipywidgets.Image) and bytes(image.value).startswith(b"\x89PNG")


def test_the_node_filter_widget_narrows_the_slider_and_stays_near_the_step():
    explorer = raft_explorer(until=0.5)
    box = explorer.widget()
    slider = box.children[0].children[0]
    middle = len(explorer.recording.steps) * 2 // 3
    slider.value = middle
    box.children[2].value = ("s2",)
    kept = [step for step in explorer.recording.steps if step.touches(["s2"])]
    assert slider.max == len(kept) < len(explorer.recording.steps) < middle * 2
    assert explorer.step == next(step for step in kept if step.number >= middle)
    assert slider.value == kept.index(explorer.step) + 1


# -- Without a browser: a static figure and table


def test_explore_displays_the_widget_then_a_figure_and_a_table(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **_: shown.append(obj))
    sim, _ = kv_cluster(1)
    explorer = explore(sim, 0.5, step=10)
    view, figure, table = shown
    assert view["text/plain"].startswith("trace explorer over")
    assert "application/vnd.jupyter.widget-view+json" in view
    assert isinstance(figure, Figure)
    assert "step 10 of" in table.data and explorer.step.number == 10


def test_the_figure_rings_the_events_of_the_step():
    explorer = raft_explorer(until=0.5)
    explorer.go_to(5)

    def rings(figure):
        return [line for line in figure.axes[0].lines if line.get_markeredgecolor() == "#f2b400"]

    assert len(rings(explorer.figure())) == len(
        [e for e in explorer.step.events if e.kind not in ("partition", "heal")]
    )
    assert rings(draw(explorer.recording.trace)) == []


def test_describe_cut_names_two_way_and_one_way_links():
    assert describe_cut({("a", "b"), ("b", "a"), ("a", "c")}) == "a↔b, a→c"
