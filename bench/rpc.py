"""What does an RPC layer cost, what does pipelining buy, and how does gRPC compare? One run.

Run: .venv/bin/python bench/rpc.py

Our RPC runs in one Trio process over loopback TCP: client, server and,
for the second half, `reference/tools/delay_proxy.py` adding 1 ms each way.

- raw echo: one `send_all` of a message as long as an RPC request frame,
  then `receive_some` until the echo is back; the server task echoes bytes.
  This is the floor: two tasks, no framing, no encoding.
- RPC lockstep: `await client.call("echo", payload)`, one call at a time.
- RPC pipelined: 64 tasks calling at once over the same connection
  (`max_in_flight=64`), so 64 calls are in flight.
- gRPC lockstep and 64 in flight, on loopback only: the same 32-byte
  payload echoed by grpcio's asyncio API (`grpc.aio`) with a generic
  handler and identity serializers (bytes in, bytes out: no code
  generation, no protobuf), so what gRPC adds is HTTP/2 and its runtime.
  Client and server share one event loop and one connection, as ours do;
  64 tasks calling in a loop bound the calls in flight, as `max_in_flight`
  does for ours (grpc.aio has no such bound, and 20,000 calls launched at
  once end in CANCELLED errors).

grpc.aio runs on asyncio, not Trio, so each gRPC turn is its own
`asyncio.run` in this same process, taking turns with the Trio runs rather
than running beside them. Each side is then one process holding client and
server, placed on the CPUs by the same kernel in the same way, and a busy
moment on the machine hits both alike; gRPC's core threads end with its
event loop, so nothing of it runs during our turns. A subprocess would
only add an interpreter start and a way to send the figures back. One
difference remains by design: gRPC's C core does its I/O on threads of its
own, so its process can use both CPUs while ours is one thread. The
"CPU µs/call" column (process CPU time, all threads, per call) shows it.

grpcio is a benchmark extra (`.[bench]`, pinned in bench/requirements.txt);
without it the gRPC rows and ratios are skipped, with a line saying so.

Each figure is the best of several runs of a fixed number of calls (the
same for ours and gRPC's), alternated so that a busy moment on the machine
hits every kind alike; latencies are percentiles of the best run. The last
line is JSON: `lockstep_vs_raw` (RPC lockstep calls/s ÷ raw echo round
trips/s, loopback), `pipelined_vs_lockstep_1ms` (64 in flight ÷ lockstep,
both through the delay proxy), and `rpc_vs_grpc_lockstep` and
`rpc_vs_grpc_64_in_flight` (our calls/s ÷ gRPC's, loopback).
"""

from __future__ import annotations

import asyncio
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

try:
    import grpc
except ModuleNotFoundError:
    grpc = None

PAYLOAD = bytes(32)
IN_FLIGHT = 64
DELAY = 0.001
REPETITIONS = 3
LOCKSTEP_CALLS = 4_000  # per loopback lockstep run (raw echo: round trips)
PROXY_LOCKSTEP_CALLS = 400  # about 1 s at 1 ms each way
PIPELINED_CALLS = 200 * IN_FLIGHT  # per 64-in-flight run, loopback or proxy
REQUEST_FRAME = encode_frame(encode_message(Request(100_000, "echo", [PAYLOAD])))
GRPC_SKIPPED = (
    "gRPC comparison skipped: grpcio is not installed. It is a benchmark extra pinned in"
    " bench/requirements.txt: `make bench` installs it into .venv, or run"
    " `.venv/bin/pip install -r bench/requirements.txt`."
)


def echo(payload: bytes) -> bytes:
    return payload


async def echo_bytes(stream: trio.SocketStream) -> None:
    while data := await stream.receive_some(65536):
        await stream.send_all(data)


