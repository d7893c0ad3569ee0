"""The linearizability checker: classic cases, brute force, partitions, witnesses, the cache."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import pytest

from reference.order.history import Operation, precedes, timed_out
from reference.order.linearizability import (
    CheckResult,
    SearchTooLarge,
    UnhashableState,
    check_operations,
)
from reference.order.models import CounterModel, KeyValueModel, Model, RegisterModel
from reference.order.simulated import simulated_history


def op(client, input, call, output, ret):
    return Operation(client, input, call, output, ret)


# --- What a correct answer looks like ----------------------------------------


def replay(model: Model, operations) -> object:
    """The state after `operations` in order; fails if the model rejects one."""
    state = model.init()
    for place, operation in enumerate(operations):
        ok, state = model.step(state, operation.input, operation.output)
        assert ok, f"the model rejects operation {place} of the order: {operation}"
    return state


def assert_respects_real_time(operations) -> None:
    for later, b in enumerate(operations):
        for a in operations[later + 1 :]:
            assert not precedes(a, b), f"{a} returned before {b} was called, but comes after it"


def assert_explains(model: Model, history, result) -> None:
    """A witness for a yes; a real dead end for a no."""
    if result.linearizable:
        assert Counter(map(id, result.order)) == Counter(map(id, history))
        assert result.unexplained == ()
        replay(model, result.order)
        assert_respects_real_time(result.order)
        return
    state = replay(model, result.order)
    assert_respects_real_time(result.order)
    explained = {id(o) for o in result.order}
    assert result.unexplained, "a rejected history names operations that cannot come next"
    for stuck in result.unexplained:
        assert id(stuck) not in explained
        assert not model.step(state, stuck.input, stuck.output)[0], f"{stuck} could come next"


def brute_force(model: Model, history) -> bool:
    """Is there an order of all operations, respecting real time, that the model accepts?"""

    def extend(state, placed: frozenset) -> bool:
        if len(placed) == len(history):
            return True
        for index, candidate in enumerate(history):
            if index in placed:
                continue
            if any(
                j not in placed and precedes(history[j], candidate) for j in range(len(history))
            ):
                continue
            ok, new_state = model.step(state, candidate.input, candidate.output)
            if ok and extend(new_state, placed | {index}):
                return True
        return False

    return extend(model.init(), frozenset())


# --- Classic cases ---------------------------------------------------------------

REGISTER = RegisterModel(0)


def test_a_read_after_a_write_must_see_it_or_it_is_a_stale_read():
    write = op("a", ("write", 1), 0, None, 1)
    fresh = op("b", ("read",), 2, 1, 3)
    stale = op("b", ("read",), 2, 0, 3)
    assert check_operations(REGISTER, [write, fresh]).linearizable
    result = check_operations(REGISTER, [write, stale])
    assert not result.linearizable
    assert result.order == (write,) and result.unexplained == (stale,)


def test_a_read_concurrent_with_a_write_may_see_either_value():
    write = op("a", ("write", 1), 0, None, 4)
    for seen in (0, 1):
        history = [write, op("b", ("read",), 1, seen, 2)]
        assert check_operations(REGISTER, history).linearizable
    assert not check_operations(REGISTER, [write, op("b", ("read",), 1, 2, 2)]).linearizable


def test_intervals_that_touch_are_concurrent():
    write = op("a", ("write", 1), 0, None, 1)
    assert check_operations(REGISTER, [write, op("b", ("read",), 1, 0, 2)]).linearizable
    assert not check_operations(REGISTER, [write, op("b", ("read",), 1.001, 0, 2)]).linearizable


def test_a_read_cannot_see_a_value_before_its_write_began():
    early = op("b", ("read",), 0, 1, 1)
    write = op("a", ("write", 1), 2, None, 3)
    result = check_operations(REGISTER, [early, write])
    assert not result.linearizable
    assert result.order == () and result.unexplained == (early,)


def test_a_lost_write_is_caught():
    kv = KeyValueModel()
    history = [
        op("a", ("put", "x", 1), 0, None, 1),
        op("b", ("put", "x", 2), 2, None, 3),
        op("c", ("get", "x"), 4, 1, 5),  # the second write was lost
    ]
    result = check_operations(kv, history)
    assert not result.linearizable and result.unexplained == (history[2],)
    assert check_operations(kv, [*history[:2], op("c", ("get", "x"), 4, 2, 5)]).linearizable


def test_two_concurrent_compare_and_sets_cannot_both_win():
    kv = KeyValueModel()
    start = op("a", ("put", "x", 0), 0, None, 1)
    both_win = [
        start,
        op("b", ("cas", "x", 0, 1), 2, True, 4),
        op("c", ("cas", "x", 0, 2), 2, True, 4),
    ]
    result = check_operations(kv, both_win)
    assert not result.linearizable
    assert result.order == (start, both_win[1]) or result.order == (start, both_win[2])
    one_wins = [*both_win[:2], op("c", ("cas", "x", 0, 2), 2, False, 4)]
    assert check_operations(kv, one_wins).linearizable
    # the loser's failure must be explained by the winner having gone first
    assert check_operations(kv, one_wins).order[1] is one_wins[1]


def test_a_timed_out_write_may_show_up_later_and_then_stays():
    pending = timed_out("a", ("write", 1), 0)
    seen = op("b", ("read",), 50, 1, 51)
    assert check_operations(REGISTER, [pending, op("b", ("read",), 10, 0, 11), seen]).linearizable
    gone_again = op("b", ("read",), 60, 0, 61)
    result = check_operations(REGISTER, [pending, seen, gone_again])
    assert not result.linearizable and result.unexplained == (gone_again,)


def test_a_timed_out_write_may_never_take_effect():
    pending = timed_out("a", ("write", 1), 0)
    reads = [op("b", ("read",), t, 0, t + 1) for t in (5, 10, 20)]
    result = check_operations(REGISTER, [pending, *reads])
    assert result.linearizable
    assert result.order[-1] is pending  # "after everything" is "never", to every reader


def test_a_timed_out_call_cannot_take_effect_before_it_was_made():
    read = op("b", ("read",), 0, 1, 1)
    assert not check_operations(REGISTER, [read, timed_out("a", ("write", 1), 2)]).linearizable


def test_an_empty_history_is_linearizable():
    assert check_operations(REGISTER, []) == CheckResult(True, (), (), 0)


# --- Agreement with brute force on thousands of small random histories -----------


def random_history(rng: random.Random, make_input) -> list[Operation]:
    """A few operations with small whole-number times (ties!), random outputs, some pending."""
    history = []
    for _ in range(rng.randint(1, 7)):
        call = rng.randint(0, 6)
        if rng.random() < 0.15:
            history.append(timed_out(rng.choice("abc"), make_input(rng)[0], call))
            continue
        input, output = make_input(rng)
        history.append(Operation(rng.choice("abc"), input, call, output, call + rng.randint(0, 4)))
    return history


def register_input(rng):
    if rng.random() < 0.5:
        return ("write", rng.randint(0, 2)), None
    return ("read",), rng.randint(0, 2)


def counter_input(rng):
    if rng.random() < 0.5:
        return ("add", rng.randint(1, 2)), None
    return ("read",), rng.randint(0, 4)


def kv_input(rng):
    key, roll = rng.choice("xy"), rng.random()
    if roll < 0.35:
        return ("put", key, rng.randint(0, 1)), None
    if roll < 0.7:
        return ("get", key), rng.choice([None, 0, 1])
    return ("cas", key, rng.choice([None, 0, 1]), rng.randint(0, 1)), rng.random() < 0.5


@pytest.mark.parametrize(
    "model, make_input",
    [
        (RegisterModel(0), register_input),
        (CounterModel(), counter_input),
        (KeyValueModel(), kv_input),
    ],
    ids=["register", "counter", "key-value"],
)
def test_the_checker_agrees_with_brute_force(model, make_input):
    verdicts = Counter()
    for seed in range(2000):
        history = random_history(random.Random(seed), make_input)
        expected = brute_force(model, history)
        for partition in (True, False):
            result = check_operations(model, history, partition=partition)
            assert result.linearizable == expected, f"seed {seed}, partition={partition}"
            assert_explains(model, history, result)
        verdicts[expected] += 1
    assert min(verdicts.values()) > 400, f"too one-sided to teach much: {verdicts}"


# --- Partitions and larger histories ---------------------------------------------


def kv_ops(rng):
    key, roll = rng.choice("abcde"), rng.random()
    if roll < 0.4:
        return ("get", key)
    if roll < 0.8:
        return ("put", key, rng.randrange(4))
    return ("cas", key, rng.randrange(4), rng.randrange(4))


def corrupt(history: list[Operation], rng: random.Random) -> list[Operation]:
    """The same history with one read's output changed: sometimes still linearizable."""
    reads = [i for i, o in enumerate(history) if o.input[0] == "get" and not o.pending]
    index = rng.choice(reads)
    wrong = history[index].output
    changed = dataclasses.replace(history[index], output=None if wrong else rng.randrange(4))
    return [*history[:index], changed, *history[index + 1 :]]


