"""The process host: a node's broker calls over a real client, its timers, its storage on disk.

A tiny node keeps the member contract (talks to "broker" only, with sub/pub/msg),
so the host is tested apart from the chat's logic; storage is saved after every
handler and loaded by the next host on the same file, as after a SIGKILL.
"""

from __future__ import annotations

from functools import partial

import pytest
import trio

from reference.capstone.process_host import ProtocolMisuse, open_process_host
from reference.capstone.state_file import StateFile
from reference.net.node import Node
from reference.routing.broker import Broker
from reference.routing.client import connect

DEADLINE = 10


class Echo(Node):
    """Answers every message on t.in with its payload plus "!" on t.out, and counts them."""

    def on_start(self):
        self.ctx.storage["starts"] = self.ctx.storage.get("starts", 0) + 1
        self.ctx.send("broker", ("sub", "t.in"))
        self.ctx.send("broker", ("sub", "t.in"))  # asked twice: subscribed once

    def on_message(self, src, msg):
        kind, subject, payload = msg
        assert (src, kind, subject) == ("broker", "msg", "t.in")
        self.ctx.storage.setdefault("seen", []).append(payload)
        self.ctx.send("broker", ("pub", "t.out", payload + b"!"))

    def say(self, text: str) -> str:
        self.ctx.storage["said"] = text
        self.ctx.send("broker", ("pub", "t.out", text.encode()))
        return text.upper()


class Ticker(Node):
    """Sets timers; `storage["fired"]` lists the ones that went off."""

    def on_start(self):
        self.ctx.set_timer(1.0, "kept")
        self.ctx.set_timer(2.0, "replaced")
        self.ctx.set_timer(3.0, "replaced")
        self.ctx.set_timer(1.5, "cancelled")
        self.ctx.cancel_timer("cancelled")

    def on_timer(self, name):
        self.ctx.storage.setdefault("fired", []).append([name, self.ctx.now()])


async def test_the_node_subscribes_publishes_and_hears_the_broker(tmp_path):
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            broker = Broker()
            port = await nursery.start(partial(broker.serve, 0))
            async with (
                connect([("127.0.0.1", port)]) as client,
                connect([("127.0.0.1", port)]) as peer,
            ):
                replies = await peer.subscribe("t.out")
                await peer.flush()
                node = Echo()
                async with open_process_host(node, client, tmp_path / "s.db") as host:
                    await host.wait_forwarded()
                    assert len(broker.index.match("t.in").plain) == 1  # one SUB for two asks
                    await peer.publish("t.in", b"hello")
                    assert (await replies.next_message()).payload == b"hello!"
                    assert host.call(node.say, "posted") == "POSTED"
                    assert (await replies.next_message()).payload == b"posted"
            nursery.cancel_scope.cancel()
    saved = StateFile(tmp_path / "s.db").load()
    assert saved == {"starts": 1, "seen": [b"hello"], "said": "posted"}


async def test_a_restarted_host_starts_the_node_from_the_saved_storage(tmp_path):
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            broker = Broker()
            port = await nursery.start(partial(broker.serve, 0))
            for run in (1, 2):
                async with (
                    connect([("127.0.0.1", port)]) as client,
                    open_process_host(Echo(), client, tmp_path / "s.db") as host,
                ):
                    assert host.storage["starts"] == run
            nursery.cancel_scope.cancel()


async def test_timers_fire_once_replaced_or_not_at_all_if_cancelled(tmp_path, autojump_clock):
    node = Ticker()
    async with open_process_host(node, None, tmp_path / "t.db", clock=trio.current_time) as host:
        start = trio.current_time()
        await host.wait_until(lambda: len(host.storage.get("fired", [])) == 2)
        await trio.sleep(10)  # virtual: anything left would have fired
    fired = [[name, round(at - start, 6)] for name, at in host.storage["fired"]]
    assert fired == [["kept", 1.0], ["replaced", 3.0]]
    assert StateFile(tmp_path / "t.db").load()["fired"] == host.storage["fired"]


@pytest.mark.parametrize(
    "dst, msg",
    [("alice", ("pub", "t.x", b"")), ("broker", ("pub", "t.x", "text")), ("broker", ("get",))],
)
async def test_a_node_that_breaks_the_broker_contract_is_told(tmp_path, dst, msg):
    async with open_process_host(Node(), None, tmp_path / "m.db") as host:
        with pytest.raises(ProtocolMisuse):
            host.send(dst, msg)


def test_the_state_file_is_written_only_when_storage_changed(tmp_path):
    state = StateFile(tmp_path / "f.db")
    assert state.load() == {}
    state.save({"a": [1, b"x"], "b": {"c": None}})
    state.save({"b": {"c": None}, "a": [1, b"x"]})  # the same map: canonical, not written
    state.save({"a": [2]})
    assert state.saves == 2
    state.close()
    assert StateFile(tmp_path / "f.db").load() == {"a": [2]}


class Diary(Node):
    """Writes to its storage only."""

    def write(self, text: str) -> None:
        self.ctx.storage["said"] = text


async def test_on_saved_is_called_once_the_storage_is_on_disk(tmp_path):
    on_disk = []

    def read_back():
        reader = StateFile(tmp_path / "o.db")
        on_disk.append(reader.load().get("said"))
        reader.close()

    node = Diary()
    async with open_process_host(node, None, tmp_path / "o.db", on_saved=read_back) as host:
        host.call(node.write, "first")
        host.call(node.write, "second")
    assert on_disk == [None, "first", "second"]  # after on_start, then after each call
