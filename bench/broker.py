"""How fast does our broker fan messages out, next to nats-server? And what does the trie buy?

Run: .venv/bin/python bench/broker.py

Fan-out: one publisher and N subscribers (N = 1, 10, 100), each its own
nats-py connection in this process's asyncio loop, against each broker in
turn, each broker its own process on loopback: ours
(`python -m reference.routing.broker`) and nats-server 2.9 (Go), both
allowing a subscriber 64 MiB of pending output (nats-server's default). The
publisher sends 128-byte messages as fast as nats-py lets it; the clock
stops when every subscriber has counted every message. The figure is
messages *delivered* per second (published x N / elapsed). The client is
the same for both brokers, and it is Python: at high rates it is the
client as much as the broker that sets the pace, so the ratio says "how
much slower a Python client gets its messages through our broker", not
how much slower our broker is than Go at its limit. Each figure is the
best of several runs, the two brokers alternated.

Matching: 10,000 subscriptions with filters of 3 or 4 tokens drawn from a
small vocabulary, about 1 in 10 tokens a `*` and 1 in 10 filters ending
in `>` (seeded), then subjects matched against them: with
`SubscriptionIndex.match` (the trie) and with a linear scan calling
`filter_matches` on every subscription's pre-split filter.

The last line is JSON: `broker_vs_nats_server_fanout10` (our delivered
messages/s ÷ nats-server's, 10 subscribers; the workbook aims for ≥ 0.2)
and `trie_vs_scan_10k_subs` (trie matches/s ÷ scan matches/s; aims for
≥ 20), with the other fan-outs alongside.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable

import nats
import trio

from reference.routing.nats_server import NatsServerMissing, run_nats_server
from reference.routing.subjects import (
    SubscriptionIndex,
    filter_matches,
    parse_filter,
    parse_subject,
)
from reference.tools.background import TrioThread
from reference.tools.nats_py import settle

PAYLOAD = bytes(128)
FANOUTS = (1, 10, 100)
DELIVERIES_PER_RUN = 40_000  # messages published x subscribers, per run
REPETITIONS = 3
SUBSCRIPTIONS = 10_000
VOCABULARY = [f"w{number}" for number in range(12)]
NATS_SERVER_SKIPPED = "nats-server comparison skipped: apt-get install nats-server"


async def fanout_run(port: int, subscribers: int) -> float:
    """Delivered messages per second, one publisher to `subscribers` connections."""
    messages = DELIVERIES_PER_RUN // subscribers
    url = f"nats://127.0.0.1:{port}"
    clients = [await nats.connect(url, allow_reconnect=False) for _ in range(subscribers + 1)]
    publisher, receivers = clients[0], clients[1:]
    left = subscribers * messages
    done = asyncio.Event()

    async def count(msg):
        nonlocal left
        left -= 1
        if left == 0:
            done.set()

    for receiver in receivers:
        await receiver.subscribe("bench.fanout", cb=count)
        await settle(receiver)
    start = time.perf_counter()
    for _ in range(messages):
        await publisher.publish("bench.fanout", PAYLOAD)
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.perf_counter() - start
    for client in clients:
        await client.close()
    return subscribers * messages / elapsed


def start_our_broker() -> tuple[subprocess.Popen, int]:
    command = [sys.executable, "-m", "reference.routing.broker", "--port", "0"]
    command += ["--max-pending", str(64 * 1024 * 1024)]  # nats-server's default
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    return process, json.loads(process.stdout.readline())["listening"][1]


async def hold_nats_server(task_status=trio.TASK_STATUS_IGNORED) -> None:
    async with run_nats_server() as server:
        task_status.started(server.port)
        await trio.sleep_forever()


def measure_fanout() -> dict[str, dict[int, float]]:
    best: dict[str, dict[int, float]] = {"our broker": {}, "nats-server": {}}
    ports = {}
    process, ports["our broker"] = start_our_broker()
    with TrioThread(name="nats-server") as background:
        try:
            ports["nats-server"] = background.start(hold_nats_server)
        except NatsServerMissing:
            print(NATS_SERVER_SKIPPED)
            del best["nats-server"]
        try:
            for _ in range(REPETITIONS):
                for fanout in FANOUTS:
                    for name in best:
                        rate = asyncio.run(fanout_run(ports[name], fanout))
                        best[name][fanout] = max(rate, best[name].get(fanout, 0.0))
        finally:
            process.terminate()
            process.wait()
    return best


def random_filter(rng: random.Random) -> str:
    tokens = [rng.choice(VOCABULARY) for _ in range(rng.choice((3, 4)))]
    tokens = ["*" if rng.random() < 0.1 else token for token in tokens]
    if rng.random() < 0.1:
        tokens[-1] = ">"
    return ".".join(tokens)


def rate_of(match: Callable[[str], int], subjects: list[str]) -> tuple[float, int]:
    """Subjects matched per second, and how many matches they found in all."""
    start = time.perf_counter()
    found = sum(match(subject) for subject in subjects)
    return len(subjects) / (time.perf_counter() - start), found


def measure_matching() -> dict[str, float]:
    rng = random.Random(5)
    filters = [random_filter(rng) for _ in range(SUBSCRIPTIONS)]
    index = SubscriptionIndex()
    for number, filter_text in enumerate(filters):
        index.insert(filter_text, number)
    split_filters = [parse_filter(filter_text) for filter_text in filters]
    subjects = [
        ".".join(rng.choice(VOCABULARY) for _ in range(rng.choice((3, 4)))) for _ in range(20_000)
    ]

    def trie(subject: str) -> int:
        return len(index.match(subject).plain)

    def scan(subject: str) -> int:
        tokens = parse_subject(subject)
        return sum(filter_matches(filter_tokens, tokens) for filter_tokens in split_filters)

    trie_rate, trie_found = rate_of(trie, subjects[:200])
    scan_rate, scan_found = rate_of(scan, subjects[:200])
    assert trie_found == scan_found, (trie_found, scan_found)  # the same answers
    trie_rate, _ = rate_of(trie, subjects)
    return {"trie": trie_rate, "scan": scan_rate, "matches": trie_found / 200}


def main() -> None:
    best = measure_fanout()
    matching = measure_matching()
    print(f"fan-out: {len(PAYLOAD)} B messages, {DELIVERIES_PER_RUN:,} deliveries a run,")
    print(f"one nats-py publisher and N nats-py subscribers; best of {REPETITIONS} runs")
    print(
        f"{'subscribers':>11} " + " ".join(f"{name + ' msg/s':>18}" for name in best) + "   ratio"
    )
    headline: dict[str, float] = {}
    for fanout in FANOUTS:
        rates = [best[name][fanout] for name in best]
        line = f"{fanout:>11} " + " ".join(f"{rate:>18,.0f}" for rate in rates)
        if "nats-server" in best:
            ratio = best["our broker"][fanout] / best["nats-server"][fanout]
            headline[f"broker_vs_nats_server_fanout{fanout}"] = round(ratio, 3)
            line += f"   {ratio:.2f}"
        print(line)
    ratio = matching["trie"] / matching["scan"]
    print(
        f"matching, {SUBSCRIPTIONS:,} subscriptions ({matching['matches']:.1f} matches a subject):"
    )
    print(f"  trie {matching['trie']:>12,.0f} subjects/s")
    print(f"  scan {matching['scan']:>12,.0f} subjects/s")
    print(f"  trie / scan: {ratio:,.0f}")
    headline["trie_vs_scan_10k_subs"] = round(ratio, 1)
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
