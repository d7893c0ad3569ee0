"""Tests for reference/security/replay.py: both windows against simple oracles, and every edge."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.security.replay import SequenceWindow, TimestampWindow, Verdict


def sequence_oracle(size: int, accepted: set[int], sequence: int) -> Verdict:
    """The window's rule with a set of everything accepted instead of a bitmap."""
    if not accepted or sequence > max(accepted):
        return Verdict.NEW
    if max(accepted) - sequence >= size:
        return Verdict.TOO_OLD
    return Verdict.DUPLICATE if sequence in accepted else Verdict.NEW


@given(
    size=st.integers(1, 70),
    sequences=st.lists(st.integers(0, 300), max_size=200),
)
def test_sequence_window_agrees_with_a_set(size, sequences):
    window, accepted = SequenceWindow(size), set()
    for sequence in sequences:
        expected = sequence_oracle(size, accepted, sequence)
        assert window.check(sequence) == expected
        assert window.accept(sequence) == expected, (size, sequence, sorted(accepted))
        if expected is Verdict.NEW:
            accepted.add(sequence)
    assert window.bitmap < 1 << size  # bounded: never more than `size` bits


@pytest.mark.parametrize("size", [2, 8, 64])
def test_sequence_window_edges(size):
    window = SequenceWindow(size)
    assert window.accept(1000) is Verdict.NEW
    assert window.check(1000 - (size - 1)) is Verdict.NEW  # the oldest number in the window
    assert window.check(1000 - size) is Verdict.TOO_OLD  # one past it
    assert window.accept(1000) is Verdict.DUPLICATE
    assert window.check(1001) is Verdict.NEW  # one above the highest
    assert window.accept(1000 - (size - 1)) is Verdict.NEW
    assert window.accept(1000 - (size - 1)) is Verdict.DUPLICATE


def test_sliding_up_turns_the_oldest_number_too_old():
    window = SequenceWindow(4)
    for sequence in (10, 8):
        window.accept(sequence)
    assert window.check(7) is Verdict.NEW
    window.accept(11)  # the window is now 8..11
    assert window.check(7) is Verdict.TOO_OLD
    assert window.check(8) is Verdict.DUPLICATE
    assert window.check(9) is Verdict.NEW


def test_check_records_nothing():
    window = SequenceWindow(8)
    assert window.check(5) is Verdict.NEW
    assert window.check(5) is Verdict.NEW
    assert window.highest is None


def test_a_huge_jump_costs_no_memory():
    window = SequenceWindow(64)
    window.accept(0)
    window.accept(2**64 - 1)
    assert window.bitmap == 1 and window.check(0) is Verdict.TOO_OLD


def test_sequence_window_needs_a_size():
    with pytest.raises(ValueError):
        SequenceWindow(0)


def timestamp_oracle(skew, accepted, latest_now, message_id, timestamp, now):
    """The rule written with a plain list of everything accepted."""
    latest_now = max(latest_now, now)
    if timestamp < latest_now - skew:
        return Verdict.TOO_OLD
    if timestamp > now + skew:
        return Verdict.TOO_NEW
    live = {i for i, t in accepted if t >= latest_now - skew}
    return Verdict.DUPLICATE if message_id in live else Verdict.NEW


@given(
    skew=st.integers(0, 10),
    steps=st.lists(
        st.tuples(st.integers(0, 5), st.integers(-15, 15), st.integers(0, 3)), max_size=100
    ),
)
def test_timestamp_window_agrees_with_a_list(skew, steps):
    """Each step: an id, a timestamp relative to now, and how far now moves on first."""
    window, accepted, now, latest_now = TimestampWindow(skew), [], 100, float("-inf")
    for message_id, offset, advance in steps:
        now += advance
        timestamp = now + offset
        expected = timestamp_oracle(skew, accepted, latest_now, message_id, timestamp, now)
        assert window.accept(message_id, timestamp, now) == expected, (message_id, timestamp, now)
        latest_now = max(latest_now, now)
        if expected is Verdict.NEW:
            accepted.append((message_id, timestamp))
    assert window.remembered() == len({i for i, t in accepted if t >= latest_now - skew})


@pytest.mark.parametrize("skew", [0, 5, 30.0])
def test_timestamp_edges_on_both_sides(skew):
    now = 1_000.0
    window = TimestampWindow(skew)
    assert window.check("a", now - skew, now) is Verdict.NEW  # exactly at the old edge
    assert window.check("a", now - skew - 0.001, now) is Verdict.TOO_OLD  # just past it
    assert window.check("a", now + skew, now) is Verdict.NEW  # exactly at the future edge
    assert window.check("a", now + skew + 0.001, now) is Verdict.TOO_NEW  # just past it


def test_a_replay_within_the_skew_is_a_duplicate_and_expires_with_it():
    window = TimestampWindow(10)
    assert window.accept("m1", 100, now=100) is Verdict.NEW
    assert window.accept("m1", 100, now=105) is Verdict.DUPLICATE
    assert window.accept("m1", 100, now=110) is Verdict.DUPLICATE  # at the edge: still held
    assert window.remembered() == 1
    assert window.accept("m1", 100, now=110.5) is Verdict.TOO_OLD  # gone, and too old
    assert window.remembered() == 0


def test_a_clock_that_goes_back_does_not_revive_forgotten_ids():
    window = TimestampWindow(10)
    window.accept("m1", 100, now=100)
    window.check("other", 200, now=200)  # m1 is forgotten
    assert window.accept("m1", 100, now=105) is Verdict.TOO_OLD


def test_the_skew_is_never_negative():
    with pytest.raises(ValueError):
        TimestampWindow(-1)