def test_simulated_histories_are_linearizable_with_a_witness_that_replays():
    kv = KeyValueModel()
    for seed in range(20):
        history = simulated_history(
            kv, kv_ops, seed=seed, clients=4, operations=60, timeout_chance=0.1
        )
        for partition in (True, False):
            result = check_operations(kv, history, partition=partition)
            assert result.linearizable, f"seed {seed}"
            assert_explains(kv, history, result)


def test_partitioning_by_key_gives_the_same_verdict_and_a_true_explanation():
    kv = KeyValueModel()
    verdicts = Counter()
    for seed in range(40):
        rng = random.Random(seed)
        history = simulated_history(kv, kv_ops, seed=seed, clients=3, operations=40)
        history = corrupt(history, rng)
        by_key = check_operations(kv, history)
        whole = check_operations(kv, history, partition=False)
        assert by_key.linearizable == whole.linearizable, f"seed {seed}"
        assert_explains(kv, history, by_key)
        assert_explains(kv, history, whole)
        verdicts[by_key.linearizable] += 1
    assert min(verdicts.values()) >= 5, verdicts


class CountingCounter(CounterModel):
    def __init__(self):
        self.steps = 0

    def step(self, state, input, output):
        self.steps += 1
        return super().step(state, input, output)


def test_the_cache_keeps_the_search_small_where_orders_multiply():
    # 12 rounds of two concurrent add(1)s, then a read that is one short: 2**12 orders of
    # the adds, but after each round every order reaches the same (operations, total).
    rounds = 12
    history = []
    for round in range(rounds):
        for client in "ab":
            history.append(op(client, ("add", 1), 10 * round, None, 10 * round + 5))
    history.append(op("c", ("read",), 10 * rounds, 2 * rounds - 1, 10 * rounds + 1))
    model = CountingCounter()
    result = check_operations(model, history)
    assert not result.linearizable
    assert len(result.order) == 2 * rounds and result.unexplained == (history[-1],)
    assert result.explored == 3 * rounds  # {a}, {b}, {a, b} per round
    assert model.steps <= 6 * rounds, f"{model.steps} steps: the cache is not pruning"


# --- Bad input -----------------------------------------------------------------


def test_a_search_too_large_stops_with_a_named_error():
    writes = [op(f"c{i}", ("write", i), 0, None, 10) for i in range(14)]
    never_written = op("r", ("read",), 11, 99, 12)
    with pytest.raises(SearchTooLarge, match="1,000 states"):
        check_operations(REGISTER, [*writes, never_written], max_states=1000)


def test_an_unhashable_state_is_a_named_error():
    class ListRegister(Model):
        def init(self):
            return []

        def step(self, state, input, output):
            return True, [*state, input]

    with pytest.raises(UnhashableState, match="ListRegister"):
        check_operations(ListRegister(), [op("a", ("write", 1), 0, None, 1)])


def test_a_partition_that_loses_operations_is_an_error():
    class Forgetful(RegisterModel):
        def partition(self, history):
            return [history[1:]]

    history = [op("a", ("write", 1), 0, None, 1), op("a", ("read",), 2, 1, 3)]
    with pytest.raises(ValueError, match=r"Forgetful\.partition"):
        check_operations(Forgetful(), history)
    assert check_operations(Forgetful(), history, partition=False).linearizable
