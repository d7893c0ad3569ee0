"""What do hostile clients cost the polite ones, and the server's memory? One run.

Run: .venv/bin/python bench/abuse.py

The RPC server runs in a process of its own (so that its memory is its
own), serving `echo` and a cheap plain method `work` on loopback. Eight
polite clients in this process call `echo` one call at a time
(reference/rpc/hostile.py's `polite_caller`), first alone, then beside one
client of each hostile kind of reference/rpc/hostile.py: one that never
reads its replies, a slowloris, 20 connections parking half of a 1 MiB
frame each, a flood of notifications, and 1 MiB amplifying frames (a
million empty maps) sent on a fresh connection every 0.1 s.

The two kinds of run alternate, REPETITIONS times, so that a busy moment on
the machine hits both alike; each figure is the best run's. The server's
resident memory (VmRSS in /proc) is sampled every 50 ms during the hostile
runs; its peak is reported, and its high-water mark (VmHWM) at the end.
The last line is JSON: `p99_with_hostile_vs_without` (the polite p99
beside hostile clients ÷ alone) and `server_rss_mb_with_hostile` (the
peak sampled while they ran).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import trio

from reference.rpc.hostile import EVERY_HOSTILE_KIND, polite_caller

REPO = Path(__file__).resolve().parents[1]
POLITE_CLIENTS = 8
SECONDS_PER_RUN = 3.0
REPETITIONS = 3
SERVER = """
from reference.rpc.server import RpcServer, serve_rpc
import trio

server = RpcServer({"echo": lambda value: value, "work": lambda: sum(range(100))})

async def main():
    async with trio.open_nursery() as nursery:
        print(await nursery.start(serve_rpc, server), flush=True)

trio.run(main)
"""


def memory_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


async def polite_run(port: int) -> list[float]:
    latencies: list[float] = []
    with trio.move_on_after(SECONDS_PER_RUN):
        async with trio.open_nursery() as nursery:
            for _ in range(POLITE_CLIENTS):
                nursery.start_soon(polite_caller, port, latencies)
    return latencies


async def hostile_run(port: int, pid: int) -> tuple[list[float], float]:
    peak = 0.0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, memory_mib(pid, "VmRSS"))
            await trio.sleep(0.05)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sample)
        for kind in EVERY_HOSTILE_KIND:
            nursery.start_soon(kind, port)
        latencies = await polite_run(port)
        nursery.cancel_scope.cancel()
    await trio.sleep(0.5)  # let the server close what the hostile clients left
    return latencies, peak


def p99_ms(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98] * 1e3


async def main() -> None:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, cwd=REPO
    )
    try:
        line = b""
        while not line.endswith(b"\n"):
            line += await process.stdout.receive_some(100)
        port = int(line)
        idle_rss = memory_mib(process.pid, "VmRSS")
        alone, beside, peaks = [], [], []
        for _ in range(REPETITIONS):
            alone.append(await polite_run(port))
            latencies, peak = await hostile_run(port, process.pid)
            beside.append(latencies)
            peaks.append(peak)
        high_water = memory_mib(process.pid, "VmHWM")
    finally:
        process.kill()
        await process.wait()
        await process.stdout.aclose()

    best_alone = min(alone, key=p99_ms)
    best_beside = min(beside, key=p99_ms)
    print(f"{POLITE_CLIENTS} polite clients, {SECONDS_PER_RUN:g} s a run, best of {REPETITIONS}")
    print(f"{'run':<24} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, run in (("alone", best_alone), ("beside hostile clients", best_beside)):
        print(
            f"{name:<24} {len(run) / SECONDS_PER_RUN:>9,.0f}"
            f" {statistics.median(run) * 1e3:>8.2f} {p99_ms(run):>8.2f} {max(run) * 1e3:>8.1f}"
        )
    ratio = p99_ms(best_beside) / p99_ms(best_alone)
    peak = max(peaks)
    print(f"p99 beside hostile / alone: {ratio:.1f}")
    print(f"server RSS: {idle_rss:.0f} MiB idle, {peak:.0f} MiB peak beside hostile clients,")
    print(f"            {high_water:.0f} MiB high-water mark")
    print(
        json.dumps(
            {
                "p99_with_hostile_vs_without": round(ratio, 2),
                "server_rss_mb_with_hostile": round(peak, 1),
            }
        )
    )


if __name__ == "__main__":
    trio.run(main)