class Run:
    """A fixed number of calls shared by worker tasks: how long each took, and in all."""

    def __init__(self, calls: int) -> None:
        self.calls_left = calls
        self.latencies: list[float] = []
        self.elapsed = 0.0
        self.cpu = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    @property
    def cpu_per_call(self) -> float:
        return self.cpu / len(self.latencies) * 1e6

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100)[p - 1] * 1e6

    async def worker(self, one_call: Callable[[], Awaitable[object]]) -> None:
        """Make calls one after another until the run has none left (any event loop)."""
        while self.calls_left > 0:
            self.calls_left -= 1
            start = time.perf_counter()
            await one_call()
            self.latencies.append(time.perf_counter() - start)

    def start_clocks(self) -> None:
        self.elapsed, self.cpu = -time.perf_counter(), -time.process_time()

    def stop_clocks(self) -> None:
        self.elapsed += time.perf_counter()
        self.cpu += time.process_time()


async def trio_calls(one_call: Callable[[], Awaitable[object]], workers: int, calls: int) -> Run:
    run = Run(calls)
    run.start_clocks()
    async with trio.open_nursery() as nursery:
        for _ in range(workers):
            nursery.start_soon(run.worker, one_call)
    run.stop_clocks()
    return run


async def asyncio_calls(one_call: Callable[[], Awaitable[object]], workers: int, calls: int) -> Run:
    run = Run(calls)
    run.start_clocks()
    async with asyncio.TaskGroup() as tasks:
        for _ in range(workers):
            tasks.create_task(run.worker(one_call))
    run.stop_clocks()
    return run


def keep_best(best: dict[str, Run], name: str, run: Run) -> None:
    if name not in best or run.rate > best[name].rate:
        best[name] = run


async def raw_echo_run(port: int, round_trips: int) -> Run:
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:

        async def round_trip() -> None:
            await stream.send_all(REQUEST_FRAME)
            received = 0
            while received < len(REQUEST_FRAME):
                received += len(await stream.receive_some(65536))

        return await trio_calls(round_trip, 1, round_trips)


async def rpc_run(port: int, workers: int, calls: int) -> Run:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with RpcClient(stream, max_in_flight=IN_FLIGHT) as client:
        return await trio_calls(lambda: client.call("echo", PAYLOAD), workers, calls)


async def measure_rpc_on_loopback(best: dict[str, Run]) -> None:
    """One turn of the loopback figures for raw echo and our RPC."""
    server = RpcServer({"echo": echo}, max_concurrent_requests=IN_FLIGHT)
    async with trio.open_nursery() as nursery:
        rpc_port = await nursery.start(serve_rpc, server)
        listeners = await nursery.start(partial(trio.serve_tcp, echo_bytes, 0, host="127.0.0.1"))
        echo_port = listeners[0].socket.getsockname()[1]
        keep_best(best, "raw echo", await raw_echo_run(echo_port, LOCKSTEP_CALLS))
        keep_best(best, "RPC lockstep", await rpc_run(rpc_port, 1, LOCKSTEP_CALLS))
        pipelined = await rpc_run(rpc_port, IN_FLIGHT, PIPELINED_CALLS)
        keep_best(best, f"RPC {IN_FLIGHT} in flight", pipelined)
        nursery.cancel_scope.cancel()


async def measure_through_proxy(best: dict[str, Run]) -> None:
    server = RpcServer({"echo": echo}, max_concurrent_requests=IN_FLIGHT)
    async with trio.open_nursery() as nursery:
        rpc_port = await nursery.start(serve_rpc, server)
        listeners = await nursery.start(partial(trio.serve_tcp, echo_bytes, 0, host="127.0.0.1"))
        echo_port = listeners[0].socket.getsockname()[1]
        slow_rpc_port = await nursery.start(serve_delay_proxy, rpc_port, DELAY)
        slow_echo_port = await nursery.start(serve_delay_proxy, echo_port, DELAY)
        for _ in range(REPETITIONS):
            raw = await raw_echo_run(slow_echo_port, PROXY_LOCKSTEP_CALLS)
            keep_best(best, "raw echo, 1 ms proxy", raw)
            lockstep = await rpc_run(slow_rpc_port, 1, PROXY_LOCKSTEP_CALLS)
            keep_best(best, "RPC lockstep, 1 ms proxy", lockstep)
            pipelined = await rpc_run(slow_rpc_port, IN_FLIGHT, PIPELINED_CALLS)
            keep_best(best, f"RPC {IN_FLIGHT} in flight, 1 ms proxy", pipelined)
        nursery.cancel_scope.cancel()


