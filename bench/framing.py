"""How much does framing cost? MessageStream against raw bytes, and the decoder alone.

Run: .venv/bin/python bench/framing.py

Part 1 moves messages over loopback TCP inside one Trio process: a sender
task and a receiver task on the two ends of one connection. "framed" sends
each message with `MessageStream.send_message` and receives it with
`receive_message`; "raw" moves exactly the same bytes with one `send_all`
per frame (header included) and `receive_some(65536)` until every byte has
arrived. Both use Trio's default socket options (TCP_NODELAY,
TCP_NOTSENT_LOWAT) on a fresh connection, and MessageStream also reads
65536 bytes at a time.

Part 2 feeds `FrameDecoder` unaligned 1021-byte chunks: one 1 MiB frame,
one 16 MiB frame, 16 MiB of 100-byte frames, and 1 MiB and 16 MiB of
64 KiB frames, each time with a fresh decoder. If buffering were
quadratic, the time per byte for the 16 MiB frame would be about 16 times
that for the 1 MiB frame. Two things besides the algorithm move that
ratio, so they are printed too: page faults (a 16 MiB buffer lands on
fresh pages that the kernel must zero, while the C allocator often hands a
1 MiB buffer memory it kept from before), and the bytes the decoder
allocates per byte decoded (counted by tracemalloc, exact and independent
of the machine). The 64 KiB frames isolate the decoder: every frame is
completed from the buffer as in the single large frame, but each result
is small enough to come from memory the allocator reuses, so 16 MiB of
them against 1 MiB (16 times the frames, in the same chunking) should
cost the same per byte unless the decoder itself slows down with the
input it has seen.

Every figure is the best of several repetitions, taken in turn so that a
busy moment on the machine hits every case alike. Both ends run in one
thread, so the process CPU time is printed too: it is the work done, and
it stays steady when other programs share the machine. The last line is
JSON with the wall-clock ratios (framed/raw throughput; the decoder's time
per byte for 16 MiB over 1 MiB, as one frame and as 64 KiB frames) and the
decoder's bytes allocated per byte for one 16 MiB frame over one 1 MiB.
"""

from __future__ import annotations

import json
import resource
import time
import tracemalloc
from dataclasses import dataclass

import trio

from reference.wire.framing import FrameDecoder, MessageStream, encode_frame

REPETITIONS = 9
CHUNK = 1021
MiB = 1024 * 1024


@dataclass
class Best:
    """The shortest wall-clock and CPU time seen over repetitions."""

    wall: float = float("inf")
    cpu: float = float("inf")

    def add(self, wall: float, cpu: float) -> None:
        self.wall = min(self.wall, wall)
        self.cpu = min(self.cpu, cpu)


async def connected_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    client = await trio.open_tcp_stream("127.0.0.1", port)
    server = await listeners[0].accept()
    await listeners[0].aclose()
    return client, server


async def run_both(send, receive, best: Best) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        nursery.start_soon(receive)
    best.add(time.perf_counter() - wall, time.process_time() - cpu)


async def time_framed(payload: bytes, count: int, best: Best) -> None:
    client, server = await connected_pair()
    async with MessageStream(client) as sender, MessageStream(server) as receiver:

        async def send() -> None:
            for _ in range(count):
                await sender.send_message(payload)

        async def receive() -> None:
            for _ in range(count):
                await receiver.receive_message()

        await run_both(send, receive, best)


async def time_raw(payload: bytes, count: int, best: Best) -> None:
    frame = encode_frame(payload)  # the very bytes MessageStream sends
    total = len(frame) * count
    client, server = await connected_pair()
    async with client, server:

        async def send() -> None:
            for _ in range(count):
                await client.send_all(frame)

        async def receive() -> None:
            received = 0
            while received < total:
                received += len(await server.receive_some(65536))

        await run_both(send, receive, best)


async def compare_over_tcp(payload: bytes, count: int) -> tuple[Best, Best]:
    framed, raw = Best(), Best()
    for _ in range(REPETITIONS):
        await time_framed(payload, count, framed)
        await time_raw(payload, count, raw)
    return framed, raw


def unaligned_chunks(frames: list[bytes], largest: int) -> list[bytes]:
    wire = b"".join(encode_frame(frame, max_frame_size=largest) for frame in frames)
    return [wire[i : i + CHUNK] for i in range(0, len(wire), CHUNK)]


def page_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_decoding(chunks: list[bytes], largest: int, best: Best) -> int:
    """Decode with a fresh decoder; return how many fresh pages the process touched."""
    faults, wall, cpu = page_faults(), time.perf_counter(), time.process_time()
    decoder = FrameDecoder(max_frame_size=largest)
    for chunk in chunks:
        decoder.feed(chunk)
    best.add(time.perf_counter() - wall, time.process_time() - cpu)
    return page_faults() - faults


