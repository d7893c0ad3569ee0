"""One host contract: the simulator and the UDP runtime record the same events, field by field.

Each case is a script of actions at given times, run on both hosts, and the exact events
it must record: who sent what to whom, which message id, why it was lost, and when.
The UDP runtime runs on Trio's MockClock, so its times are as exact as the simulator's.
"""

from __future__ import annotations

import inspect
from contextlib import asynccontextmanager

import pytest
import trio

from reference.net.links import Fixed, Link, Uniform
from reference.net.node import Node, NodeDown, UnknownNode
from reference.net.simnet import Simulation
from reference.net.trace import (
    Crash,
    Deliver,
    Drop,
    Duplicate,
    Heal,
    Note,
    Partition,
    Send,
    Start,
    TimerFired,
)
from reference.net.udp import open_udp_network

HOSTS = ["simulator", "udp"]
QUARTER = Link(delay=Fixed(0.25))

ACTIONS = {
    "send": lambda host, src, dst, msg: host.node(src).ctx.send(dst, msg),
    "timer": lambda host, node, delay, name: host.node(node).ctx.set_timer(delay, name),
    "note": lambda host, node, text: host.node(node).ctx.note(text),
    "crash": lambda host, node: host.crash(node),
    "restart": lambda host, node: host.restart(node),  # a coroutine on the UDP runtime
    "partition": lambda host, a, b, one_way=False: host.partition(a, b, one_way=one_way),
    "heal": lambda host, *sides: host.heal(*sides),
}


@asynccontextmanager
async def two_nodes(kind: str, link: Link | None = QUARTER, seed: int = 0):
    """Nodes "a" and "b" (which do nothing but receive), started at time 0 on `kind`."""
    if kind == "simulator":
        sim = Simulation(seed, link=link)
        sim.add_node("a", Node)
        sim.add_node("b", Node)
        sim.run(until=0.0)
        yield sim
    else:
        async with open_udp_network(link=link, seed=seed) as net:
            await net.add_node("a", Node)
            await net.add_node("b", Node)
            yield net


async def run_script(kind: str, link: Link, script: list[tuple], seed: int = 0) -> list:
    """Run `script` on a fresh pair of nodes until every message has landed; the events."""
    async with two_nodes(kind, link, seed) as host:
        if kind == "simulator":
            for time, action, *args in script:
                host.call_at(time, ACTIONS[action], host, *args)
            host.run()
        else:
            opened = trio.current_time() - host.now
            for time, action, *args in script:
                await trio.sleep_until(opened + time)
                done = ACTIONS[action](host, *args)
                if inspect.isawaitable(done):
                    await done
            await trio.sleep(10.0)  # virtual time: whatever is in flight lands
    return list(host.trace)


def in_time_order(events: list) -> list:
    """Events sorted by time; two copies that land at the same instant by message id
    (over UDP, Trio wakes their tasks in either order)."""
    return sorted(events, key=lambda event: (event.time, getattr(event, "msg_id", 0)))


STARTS = [Start(0.0, "a"), Start(0.0, "b")]

CASES = {
    "send and deliver": (
        QUARTER,
        [(1.0, "send", "a", "b", "hi"), (2.0, "send", "b", "a", "ho")],
        [
            Send(1.0, "a", "b", 1, "hi"),
            Deliver(1.25, "a", "b", 1),
            Send(2.0, "b", "a", 2, "ho"),
            Deliver(2.25, "b", "a", 2),
        ],
    ),
    "loss": (
        Link(loss=1.0, delay=Fixed(0.25)),
        [(1.0, "send", "b", "a", "lost")],
        [Send(1.0, "b", "a", 1, "lost"), Drop(1.0, "b", "a", 1, "loss")],
    ),
    "duplicate": (
        Link(duplicate=1.0, delay=Fixed(0.25)),
        [(1.0, "send", "a", "b", "twice")],
        [
            Send(1.0, "a", "b", 1, "twice"),
            Duplicate(1.0, "a", "b", 2, 1),
            Deliver(1.25, "a", "b", 1),
            Deliver(1.25, "a", "b", 2),
        ],
    ),
    "partition when sent, one way, then healed": (
        QUARTER,
        [
            (0.5, "partition", ["a"], ["b"], True),
            (1.0, "send", "a", "b", "cut"),
            (1.5, "send", "b", "a", "through"),
            (2.0, "heal", ["a"], ["b"]),
            (2.5, "send", "a", "b", "healed"),
        ],
        [
            Partition(0.5, ("a",), ("b",), True),
            Send(1.0, "a", "b", 1, "cut"),
            Drop(1.0, "a", "b", 1, "partition"),
            Send(1.5, "b", "a", 2, "through"),
            Deliver(1.75, "b", "a", 2),
            Heal(2.0, ("a",), ("b",), False),
            Send(2.5, "a", "b", 3, "healed"),
            Deliver(2.75, "a", "b", 3),
        ],
    ),
    "partition when it arrives": (
        QUARTER,
        [(1.0, "send", "a", "b", "late"), (1.125, "partition", ["b"], ["a"]), (2.0, "heal")],
        [
            Send(1.0, "a", "b", 1, "late"),
            Partition(1.125, ("b",), ("a",), False),
            Drop(1.25, "a", "b", 1, "partition"),
            Heal(2.0, (), (), False),
        ],
    ),
    "down: in flight, sent while down, after the restart": (
        QUARTER,
        [
            (1.0, "send", "a", "b", "in flight"),
            (1.125, "crash", "b"),
            (1.5, "send", "a", "b", "nobody home"),
            (2.0, "restart", "b"),
            (2.5, "send", "a", "b", "back"),
        ],
        [
            Send(1.0, "a", "b", 1, "in flight"),
            Crash(1.125, "b"),
            Drop(1.25, "a", "b", 1, "down"),
            Send(1.5, "a", "b", 2, "nobody home"),
            Drop(1.75, "a", "b", 2, "down"),
            Start(2.0, "b"),
            Send(2.5, "a", "b", 3, "back"),
            Deliver(2.75, "a", "b", 3),
        ],
    ),
    "timers and notes": (
        QUARTER,
        [(1.0, "timer", "a", 0.5, ("tick", 1)), (1.25, "note", "b", "hello")],
        [Note(1.25, "b", "hello"), TimerFired(1.5, "a", ("tick", 1))],
    ),
}


