"""What does consensus cost, and what does checking its histories per key buy? One run.

Run: .venv/bin/python bench/consensus.py

1. Raft throughput on the simulator: a 3- and a 5-server `KVNode` cluster
   (reference/order/kv.py), links of 1-3 ms one way, no faults, and
   CLIENTS clients that each run puts and gets back to back, one call at a
   time. Counted: operations the clients saw completed (each one committed
   through the log: reads too), per simulated second (what the protocol
   allows: about clients / round trips per call) and per wall second (what
   the simulator and this Python code manage on this machine, with the
   whole trace recorded).
2. The linearizability checker (reference/order/linearizability.py) on one
   history of CHECKED_OPERATIONS operations recorded from the 3-server
   cluster under faults (loss, duplicates, partitions, crashes), over KEYS
   keys, with some calls abandoned (never returned): the time to check it
   whole, and key by key (`partition=True`, linearizability being local).

Every figure is the best of REPEATS runs. The last line is JSON:
`raft_ops_per_wall_s` (3 servers), `raft_5_ops_per_wall_s`,
`raft_ops_per_sim_s` (3 servers), `checker_partition_speedup` (whole / per key).
"""

from __future__ import annotations

import json
import random
import time

from reference.net.links import Link, Uniform
from reference.order.kv import client_history
from reference.order.linearizability import check_operations
from reference.order.models import KeyValueModel
from reference.order.raft_scenarios import add_client, kv_cluster, schedule_faults

CLIENTS = 16
SIMULATED_SECONDS = 5.0
FAST_LINK = Link(delay=Uniform(0.001, 0.003))
KEYS = 20
CHECKED_OPERATIONS = 1_000
REPEATS = 3


def workload(rng: random.Random, count: int) -> list[tuple]:
    keys = [f"k{index}" for index in range(KEYS)]
    return [
        ("get", rng.choice(keys)) if rng.random() < 0.5 else ("put", rng.choice(keys), n)
        for n in range(count)
    ]


def raft_throughput(servers: int) -> tuple[int, float]:
    """Completed operations in SIMULATED_SECONDS, and the wall seconds it took."""
    rng = random.Random(servers)
    sim, names = kv_cluster(servers, servers, link=FAST_LINK)
    clients = [f"c{index}" for index in range(CLIENTS)]
    for name in clients:
        add_client(sim, name, names, operations=workload(rng, 100_000))
    started = time.perf_counter()
    sim.run(until=SIMULATED_SECONDS)
    elapsed = time.perf_counter() - started
    completed = sum(len(sim.node(name).history) for name in clients)
    return completed, elapsed


def recorded_history() -> list:
    """About CHECKED_OPERATIONS operations by 8 clients on a 3-server cluster under faults."""
    rng = random.Random(7)
    sim, names = kv_cluster(7, 3, link=Link(loss=0.05, duplicate=0.05, delay=FAST_LINK.delay))
    clients = [f"c{index}" for index in range(8)]
    for index, name in enumerate(clients):  # half of them give up on a call after 0.5 s
        give_up = 0.5 if index % 2 else None
        operations = workload(rng, CHECKED_OPERATIONS // 8)
        add_client(sim, name, names, operations=operations, give_up_after=give_up)
    schedule_faults(sim, names, clients, rng, start=0.5, end=3.0)
    sim.run(until=60.0)
    return client_history(sim, clients)


def best_time(fn, *args, **kwargs) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    print(f"Raft KV on the simulator: {CLIENTS} clients, {SIMULATED_SECONDS:g} simulated seconds,")
    print("1-3 ms links, no faults; every operation (reads too) committed through the log")
    print(f"{'servers':<10}{'operations':>12}{'per sim s':>12}{'wall s':>10}{'per wall s':>12}")
    figures = {}
    for servers in (3, 5):
        runs = [raft_throughput(servers) for _ in range(REPEATS)]
        completed = runs[0][0]
        wall = min(elapsed for _, elapsed in runs)
        per_sim, per_wall = completed / SIMULATED_SECONDS, completed / wall
        figures[servers] = (per_sim, per_wall)
        print(f"{servers:<10}{completed:>12,}{per_sim:>12,.0f}{wall:>10.2f}{per_wall:>12,.0f}")

    history = recorded_history()
    model = KeyValueModel()
    pending = sum(op.pending for op in history)
    print()
    print(f"Linearizability checker: {len(history)} operations ({pending} never returned)")
    print(f"on {KEYS} keys, recorded from the 3-server cluster under faults")
    print(f"{'search':<22}{'seconds':>10}{'states':>10}{'verdict':>14}")
    times = {}
    for name, partition in (("whole history", False), ("key by key", True)):
        seconds, verdict = best_time(check_operations, model, history, partition=partition)
        times[name] = seconds
        word = "linearizable" if verdict.linearizable else "NOT linear."
        print(f"{name:<22}{seconds:>10.4f}{verdict.explored:>10,}{word:>14}")
    speedup = times["whole history"] / times["key by key"]
    print(f"{'whole / key by key':<22}{speedup:>9.1f}x")
    print()
    result = {
        "raft_ops_per_wall_s": round(figures[3][1]),
        "raft_5_ops_per_wall_s": round(figures[5][1]),
        "raft_ops_per_sim_s": round(figures[3][0]),
        "checker_partition_speedup": round(speedup, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
