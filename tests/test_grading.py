"""The grader helper keeps its promises: budgets stop runaway answers in seconds, and verdicts
say what went wrong.

- a simulator run stops at its budget of sends, events or real seconds, with the count;
- an async answer whose clock never moves is stopped by real time, a stuck one by its
  deadline, and the virtual clock does not start at 0;
- chapter 04's zero-delay timer and a retransmission storm fail within seconds, by their
  budget;
- values compare as plain values, long ones are shown where they first differ, an
  ExceptionGroup is shown by what is inside it, and a check prints its tick once.
"""

import time

import pytest
import trio

from exercises.graders import ch04
from exercises.grading import VIRTUAL_CLOCK_START, Budget, TaskFailed, grader
from exercises.verdicts import difference, same_value
from reference.net.links import Link
from reference.net.node import Node
from reference.net.simnet import Simulation
from tests.mutants.ch04 import ResendsTheWindowOnEveryAck, ZeroDelayTimer


def verdict(battery, answer=None):
    """The message of grading `answer` with `battery(cases, answer)`."""
    check = grader("a test task")(battery)
    try:
        check(answer)
    except TaskFailed as failure:
        return str(failure)
    pytest.fail("the battery passed")


class Chatterbox(Node):
    """Sends a message every time its timer fires, which is at once."""

    def on_start(self):
        self.ctx.set_timer(0, "again")

    def on_timer(self, name):
        self.ctx.send("chatterbox", "hello")
        self.ctx.set_timer(0, "again")


class Spinner(Node):
    """Sets a zero-delay timer for ever, and sends nothing."""

    def on_start(self):
        self.ctx.set_timer(0, "again")

    def on_timer(self, name):
        self.ctx.set_timer(0, "again")


class Dawdler(Spinner):
    """Spends real time in each handler."""

    def on_timer(self, name):
        time.sleep(0.01)
        self.ctx.set_timer(0.1, "again")


def simulation_of(node_class):
    sim = Simulation(0, link=Link())
    sim.add_node("chatterbox", node_class)
    return sim


@pytest.mark.parametrize(
    ("node_class", "budget", "problem"),
    [
        (Chatterbox, Budget(sends=100, events=10**6, task="for 5", usual="about 10 will do"),
         "over the budget of 100"),
        (Spinner, Budget(sends=100, events=5000), "ran 5,"),
        (Dawdler, Budget(sends=100, events=10**6, wall_seconds=0.3), "took over 0.3 s"),
    ],
    ids=["sends", "events", "real time"],
)  # fmt: skip
def test_a_simulation_stops_at_its_budget(node_class, budget, problem):
    started = time.monotonic()
    message = verdict(
        lambda cases, _: cases.run_simulation(
            "a run", simulation_of(node_class), until=1000.0, budget=budget
        )
    )
    assert problem in message, message
    assert time.monotonic() - started < 5
    if node_class is Chatterbox:
        assert "messages for 5 (about 10 will do)" in message, message


async def polls_for_ever():
    while True:
        await trio.sleep(0)


async def waits_for_ever():
    await trio.Event().wait()


async def reads_the_clock():
    return trio.current_time()


def test_an_answer_whose_clock_never_moves_is_stopped_by_real_time():
    started = time.monotonic()
    message = verdict(lambda cases, _: cases.run_async("a poller", polls_for_ever, wall_seconds=1))
    assert "still running after 1 s of real time" in message, message
    assert time.monotonic() - started < 3


def test_a_stuck_answer_is_stopped_at_its_virtual_deadline_at_once():
    started = time.monotonic()
    message = verdict(lambda cases, _: cases.run_async("stuck", waits_for_ever, deadline=3600))
    assert "did not finish within 3600 seconds of virtual time" in message, message
    assert time.monotonic() - started < 1


def test_the_virtual_clock_does_not_start_at_zero():
    now = []
    grader("clock")(lambda cases, _: now.append(cases.run_async("now", reads_the_clock)))(None)
    assert now == [VIRTUAL_CLOCK_START]


@pytest.mark.parametrize("mutant", [ZeroDelayTimer, ResendsTheWindowOnEveryAck])
def test_a_runaway_sender_fails_within_seconds_by_its_budget(mutant):
    transfer = ch04.Transfer(50, 8, 0.1)
    budget = ch04.run_budget([transfer], 1, ch04.HEAVY_LOSS)
    sim = ch04.simulate(mutant, [transfer], 1, ch04.HEAVY_LOSS)
    started = time.monotonic()
    message = verdict(
        lambda cases, _: cases.run_simulation("a run", sim, until=600.0, budget=budget)
    )
    assert time.monotonic() - started < 5
    assert "messages for 50 (a correct sender needs about" in message, message
    assert "at 40% loss)" in message, message


def test_the_zero_delay_timer_fails_the_whole_check_in_seconds_with_its_count():
    started = time.monotonic()
    with pytest.raises(TaskFailed, match=r"sent [\d,]+ messages for 50 \(a correct sender"):
        ch04.check_window_sender(ZeroDelayTimer)
    assert time.monotonic() - started < 5


def test_lists_and_tuples_are_the_same_value_but_true_is_not_one():
    assert same_value(("data", 0, ["m0"]), ["data", 0, ("m0",)])
    assert same_value({"a": (1, 2)}, {"a": [1, 2]})
    assert not same_value(1, True)
    assert not same_value([0, 1], [False, True])
    assert not same_value(("data", 0), ("data", 0, "m0"))


def test_a_short_difference_is_shown_whole():
    assert difference([1, 2], [1, 3]) == "expected [1, 2], got [1, 3]"


def test_a_long_difference_is_shown_where_it_first_differs():
    expected = [f"message {n}" for n in range(100)]
    got = [*expected[:40], "message 41", *expected[41:]]
    text = difference(expected, got)
    assert "they first differ at [40]: expected 'message 40', got 'message 41'" in text
    assert len(text) < 300
    shorter = difference(expected, expected[:60])
    assert "at [60]: expected 'message 60', got nothing (it ends before)" in shorter


def test_an_exception_group_is_shown_by_what_is_inside_it():
    async def raises_in_a_nursery():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(divide_by_zero)

    async def divide_by_zero():
        return 1 / 0

    message = verdict(lambda cases, _: cases.run_async("a nursery", raises_in_a_nursery))
    assert "raised ZeroDivisionError: division by zero (in divide_by_zero, line" in message
    assert "inside an ExceptionGroup" in message


def test_a_check_prints_its_tick_once_and_returns_nothing(capsys):
    check = grader("a test task")(lambda cases, _: cases.true("fine", True, ""))
    assert check(None) is None
    assert capsys.readouterr().out == "✓ a test task: all 1 cases pass\n"
