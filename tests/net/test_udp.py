"""The Trio runtime: the same nodes over real UDP on loopback."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import cbor2
import pytest
import trio

from reference.delivery.reliable import ReliableReceiver, SlidingWindowSender, StopAndWaitSender
from reference.net.links import Link, Uniform
from reference.net.node import Node, NodeDown, UnknownNode
from reference.net.trace import Deliver, Drop, TimerFired
from reference.net.udp import MessageTooLarge, open_udp_network

ROOT = Path(__file__).resolve().parents[2]
LOSSY = Link(loss=0.3, duplicate=0.2, delay=Uniform(0.001, 0.02))


class Echo(Node):
    """Answers every message with ("echo", msg); remembers timers that fired."""

    def __init__(self) -> None:
        self.received: list = []
        self.fired: list = []

    def on_message(self, src, msg):
        self.received.append((src, msg))
        if msg[0] != "echo":
            self.ctx.send(src, ("echo", msg))

    def on_timer(self, name):
        self.fired.append((round(self.ctx.now(), 6), name))


async def test_reliable_delivery_over_lossy_udp_with_a_receiver_crash(autojump_clock):
    messages = [f"m{n}" for n in range(40)]
    async with open_udp_network(link=LOSSY, seed=3) as net:
        await net.add_node("b", ReliableReceiver)
        sender = functools.partial(SlidingWindowSender, "b", messages, window=8)
        await net.add_node("a", sender)
        with trio.fail_after(120):
            await net.wait_until(lambda: len(net.storage("b").get("delivered", [])) >= 10)
            net.crash("b")
            await trio.sleep(0.5)
            await net.restart("b")
            await net.wait_until(lambda: net.node("a").done)
    assert net.storage("b")["delivered"] == messages
    counts = net.trace.counts()
    assert counts["drop"] > 0 and counts["duplicate"] > 0 and counts["crash"] == 1
    assert counts["start"] == 3


async def test_stop_and_wait_over_udp_and_later_submissions(autojump_clock):
    async with open_udp_network(link=LOSSY, seed=8) as net:
        await net.add_node("b", ReliableReceiver)
        await net.add_node("a", functools.partial(StopAndWaitSender, "b", [1, 2, 3]))
        with trio.fail_after(60):
            await net.wait_until(lambda: net.node("a").done)
            net.node("a").submit({"n": 4})
            await net.wait_until(lambda: net.node("a").done)
    assert net.storage("b")["delivered"] == [1, 2, 3, {"n": 4}]


async def test_messages_arrive_as_cbor_values_and_replies_reach_the_sender(autojump_clock):
    async with open_udp_network() as net:
        await net.add_node("a", Echo)
        await net.add_node("b", Echo)
        net.node("a").ctx.send("b", ("hello", b"\x00", {"k": [1.5, None]}))
        with trio.fail_after(5):
            await net.wait_until(lambda: net.node("a").received)
    assert net.node("b").received == [("a", ["hello", b"\x00", {"k": [1.5, None]}])]
    assert net.node("a").received == [("b", ["echo", ["hello", b"\x00", {"k": [1.5, None]}]])]
    assert [event.kind for event in net.trace if event.kind in ("send", "deliver")] == [
        "send",
        "deliver",
        "send",
        "deliver",
    ]


async def test_timers_fire_replace_and_cancel(autojump_clock):
    async with open_udp_network() as net:
        await net.add_node("t", Echo)
        ctx = net.node("t").ctx
        ctx.set_timer(1.0, "replaced")
        ctx.set_timer(2.0, "replaced")
        ctx.set_timer(1.5, ("cancelled", 1))
        ctx.cancel_timer(("cancelled", 1))
        ctx.set_timer(3.0, "kept")
        with pytest.raises(ValueError):
            ctx.set_timer(-1.0, "negative")
        with trio.fail_after(10):
            await net.wait_until(lambda: len(net.node("t").fired) == 2)
    assert net.node("t").fired == [(2.0, "replaced"), (3.0, "kept")]


async def test_a_timer_replaced_as_it_goes_off_fires_once_more_at_most(autojump_clock):
    # The old timer and the replacing task wake at the same instant, in an order Trio picks
    # at random; whichever runs first, the replacement must win and nothing may break.
    for _ in range(20):
        async with open_udp_network() as net:
            await net.add_node("t", Echo)
            ctx = net.node("t").ctx
            ctx.set_timer(1.0, "t")
            await trio.sleep(1.0)
            ctx.set_timer(5.0, "t")
            with trio.fail_after(10):
                await net.wait_until(lambda: (6.0, "t") in net.node("t").fired)
            assert net.node("t").fired in ([(6.0, "t")], [(1.0, "t"), (6.0, "t")])
            assert net.node("t").ctx.timers == {}


async def test_a_crash_while_datagrams_are_queued_loses_them(autojump_clock):
    # b is busy reading a burst when it crashes: a datagram read just before the crash must
    # die with the node, not reach the node object that is gone, nor the one that replaces it.
    read_as_it_crashed = 0
    for _ in range(10):
        async with open_udp_network() as net:
            await net.add_node("b", Echo)
            await net.add_node("a", Echo)
            for n in range(50):
                net.node("a").ctx.send("b", ("echo", n))
            with trio.fail_after(10):
                await net.wait_until(lambda: len(net.node("b").received) >= 5)
            crashed = net.node("b")
            heard = list(crashed.received)
            net.crash("b")
            await trio.sleep(1.0)
            await net.restart("b")
            await trio.sleep(1.0)
            assert crashed.received == heard
            assert net.node("b").received == []
        delivered = [e for e in net.trace if isinstance(e, Deliver) and e.dst == "b"]
        assert len(delivered) == len(heard)
        read_as_it_crashed += sum(isinstance(e, Drop) and e.reason == "down" for e in net.trace)
    assert read_as_it_crashed > 0  # the race this test is about did happen


async def test_a_crash_cancels_timers_and_a_restart_keeps_storage(autojump_clock):
    async with open_udp_network() as net:
        address = await net.add_node("t", Echo)
        net.storage("t")["kept"] = True
        crashed = net.node("t")
        crashed.ctx.set_timer(1.0, "lost")
        net.crash("t")
        with pytest.raises(NodeDown, match="down"):
            net.node("t")
        await trio.sleep(2.0)  # past the timer's time
        assert crashed.fired == []
        assert not any(isinstance(event, TimerFired) for event in net.trace)
        await net.restart("t")
        assert net.addresses["t"] == address
        assert net.node("t") is not crashed and net.storage("t") == {"kept": True}


async def test_garbage_datagrams_are_dropped_and_the_node_carries_on(autojump_clock):
    async with open_udp_network() as net:
        address = await net.add_node("b", Echo)
        await net.add_node("a", Echo)
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as attacker:
            for junk in (
                b"\xff\xfe not cbor",
                cbor2.dumps("just a string"),
                cbor2.dumps(["a", "someone else", 1, "msg"]),
                cbor2.dumps(["a", "b", "one", "msg"]),
                b"\x81" * 5000 + b"\x00",  # nested 5000 deep
            ):
                await attacker.sendto(junk, address)
            with trio.fail_after(5):
                await net.wait_until(
                    lambda: sum(e.kind == "note" for e in net.trace) == 5,
                )
        net.node("a").ctx.send("b", ("still", "working"))
        with trio.fail_after(5):
            await net.wait_until(lambda: net.node("b").received)
    assert net.node("b").received == [("a", ["still", "working"])]


async def test_bad_sends_raise_named_errors(autojump_clock):
    async with open_udp_network() as net:
        await net.add_node("a", Echo)
        with pytest.raises(UnknownNode):
            net.node("a").ctx.send("nobody", "hi")
        net.add_peer("far", ("127.0.0.1", 9))
        with pytest.raises(MessageTooLarge):
            net.node("a").ctx.send("far", b"x" * 70_000)
        with pytest.raises(ValueError, match="already"):
            await net.add_node("a", Echo)


async def test_one_node_per_process_from_the_command_line():
    command = [sys.executable, "-m", "reference.net.udp"]
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            receiver = await nursery.start(
                functools.partial(
                    trio.run_process,
                    [*command, "b", "reference.delivery.reliable:ReliableReceiver", "--idle", "1"],
                    stdout=subprocess.PIPE,
                    cwd=ROOT,
                )
            )
            first_line = await _read_line(receiver.stdout)
            host_port = first_line.removeprefix("b listening on ").strip()
            sender = await trio.run_process(
                [
                    *command,
                    "a",
                    "reference.delivery.reliable:SlidingWindowSender",
                    "--kwargs",
                    json.dumps({"peer": "b", "messages": list(range(20)), "window": 4}),
                    "--peer",
                    f"b={host_port}",
                    "--idle",
                    "0.5",
                ],
                capture_stdout=True,
                cwd=ROOT,
            )
            rest = b""
            async for chunk in receiver.stdout:
                rest += chunk
    sender_storage = json.loads(sender.stdout.decode().splitlines()[-1])
    receiver_storage = json.loads(rest.decode().splitlines()[-1])
    assert sender_storage == {"sender/b": {"next_seq": 20, "unacked": {}}}
    assert receiver_storage["delivered"] == list(range(20))


async def _read_line(stream: trio.abc.ReceiveStream) -> str:
    line = b""
    while not line.endswith(b"\n"):
        line += await stream.receive_some(1)
    return line.decode()
