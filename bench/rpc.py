"""What does an RPC layer cost, and what does pipelining buy? Measured in one run.

Run: .venv/bin/python bench/rpc.py

Everything runs in one Trio process over loopback TCP: client, server and,
for the second half, `reference/tools/delay_proxy.py` adding 1 ms each way.

- raw echo: one `send_all` of a message as long as an RPC request frame,
  then `receive_some` until the echo is back; the server task echoes bytes.
  This is the floor: two tasks, no framing, no encoding.
- RPC lockstep: `await client.call("echo", payload)`, one call at a time.
- RPC pipelined: 64 tasks calling at once over the same connection
  (`max_in_flight=64`), so 64 calls are in flight.

Each figure is the best of several short runs, alternated so that a busy
moment on the machine hits every kind alike; latencies are percentiles of
the best run. The last line is JSON: `lockstep_vs_raw` (RPC lockstep
calls/s ÷ raw echo round trips/s, loopback) and `pipelined_vs_lockstep_1ms`
(64 in flight ÷ lockstep, both through the delay proxy).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Awaitable, Callable
from functools import partial

import trio

from reference.rpc.client import RpcClient
from reference.rpc.server import RpcServer, serve_rpc
from reference.rpc.wire import Request, encode_message
from reference.tools.delay_proxy import serve_delay_proxy
from reference.wire.framing import encode_frame

PAYLOAD = bytes(32)
IN_FLIGHT = 64
DELAY = 0.001
REPETITIONS = 3
RUN_SECONDS = 1.0
REQUEST_FRAME = encode_frame(encode_message(Request(100_000, "echo", [PAYLOAD])))


def echo(payload: bytes) -> bytes:
    return payload


async def echo_bytes(stream: trio.SocketStream) -> None:
    while data := await stream.receive_some(65536):
        await stream.send_all(data)


class Run:
    """Calls completed in a timed run, and how long each took."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.elapsed = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100)[p - 1] * 1e6


async def timed_run(one_call: Callable[[], Awaitable[object]], workers: int) -> Run:
    """Run `one_call` in `workers` tasks, each in a loop, for RUN_SECONDS."""
    run = Run()
    stop_at = time.perf_counter() + RUN_SECONDS

    async def worker() -> None:
        while (start := time.perf_counter()) < stop_at:
            await one_call()
            run.latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(workers):
            nursery.start_soon(worker)
    run.elapsed = time.perf_counter() - start
    return run


async def raw_echo_run(port: int) -> Run:
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:

        async def round_trip() -> None:
            await stream.send_all(REQUEST_FRAME)
            received = 0
            while received < len(REQUEST_FRAME):
                received += len(await stream.receive_some(65536))

        return await timed_run(round_trip, 1)


async def rpc_run(port: int, workers: int) -> Run:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with RpcClient(stream, max_in_flight=IN_FLIGHT) as client:
        return await timed_run(lambda: client.call("echo", PAYLOAD), workers)


async def measure() -> dict[str, Run]:
    server = RpcServer({"echo": echo}, max_concurrent_requests=IN_FLIGHT)
    best: dict[str, Run] = {}

    def keep_best(name: str, run: Run) -> None:
        if name not in best or run.rate > best[name].rate:
            best[name] = run

    async with trio.open_nursery() as nursery:
        rpc_port = await nursery.start(serve_rpc, server)
        listeners = await nursery.start(partial(trio.serve_tcp, echo_bytes, 0, host="127.0.0.1"))
        echo_port = listeners[0].socket.getsockname()[1]
        slow_rpc_port = await nursery.start(serve_delay_proxy, rpc_port, DELAY)
        slow_echo_port = await nursery.start(serve_delay_proxy, echo_port, DELAY)
        for _ in range(REPETITIONS):
            keep_best("raw echo", await raw_echo_run(echo_port))
            keep_best("RPC lockstep", await rpc_run(rpc_port, 1))
            keep_best(f"RPC {IN_FLIGHT} in flight", await rpc_run(rpc_port, IN_FLIGHT))
        for _ in range(REPETITIONS):
            keep_best("raw echo, 1 ms proxy", await raw_echo_run(slow_echo_port))
            keep_best("RPC lockstep, 1 ms proxy", await rpc_run(slow_rpc_port, 1))
            name = f"RPC {IN_FLIGHT} in flight, 1 ms proxy"
            keep_best(name, await rpc_run(slow_rpc_port, IN_FLIGHT))
        nursery.cancel_scope.cancel()
    return best


def main() -> None:
    best = trio.run(measure)
    print(
        f"request frame: {len(REQUEST_FRAME)} bytes; best of {REPETITIONS} runs of {RUN_SECONDS} s"
    )
    print(f"{'measurement':<34} {'calls/s':>10} {'p50 µs':>9} {'p99 µs':>9}")
    for name, run in best.items():
        print(
            f"{name:<34} {run.rate:>10,.0f} {run.percentile(50):>9,.0f} {run.percentile(99):>9,.0f}"
        )
    lockstep_vs_raw = best["RPC lockstep"].rate / best["raw echo"].rate
    pipelined = best[f"RPC {IN_FLIGHT} in flight, 1 ms proxy"].rate
    pipelined_vs_lockstep = pipelined / best["RPC lockstep, 1 ms proxy"].rate
    print(f"RPC lockstep / raw echo (loopback):          {lockstep_vs_raw:.2f}")
    print(f"{IN_FLIGHT} in flight / lockstep (1 ms proxy):        {pipelined_vs_lockstep:.1f}")
    print(
        json.dumps(
            {
                "lockstep_vs_raw": round(lockstep_vs_raw, 3),
                "pipelined_vs_lockstep_1ms": round(pipelined_vs_lockstep, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