def allocated_per_byte(chunks: list[bytes], largest: int) -> float:
    """Sum over feeds of the memory each needed above what was held before, per byte fed."""
    decoder = FrameDecoder(max_frame_size=largest)
    total = 0
    tracemalloc.start()
    for chunk in chunks:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        decoder.feed(chunk)
        total += tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    return total / sum(map(len, chunks))


def print_table(rows: list[tuple[str, int, int, Best]]) -> None:
    print(f"{'measurement':<33} {'messages/s':>11} {'MB/s':>9}  {'CPU msg/s':>11} {'CPU MB/s':>9}")
    for name, messages, size, best in rows:
        print(
            f"{name:<33} {messages / best.wall:>11,.0f} {size / MiB / best.wall:>9,.1f}"
            f"  {messages / best.cpu:>11,.0f} {size / MiB / best.cpu:>9,.1f}"
        )


def main() -> None:
    rows = []  # (name, messages, bytes, Best)
    ratios = {}  # name: (wall-clock ratio, CPU-time ratio)

    for label, size, count in [("100 B", 100, 10_000), ("64 KiB", 65536, 1_000)]:
        framed, raw = trio.run(compare_over_tcp, bytes(size), count)
        total = (size + 4) * count
        rows.append((f"TCP {label}, raw", count, total, raw))
        rows.append((f"TCP {label}, framed", count, total, framed))
        ratios[f"framed/raw throughput, {label}"] = (
            raw.wall / framed.wall,
            raw.cpu / framed.cpu,
        )

    # Each pair compared (the single frames; 1 and 16 MiB of 64 KiB frames) takes turns.
    decoder_cases = [
        ("1 MiB frame", [bytes(MiB)], MiB),
        ("16 MiB frame", [bytes(16 * MiB)], 16 * MiB),
        ("16 MiB of 100 B frames", [bytes(100)] * (16 * MiB // 104), 100),
        ("1 MiB of 64 KiB frames", [bytes(65536)] * 16, 65536),
        ("16 MiB of 64 KiB frames", [bytes(65536)] * 256, 65536),
    ]
    chunked = [unaligned_chunks(frames, largest) for _, frames, largest in decoder_cases]
    timings = [Best() for _ in decoder_cases]
    faults = [0 for _ in decoder_cases]
    for turns in [(0, 1), (2,), (3, 4)]:
        for _ in range(REPETITIONS):
            for i in turns:
                faults[i] = time_decoding(chunked[i], decoder_cases[i][2], timings[i])
    for (label, frames, _), best in zip(decoder_cases, timings, strict=True):
        rows.append((f"decoder, {label}", len(frames), sum(len(f) + 4 for f in frames), best))
    # 16 times the bytes: per byte, divide by 16.
    for name, small, big in [
        ("decoder time per byte, 16 MiB / 1 MiB", timings[0], timings[1]),
        ("decoder per byte, 16/1 MiB of 64 KiB frames", timings[3], timings[4]),
    ]:
        ratios[name] = (big.wall / 16 / small.wall, big.cpu / 16 / small.cpu)

    print_table(rows)
    print()
    print(f"{'decoder':<33} {'page faults/MiB':>16} {'bytes allocated/byte':>21}")
    allocated = []
    for (label, frames, largest), count, chunks in zip(decoder_cases, faults, chunked, strict=True):
        mebibytes = sum(len(f) + 4 for f in frames) / MiB
        allocated.append(allocated_per_byte(chunks, largest))
        print(f"{label:<33} {count / mebibytes:>16,.0f} {allocated[-1]:>21.2f}")
    print()
    print(f"{'ratio':<44} {'wall':>6} {'CPU':>6}")
    for name, (wall, cpu) in ratios.items():
        print(f"{name:<44} {wall:>6.2f} {cpu:>6.2f}")
    wall_ratio = {name: round(wall, 3) for name, (wall, _) in ratios.items()}
    print(
        json.dumps(
            {
                "framed_vs_raw_64k": wall_ratio["framed/raw throughput, 64 KiB"],
                "framed_vs_raw_100b": wall_ratio["framed/raw throughput, 100 B"],
                "decoder_scaling_16m_vs_1m": wall_ratio["decoder time per byte, 16 MiB / 1 MiB"],
                "decoder_scaling_16m_vs_1m_64k_frames": wall_ratio[
                    "decoder per byte, 16/1 MiB of 64 KiB frames"
                ],
                "decoder_allocated_16m_vs_1m": round(allocated[1] / allocated[0], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
