"""How fast the simulator runs, and what a sliding window buys at 10% loss.

1. Wall-clock speed: simulated message deliveries per second of real time,
   for a relay ring (16 nodes passing 64 messages round, random delays)
   and for a reliable transfer under loss and duplication (which adds
   timers, acknowledgements and drops). Every run records its full trace.
2. Virtual-time goodput: messages delivered per simulated second by
   stop-and-wait and by a 32-message sliding window, over the same link
   (10 ms one way, 10% loss), summed over several seeds.

Run: python bench/simnet.py
"""

from __future__ import annotations

import functools
import json
import time

from reference.delivery.reliable import ReliableReceiver, SlidingWindowSender, StopAndWaitSender
from reference.net.links import Fixed, Link, Uniform
from reference.net.node import Node
from reference.net.simnet import Simulation

RING_NODES = 16
RING_TOKENS = 64
RING_DELIVERIES = 300_000
TRANSFER_MESSAGES = 20_000
GOODPUT_MESSAGES = 1_000
GOODPUT_SEEDS = range(5)
LOSSY_LINK = Link(loss=0.1, delay=Fixed(0.01))


class Relay(Node):
    """Passes every message on to the next node in the ring."""

    def __init__(self, index: int, tokens: int) -> None:
        self.next = f"n{(index + 1) % RING_NODES}"
        self.tokens = tokens

    def on_start(self) -> None:
        for token in range(self.tokens):
            self.ctx.send(self.next, ("token", token))

    def on_message(self, src: str, msg: tuple) -> None:
        self.ctx.send(self.next, msg)


def ring_speed() -> tuple[int, float]:
    sim = Simulation(seed=1, link=Link(delay=Uniform(0.001, 0.01)))
    for index in range(RING_NODES):
        tokens = RING_TOKENS // RING_NODES
        sim.add_node(f"n{index}", functools.partial(Relay, index, tokens))
    started = time.perf_counter()
    sim.run(max_events=RING_DELIVERIES + RING_NODES)
    elapsed = time.perf_counter() - started
    return sim.trace.counts()["deliver"], elapsed


def transfer_speed() -> tuple[int, float]:
    sim = Simulation(seed=2, link=Link(loss=0.1, duplicate=0.05, delay=Uniform(0.005, 0.015)))
    messages = range(TRANSFER_MESSAGES)
    sim.add_node("a", functools.partial(SlidingWindowSender, "b", messages, window=32))
    sim.add_node("b", ReliableReceiver)
    started = time.perf_counter()
    sim.run()
    elapsed = time.perf_counter() - started
    assert sim.storage("b")["delivered"] == list(messages)
    return sim.trace.counts()["deliver"], elapsed


def transfer_time(sender: functools.partial, seed: int) -> float:
    """Virtual seconds until the last of GOODPUT_MESSAGES is delivered."""
    sim = Simulation(seed=seed, link=LOSSY_LINK)
    sim.add_node("a", functools.partial(sender, "b", range(GOODPUT_MESSAGES)))
    sim.add_node("b", ReliableReceiver)
    sim.run()
    assert sim.storage("b")["delivered"] == list(range(GOODPUT_MESSAGES))
    last_delivery = max(e.time for e in sim.trace if e.kind == "deliver" and e.dst == "b")
    return last_delivery


def main() -> None:
    print("Simulator speed (wall clock, trace recorded)")
    print(f"{'workload':<44}{'deliveries':>12}{'seconds':>10}{'per second':>14}")
    speeds = {}
    for name, measure in (
        (f"relay ring, {RING_NODES} nodes, no faults", ring_speed),
        ("reliable transfer, 10% loss, 5% duplicates", transfer_speed),
    ):
        deliveries, elapsed = measure()
        speeds[name] = deliveries / elapsed
        print(f"{name:<44}{deliveries:>12,}{elapsed:>10.2f}{speeds[name]:>14,.0f}")

    print()
    print(f"Goodput in virtual time: {GOODPUT_MESSAGES} messages x {len(GOODPUT_SEEDS)} seeds,")
    print("10 ms one way, 10% loss each way")
    print(f"{'sender':<28}{'virtual seconds':>18}{'messages/s':>14}")
    goodput = {}
    for name, sender in (
        ("stop-and-wait", functools.partial(StopAndWaitSender)),
        ("sliding window of 32", functools.partial(SlidingWindowSender, window=32)),
    ):
        seconds = sum(transfer_time(sender, seed) for seed in GOODPUT_SEEDS)
        goodput[name] = GOODPUT_MESSAGES * len(GOODPUT_SEEDS) / seconds
        print(f"{name:<28}{seconds:>18.2f}{goodput[name]:>14.1f}")
    ratio = goodput["sliding window of 32"] / goodput["stop-and-wait"]
    print(f"{'window / stop-and-wait':<28}{'':>18}{ratio:>13.1f}x")
    print()
    ring = speeds[f"relay ring, {RING_NODES} nodes, no faults"]
    figures = {"deliveries_per_s": round(ring), "window_vs_stopwait_10pct_loss": round(ratio, 2)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