async def grpc_echo(request: bytes, context: object) -> bytes:
    return request


def unchanged(message: bytes) -> bytes:
    return message


async def measure_grpc_on_loopback(best: dict[str, Run]) -> None:
    """One turn of the gRPC figures: a grpc.aio server and client in this event loop."""
    echo_service = grpc.method_handlers_generic_handler(
        "Echo",
        {
            "Call": grpc.unary_unary_rpc_method_handler(
                grpc_echo, request_deserializer=unchanged, response_serializer=unchanged
            )
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((echo_service,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await channel.channel_ready()  # connected, as our client is before its run
            call = channel.unary_unary(
                "/Echo/Call", request_serializer=unchanged, response_deserializer=unchanged
            )
            lockstep = await asyncio_calls(lambda: call(PAYLOAD), 1, LOCKSTEP_CALLS)
            keep_best(best, "gRPC lockstep", lockstep)
            pipelined = await asyncio_calls(lambda: call(PAYLOAD), IN_FLIGHT, PIPELINED_CALLS)
            keep_best(best, f"gRPC {IN_FLIGHT} in flight", pipelined)
    finally:
        await server.stop(None)


def main() -> None:
    best: dict[str, Run] = {}
    for _ in range(REPETITIONS):
        trio.run(measure_rpc_on_loopback, best)
        if grpc is not None:
            asyncio.run(measure_grpc_on_loopback(best))
    trio.run(measure_through_proxy, best)

    print(
        f"payload: {len(PAYLOAD)} bytes (our request frame: {len(REQUEST_FRAME)} bytes);"
        f" best of {REPETITIONS} runs"
    )
    print(f"{'measurement':<34} {'calls/s':>10} {'p50 µs':>9} {'p99 µs':>9} {'CPU µs/call':>12}")
    for name, run in best.items():
        print(
            f"{name:<34} {run.rate:>10,.0f} {run.percentile(50):>9,.0f}"
            f" {run.percentile(99):>9,.0f} {run.cpu_per_call:>12,.0f}"
        )
    lockstep_vs_raw = best["RPC lockstep"].rate / best["raw echo"].rate
    pipelined = best[f"RPC {IN_FLIGHT} in flight, 1 ms proxy"].rate
    pipelined_vs_lockstep = pipelined / best["RPC lockstep, 1 ms proxy"].rate
    headline = {
        "lockstep_vs_raw": round(lockstep_vs_raw, 3),
        "pipelined_vs_lockstep_1ms": round(pipelined_vs_lockstep, 2),
    }
    print(f"RPC lockstep / raw echo (loopback):          {lockstep_vs_raw:.2f}")
    print(f"{IN_FLIGHT} in flight / lockstep (1 ms proxy):        {pipelined_vs_lockstep:.1f}")
    if grpc is None:
        print(GRPC_SKIPPED)
    else:
        vs_lockstep = best["RPC lockstep"].rate / best["gRPC lockstep"].rate
        vs_in_flight = (
            best[f"RPC {IN_FLIGHT} in flight"].rate / best[f"gRPC {IN_FLIGHT} in flight"].rate
        )
        print(f"RPC / gRPC, lockstep (loopback):             {vs_lockstep:.2f}")
        print(f"RPC / gRPC, {IN_FLIGHT} in flight (loopback):         {vs_in_flight:.2f}")
        headline["rpc_vs_grpc_lockstep"] = round(vs_lockstep, 3)
        headline["rpc_vs_grpc_64_in_flight"] = round(vs_in_flight, 3)
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
