"""Each broadcast keeps its promise on many random runs under loss, duplication, delay and
crashes; and each weaker one breaks a stronger promise on some of them."""

from __future__ import annotations

import random

import pytest

from reference.net.links import Link, Uniform
from reference.net.simnet import Simulation
from reference.order.broadcast import FifoBroadcast
from reference.order.broadcast_checks import (
    causal_violation,
    exactly_once_violation,
    fifo_violation,
    total_order_violation,
)
from reference.order.broadcast_scenarios import group_simulation
from reference.order.causal import CausalBroadcast
from reference.order.total_order import LamportBroadcast, SequencerBroadcast

HOSTILE = Link(loss=0.2, duplicate=0.2, delay=Uniform(0.005, 0.1))
SEEDS = range(150)

PROMISES = {
    FifoBroadcast: [fifo_violation],
    CausalBroadcast: [fifo_violation, causal_violation],
    SequencerBroadcast: [fifo_violation, causal_violation, total_order_violation],
    LamportBroadcast: [fifo_violation, causal_violation, total_order_violation],
}


def random_run(protocol, seed: int) -> tuple[Simulation, list[str]]:
    """2-5 members broadcast up to 12 messages in half a second over a hostile network;
    on half the seeds one member crashes meanwhile and restarts (a down member skips its
    broadcasts)."""
    rng = random.Random(seed)
    group = [f"n{i}" for i in range(rng.randint(2, 5))]
    sim = group_simulation(protocol, group, seed=seed, link=HOSTILE)

    def broadcast(who, payload):
        if sim.is_up(who):
            sim.node(who).broadcast(payload)

    for k in range(rng.randint(1, 12)):
        sim.call_at(rng.uniform(0, 0.5), broadcast, rng.choice(group), f"m{k}")
    if rng.random() < 0.5:
        victim, when = rng.choice(group), rng.uniform(0, 0.5)
        sim.call_at(when, sim.crash, victim)
        sim.call_at(when + rng.uniform(0.01, 0.3), sim.restart, victim)
    sim.run(until=120)
    return sim, group


@pytest.mark.parametrize("protocol", list(PROMISES), ids=lambda protocol: protocol.__name__)
def test_every_protocol_delivers_exactly_once_and_keeps_its_promises(protocol):
    for seed in SEEDS:
        sim, group = random_run(protocol, seed)
        assert exactly_once_violation(sim.trace, group) is None, f"seed {seed}"
        for check in PROMISES[protocol]:
            violation = check(sim.trace)
            assert violation is None, f"seed {seed}: {violation}"
        assert sim.trace[-1].time < 60, f"seed {seed}: still busy at the end"


def test_the_random_runs_really_lose_duplicate_and_crash():
    counts = [random_run(CausalBroadcast, seed)[0].trace.counts() for seed in range(20)]
    assert sum(count["drop"] > 0 and count["duplicate"] > 0 for count in counts) >= 15
    assert sum(count["crash"] for count in counts) >= 5


@pytest.mark.parametrize(
    ("weaker", "stronger_check"),
    [
        (FifoBroadcast, causal_violation),
        (CausalBroadcast, total_order_violation),
        (FifoBroadcast, total_order_violation),
    ],
    ids=["FIFO breaks causal", "causal breaks total", "FIFO breaks total"],
)
def test_a_weaker_protocol_breaks_a_stronger_promise_on_some_seed(weaker, stronger_check):
    broken = [seed for seed in SEEDS if stronger_check(random_run(weaker, seed)[0].trace)]
    assert len(broken) >= 5, broken
