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
from reference.net.trace import BoundedTrace, Deliver, Drop, Note, TimerFired
from reference.net.udp import MAX_DATAGRAM, open_udp_network
from tests.net.big_number_node import BIG_NUMBER

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
        with pytest.raises(ValueError, match="already"):
            await net.add_node("a", Echo)


async def test_a_message_too_large_for_a_datagram_is_a_counted_drop(autojump_clock):
    async with open_udp_network() as net:
        await net.add_node("a", Echo)
        net.add_peer("far", ("127.0.0.1", 9))
        net.node("a").ctx.send("far", b"x" * 70_000)
        net.node("a").ctx.send("far", b"x" * 60_000)  # fits: it goes out
    assert [(e.kind, getattr(e, "reason", None)) for e in net.trace][1:] == [
        ("send", None),
        ("drop", "too large"),
        ("send", None),
    ]
    assert net.drops == {"too large": 1}


def _maximum_size_data(seq: int) -> bytes:
    """A data datagram of exactly MAX_DATAGRAM bytes (for seq < 24), padded by a long name."""
    short = len(cbor2.dumps(["", "b", 0, ["data", 0, b""]]))
    name = "x" * (MAX_DATAGRAM - short - 2)  # a text over 255 bytes has a 3-byte head, not 1
    return cbor2.dumps([name, "b", 0, ["data", seq, b""]])


async def test_maximum_size_datagrams_whose_acks_do_not_fit_leave_the_receiver_up(autojump_clock):
    # The ack repeats the sender's name, and the receiver's counters grow: once they take two
    # CBOR bytes (24 and up), the ack is a byte larger than the datagram it answers.
    async with open_udp_network() as net:
        address = await net.add_node("b", ReliableReceiver)
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as peer:
            for seq in range(24):  # one at a time: the kernel's buffer holds only a few
                datagram = _maximum_size_data(seq)
                assert len(datagram) == MAX_DATAGRAM
                await peer.sendto(datagram, address)
                with trio.fail_after(5):
                    await net.wait_until(lambda: len(net.storage("b").get("delivered", [])) > seq)  # noqa: B023
        await net.add_node("a", functools.partial(SlidingWindowSender, "b", ["after"]))
        with trio.fail_after(5):
            await net.wait_until(lambda: net.node("a").done)
    assert net.is_up("b") and net.storage("b")["delivered"] == [b""] * 24 + ["after"]
    assert net.drops == {"too large": 1}
    dropped = [e for e in net.trace if isinstance(e, Drop)]
    assert [(e.src, e.dst[:1], e.reason) for e in dropped] == [("b", "x", "too large")]


async def test_a_long_running_host_keeps_a_bounded_trace(autojump_clock):
    async with open_udp_network(trace_limit=100) as net:
        address = await net.add_node("b", Echo)
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as stranger:
            for _ in range(1000):
                await stranger.sendto(b"\xff not cbor", address)
            with trio.fail_after(5):
                await net.wait_until(lambda: net.drops["malformed"] == 1000)
    assert isinstance(net.trace, BoundedTrace)
    assert len(net.trace) == 100 and net.trace.discarded == 1 + 1000 - 100
    assert all(isinstance(event, Note) for event in net.trace)


async def test_invented_sender_names_cannot_make_a_receiver_buffer_more(autojump_clock):
    # One address speaks for one name: 20 names from one socket buffer as much as one.
    payload = b"p" * 1000
    async with open_udp_network(max_learned_peers=4) as net:
        address = await net.add_node("b", ReliableReceiver)
        sockets = [
            trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) for _ in range(6)
        ]
        for number, liar in enumerate(sockets):
            await liar.bind(("127.0.0.1", 0))
            for name in range(20):
                for seq in range(1, 11):  # seq 0 never comes: all of it is buffered
                    datagram = cbor2.dumps(
                        [f"liar{number}-{name}", "b", seq, ["data", seq, payload]]
                    )
                    await liar.sendto(datagram, address)
        with trio.fail_after(5):
            await net.wait_until(lambda: sum(net.drops.values()) == 6 * 20 * 10 - 4 * 10)
        for liar in sockets:
            liar.close()
    buffered = {key: len(state["buffer"]) for key, state in net.storage("b").items()}
    assert buffered == {f"receiver/liar{number}-0": 10 for number in range(4)}
    assert net.drops == {"second name for one address": 4 * 19 * 10, "too many peers": 2 * 20 * 10}


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


async def test_a_node_whose_storage_holds_a_huge_integer_still_dumps_it():
    command = [sys.executable, "-m", "reference.net.udp", "n"]
    node = await trio.run_process(
        [*command, "tests.net.big_number_node:BigNumberNode", "--idle", "0.1"],
        capture_stdout=True,
        capture_stderr=True,
        cwd=ROOT,
        check=False,
    )
    assert node.returncode == 0, node.stderr.decode()
    assert json.loads(node.stdout.decode().splitlines()[-1]) == {"big": hex(BIG_NUMBER)}


async def _read_line(stream: trio.abc.ReceiveStream) -> str:
    line = b""
    while not line.endswith(b"\n"):
        line += await stream.receive_some(1)
    return line.decode()
