"""How fast the linearizability checker is, and what checking key by key buys.

A simulated key-value store (reference/order/simulated.py) gives a
linearizable history of 1,000 operations: 8 clients, 10 keys, gets, puts
and compare-and-sets, 2% of calls timing out. The checker judges it twice:
split per key by `KeyValueModel.partition` (10 searches of about 100
operations), and as one history (one search over the interleavings of
every key). The same is done for a copy with one read's value corrupted,
which the checker must reject; as one history that takes about half a
minute, as the search tries many interleavings of other keys before it
gives up. The search's cost is the number of (operations taken, state)
pairs it explores; the speed-up is the ratio of wall times.

Last, a history of 300 operations on one key by the same 8 clients: how
long one key's search takes when it is long and busy.

Run: python bench/linearizability.py
"""

from __future__ import annotations

import dataclasses
import functools
import json
import random
import time

from reference.order.history import Operation
from reference.order.linearizability import CheckResult, check_operations
from reference.order.models import KeyValueModel
from reference.order.simulated import simulated_history

OPERATIONS = 1_000
CLIENTS = 8
KEYS = "abcdefghij"
ONE_KEY_OPERATIONS = 300
REPEATS = 3  # each timing is the best of up to this many runs, within about a second


def kv_input(rng: random.Random, keys: str = KEYS) -> tuple:
    key, roll = rng.choice(keys), rng.random()
    if roll < 0.4:
        return ("get", key)
    if roll < 0.8:
        return ("put", key, rng.randrange(5))
    return ("cas", key, rng.randrange(5), rng.randrange(5))


def with_a_wrong_read(history: list[Operation]) -> list[Operation]:
    """The history with the middle read answering a value never written."""
    reads = [i for i, op in enumerate(history) if op.input[0] == "get" and not op.pending]
    index = reads[len(reads) // 2]
    wrong = dataclasses.replace(history[index], output=99)
    return [*history[:index], wrong, *history[index + 1 :]]


def timed_check(history: list[Operation], partition: bool) -> tuple[CheckResult, float]:
    times: list[float] = []
    while len(times) < REPEATS and sum(times) < 1.0:
        started = time.perf_counter()
        result = check_operations(KeyValueModel(), history, partition=partition)
        times.append(time.perf_counter() - started)
    return result, min(times)


def main() -> None:
    history = simulated_history(
        KeyValueModel(),
        kv_input,
        seed=1,
        clients=CLIENTS,
        operations=OPERATIONS,
        timeout_chance=0.02,
    )
    print(f"Checker on {OPERATIONS:,} operations, {CLIENTS} clients, {len(KEYS)} keys")
    print(f"{'history':<22}{'checked':<12}{'verdict':<18}{'states':>10}{'seconds':>10}")
    seconds = {}
    for name, subject, expected in (
        ("linearizable", history, True),
        ("one wrong read", with_a_wrong_read(history), False),
    ):
        for partition in (True, False):
            result, elapsed = timed_check(subject, partition)
            assert result.linearizable is expected
            verdict = "linearizable" if result.linearizable else "not linearizable"
            how = "per key" if partition else "as one"
            seconds[name, partition] = elapsed
            print(f"{name:<22}{how:<12}{verdict:<18}{result.explored:>10,}{elapsed:>10.3f}")
    print()
    speedups = {name: seconds[name, False] / seconds[name, True] for name, _ in seconds}
    for name, speedup in speedups.items():
        print(f"{'per key vs as one, ' + name:<44}{speedup:>9.1f}x")
    one_key = simulated_history(
        KeyValueModel(),
        functools.partial(kv_input, keys="a"),
        seed=1,
        clients=CLIENTS,
        operations=ONE_KEY_OPERATIONS,
        timeout_chance=0.02,
    )
    result, one_key_seconds = timed_check(one_key, partition=True)
    assert result.linearizable
    print(
        f"{ONE_KEY_OPERATIONS} operations on one key: {result.explored:,} states, "
        f"{one_key_seconds:.3f} s"
    )
    print()
    figures = {
        "checker_ops_per_s": round(OPERATIONS / seconds["linearizable", True]),
        "checker_partition_speedup": round(speedups["linearizable"], 1),
        "checker_partition_speedup_rejected": round(speedups["one wrong read"], 1),
        "checker_one_key_300_ops_s": round(one_key_seconds, 4),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