@pytest.mark.parametrize("kind", HOSTS)
@pytest.mark.parametrize("case", CASES)
async def test_every_kind_of_event_records_its_fields(kind, case, autojump_clock):
    link, script, expected = CASES[case]
    events = await run_script(kind, link, script)
    assert in_time_order(events) == STARTS + expected


async def test_a_seeded_lossy_link_gives_both_hosts_the_same_trace(autojump_clock):
    link = Link(loss=0.3, duplicate=0.3, delay=Uniform(0.125, 0.5))
    script = [(1.0 + n / 4, "send", "ab"[n % 2], "ba"[n % 2], ("m", n)) for n in range(40)]
    on_simulator = await run_script("simulator", link, script, seed=7)
    over_udp = await run_script("udp", link, script, seed=7)
    kinds = {event.kind for event in on_simulator}
    assert {"deliver", "drop", "duplicate"} <= kinds  # the seed exercises every fate
    assert in_time_order(over_udp) == in_time_order(on_simulator)


@pytest.mark.parametrize("kind", HOSTS)
async def test_both_hosts_raise_the_same_errors(kind, autojump_clock):
    async with two_nodes(kind) as host:
        stale = host.node("b").ctx
        host.crash("b")
        assert host.is_up("a") and not host.is_up("b")
        with pytest.raises(NodeDown, match="'b' is down"):
            host.node("b")
        with pytest.raises(NodeDown, match="cannot send"):
            stale.send("a", "from beyond")
        with pytest.raises(NodeDown, match="cannot set timers"):
            stale.set_timer(1.0, "t")
        for unknown in (
            lambda: host.node("nobody"),
            lambda: host.storage("nobody"),
            lambda: host.node("a").ctx.send("nobody", "hi"),
            lambda: host.partition(["a"], ["nobody"]),
        ):
            with pytest.raises(UnknownNode, match="nobody"):
                unknown()
        with pytest.raises(ValueError, match="both sides"):
            host.partition(["a"], ["a", "b"])
        with pytest.raises(TypeError, match="list of node ids"):
            host.partition("a", "b")
        with pytest.raises(ValueError, match=">= 0"):
            host.node("a").ctx.set_timer(-1.0, "t")


# --- What only the UDP runtime records ---------------------------------------------------


async def test_a_copy_still_delayed_when_its_sender_crashes_dies_with_it(autojump_clock):
    script = [(1.0, "send", "a", "b", "doomed"), (1.125, "crash", "a")]
    assert await run_script("udp", QUARTER, script) == [
        *STARTS,
        Send(1.0, "a", "b", 1, "doomed"),
        Crash(1.125, "a"),
        Drop(1.25, "a", "b", 1, "sender down"),
    ]


async def test_a_datagram_the_kernel_refuses_is_dropped_with_the_errors_name(autojump_clock):
    async with two_nodes("udp", link=None) as net:
        net.add_peer("nowhere", ("127.0.0.1", 0))  # port 0: sendto fails with EINVAL
        await trio.sleep(1.0)
        net.node("b").ctx.send("nowhere", "hello?")
    assert list(net.trace)[len(STARTS) :] == [
        Send(1.0, "b", "nowhere", 1, "hello?"),
        Drop(1.0, "b", "nowhere", 1, "OSError"),
    ]


async def test_a_malformed_datagram_is_noted_by_the_node_that_got_it(autojump_clock):
    async with two_nodes("udp") as net:
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as stranger:
            await stranger.bind(("127.0.0.1", 0))
            await trio.sleep(0.5)
            await stranger.sendto(b"\xff not cbor", net.addresses["b"])
            with trio.fail_after(5):
                await net.wait_until(lambda: len(net.trace) > len(STARTS))
            host, port = stranger.getsockname()
    assert list(net.trace)[len(STARTS) :] == [
        Note(0.5, "b", f"dropped a malformed datagram from {host}:{port}")
    ]
