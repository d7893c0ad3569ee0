"""What the checker reads: operations and their validation, the models, simulated histories."""

from __future__ import annotations

import itertools
import math

import pytest

from reference.order.history import (
    UNKNOWN,
    InvalidHistory,
    Operation,
    describe_operation,
    precedes,
    timed_out,
    validate_history,
)
from reference.order.linearizability import check_operations
from reference.order.models import CounterModel, KeyValueModel, Model, RegisterModel
from reference.order.simulated import simulated_history


def test_a_timed_out_call_is_pending_with_an_unknown_output():
    pending = timed_out("a", ("write", 1), 3.0)
    assert pending == Operation("a", ("write", 1), 3.0, UNKNOWN, math.inf)
    assert pending.pending and not Operation("a", ("read",), 0, 1, 1).pending
    assert repr(UNKNOWN) == "UNKNOWN"


def test_only_a_return_strictly_before_a_call_orders_two_operations():
    first = Operation("a", ("write", 1), 0, None, 1)
    assert precedes(first, Operation("b", ("read",), 1.5, 1, 2))
    assert not precedes(first, Operation("b", ("read",), 1, 1, 2))
    assert not precedes(Operation("b", ("read",), 1, 1, 2), first)


@pytest.mark.parametrize(
    "bad, complaint",
    [
        (("write", 1), "not an Operation"),
        (Operation("a", ("read",), 2, 0, 1), "returns before it is called"),
        (Operation("a", ("read",), float("nan"), 0, 1), "finite number"),
        (Operation("a", ("read",), math.inf, UNKNOWN, math.inf), "finite number"),
        (Operation("a", ("read",), True, 0, 1), "finite number"),
        (Operation("a", ("read",), "0", 0, 1), "finite number"),
        (Operation("a", ("read",), 0, 0, math.inf), "never returned"),
        (Operation("a", ("read",), 0, UNKNOWN, 5), "never returned"),
    ],
)
def test_a_history_the_checker_cannot_judge_is_a_named_error(bad, complaint):
    good = Operation("a", ("write", 1), 0, None, 1)
    with pytest.raises(InvalidHistory, match=complaint):
        validate_history([good, bad])
    with pytest.raises(InvalidHistory, match="operation 1"):
        check_operations(RegisterModel(), [good, bad])


def test_labels_say_what_was_asked_and_what_came_back():
    assert describe_operation(Operation("a", ("put", "x", 1), 0, None, 1)) == "put x 1"
    assert describe_operation(Operation("a", ("cas", "x", 0, 1), 0, True, 1)) == "cas x 0 1 → True"
    assert describe_operation(timed_out("a", ("get", "x"), 0)) == "get x → ?"
    assert describe_operation(Operation("a", "ping", 0, "pong", 1)) == "ping → pong"
    empty_read = Operation("a", ("get", "x"), 0, None, 1)
    assert describe_operation(empty_read) == "get x"
    assert KeyValueModel().describe(empty_read) == "get x → None"
    assert RegisterModel().describe(Operation("a", ("read",), 0, None, 1)) == "read → None"
    assert RegisterModel().describe(Operation("a", ("write", 2), 0, None, 1)) == "write 2"


def test_the_register_model():
    register = RegisterModel(initial=7)
    assert register.init() == 7
    assert register.step(7, ("read",), 7) == (True, 7)
    assert register.step(7, ("read",), 8) == (False, 7)
    assert register.step(7, ("write", 8), None) == (True, 8)
    assert register.step(7, ("read",), UNKNOWN) == (True, 7)
    assert register.step(7, ("write", 8), UNKNOWN) == (True, 8)  # it may have happened
    with pytest.raises(InvalidHistory, match="register has no operation"):
        register.step(7, ("increment",), None)


def test_the_counter_model():
    counter = CounterModel()
    assert counter.step(counter.init(), ("add", 3), None) == (True, 3)
    assert counter.step(3, ("read",), 3) == (True, 3)
    assert counter.step(3, ("read",), 2) == (False, 3)
    with pytest.raises(InvalidHistory, match="counter has no operation"):
        counter.step(3, ("add", "1"), None)


def test_the_key_value_model():
    kv = KeyValueModel()
    empty = kv.init()
    assert kv.step(empty, ("get", "x"), None) == (True, empty)
    ok, one = kv.step(empty, ("put", "x", 1), None)
    assert ok and kv.apply(one, ("get", "x")) == (1, one)
    assert kv.apply(one, ("get", "y")) == (None, one)
    assert kv.apply(one, ("cas", "x", 0, 2)) == (False, one)
    won, two = kv.apply(one, ("cas", "x", 1, 2))
    assert won is True and kv.apply(two, ("get", "x"))[0] == 2
    assert kv.apply(empty, ("cas", "x", None, 5))[0] is True  # create if absent
    assert kv.step(one, ("cas", "x", 1, 2), UNKNOWN) == (True, two)
    assert kv.step(one, ("cas", "x", 0, 2), UNKNOWN) == (True, one)
    assert hash(two) == hash(kv.apply(kv.apply(empty, ("put", "x", 2))[1], ("get", "x"))[1])
    with pytest.raises(InvalidHistory, match="key-value store has no operation"):
        kv.apply(empty, ("delete", "x"))


def test_the_key_value_model_partitions_by_key():
    kv = KeyValueModel()
    ops = [
        Operation("a", input, 0, None, 1)
        for input in [("put", "x", 1), ("get", "y"), ("put", "x", 2)]
    ]
    assert kv.partition(ops) == [[ops[0], ops[2]], [ops[1]]]
    with pytest.raises(InvalidHistory, match="names its key"):
        kv.partition([Operation("a", ("get",), 0, None, 1)])


def test_a_model_is_one_part_by_default_and_must_be_written():
    history = [Operation("a", ("read",), 0, 0, 1)]
    assert Model().partition(history) == [history]
    with pytest.raises(NotImplementedError):
        check_operations(Model(), history)


def register_input(rng):
    return ("read",) if rng.random() < 0.5 else ("write", rng.randrange(3))


def test_simulated_histories_are_repeatable_and_shaped_like_real_ones():
    model = RegisterModel(0)
    history = simulated_history(
        model, register_input, seed=5, clients=3, operations=200, timeout_chance=0.2
    )
    assert history == simulated_history(
        model, register_input, seed=5, clients=3, operations=200, timeout_chance=0.2
    )
    assert history != simulated_history(
        model, register_input, seed=6, clients=3, operations=200, timeout_chance=0.2
    )
    assert len(history) == 200 and {op.client for op in history} == {"c0", "c1", "c2"}
    validate_history(history)
    pending = [op for op in history if op.pending]
    assert 20 < len(pending) < 60
    for client in ("c0", "c1", "c2"):  # a client calls again only after its last call ended
        mine = [op for op in history if op.client == client]
        for before, after in itertools.pairwise(mine):
            assert before.pending or before.ret < after.call
    assert check_operations(model, history).linearizable
    assert any(op.output not in (None, 0) for op in history if op.input == ("read",))


def test_simulated_timeouts_sometimes_take_effect_and_sometimes_never():
    outcomes = set()
    for seed in range(40):
        inputs = iter([("write", 1)] + [("read",)] * 30)
        history = simulated_history(
            RegisterModel(0),
            lambda rng, inputs=inputs: next(inputs),
            seed=seed,
            clients=2,
            operations=31,
            timeout_chance=0.5,
        )
        if history[0].pending:
            outcomes.add(any(op.output == 1 for op in history))
        assert check_operations(RegisterModel(0), history).linearizable, f"seed {seed}"
    assert outcomes == {True, False}
