"""The sans-I/O pending-call table, step by step, with no event loop."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.rpc.pending import PendingCalls, UnknownCallId


def test_ids_are_fresh_and_increasing():
    calls = PendingCalls()
    assert [calls.add(f"waiter {n}") for n in range(5)] == [0, 1, 2, 3, 4]
    assert len(calls) == 5


def test_pop_returns_the_waiter_once():
    calls = PendingCalls()
    first, second = calls.add("first"), calls.add("second")
    assert calls.pop(second) == "second"
    assert calls.pop(first) == "first"
    assert len(calls) == 0
    assert calls.pop(first) is None  # a duplicate reply
    assert calls.late_replies == 1


def test_discarded_call_makes_its_reply_late():
    calls = PendingCalls()
    call_id = calls.add("gave up")
    calls.discard(call_id)
    assert len(calls) == 0
    assert calls.pop(call_id) is None
    assert calls.late_replies == 1
    calls.discard(call_id)  # discarding twice is harmless


def test_ids_are_never_reused_so_a_late_reply_cannot_reach_a_newer_call():
    calls = PendingCalls()
    old = calls.add("old call")
    calls.discard(old)
    new = calls.add("new call")
    assert new != old
    assert calls.pop(old) is None  # the late reply to the old call
    assert calls.pop(new) == "new call"


@pytest.mark.parametrize("bad_id", [-1, 3, 10**30, "0", 1.0, None, True, [0]])
def test_an_id_never_issued_is_the_peers_fault(bad_id):
    calls = PendingCalls()
    for waiter in "abc":
        calls.add(waiter)
    with pytest.raises(UnknownCallId) as caught:
        calls.pop(bad_id)
    assert caught.value.call_id == bad_id
    assert len(calls) == 3
    assert calls.late_replies == 0


def test_pop_all_empties_the_table():
    calls = PendingCalls()
    for waiter in "abc":
        calls.add(waiter)
    calls.pop(1)
    assert sorted(calls.pop_all()) == ["a", "c"]
    assert len(calls) == 0
    assert calls.pop(0) is None  # replies after a lost connection are late
    assert calls.pop_all() == []


operations = st.lists(
    st.one_of(
        st.just(("add",)),
        st.tuples(st.just("pop"), st.integers(-2, 40)),
        st.tuples(st.just("discard"), st.integers(0, 40)),
        st.just(("pop_all",)),
    ),
    max_size=60,
)


@given(operations)
def test_table_agrees_with_a_model(steps):
    calls = PendingCalls()
    model: dict[int, str] = {}
    issued = late = 0
    for step in steps:
        if step[0] == "add":
            waiter = f"w{issued}"
            assert calls.add(waiter) == issued
            model[issued] = waiter
            issued += 1
        elif step[0] == "pop":
            call_id = step[1]
            if not 0 <= call_id < issued:
                with pytest.raises(UnknownCallId):
                    calls.pop(call_id)
            elif call_id in model:
                assert calls.pop(call_id) == model.pop(call_id)
            else:
                assert calls.pop(call_id) is None
                late += 1
        elif step[0] == "discard":
            calls.discard(step[1])
            model.pop(step[1], None)
        else:
            assert sorted(calls.pop_all()) == sorted(model.values())
            model.clear()
        assert len(calls) == len(model)
        assert calls.late_replies == late


def test_an_unknown_id_of_any_size_is_named_briefly():
    with pytest.raises(UnknownCallId, match="an integer of 16610 bits"):
        PendingCalls().pop(10**5000)  # str() of it would raise ValueError
