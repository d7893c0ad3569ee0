"""Our linearizability checker pointed at a real three-member etcd cluster on loopback."""

from __future__ import annotations

import math
import signal
from functools import partial

import pytest
import trio

from reference.order import etcd_cluster
from reference.order.etcd_cluster import (
    EtcdClient,
    EtcdError,
    EtcdMember,
    EtcdUnreachable,
    free_ports,
    http_request,
    run_etcd_cluster,
)
from reference.order.etcd_history import (
    HistoryRecorder,
    history_across_a_crash,
    in_event_order,
    stale_read_on_an_isolated_member,
)
from reference.order.etcd_partition import PeerLinks, _sender
from reference.order.history import UNKNOWN, Operation, timed_out
from reference.order.linearizability import check_operations
from reference.order.models import KeyValueModel
from tests.system_packages import require_etcd


@pytest.fixture
async def cluster():
    require_etcd()
    async with run_etcd_cluster(3) as cluster:
        yield cluster


async def test_a_value_put_through_one_member_is_read_through_the_others(cluster):
    first, second, third = (EtcdClient(member) for member in cluster.members)
    assert await second.get("x") is None
    await first.put("x", "1")
    assert await second.get("x") == "1"
    assert await third.get("x", serializable=True) in ("1", None)  # local: maybe not yet
    assert await third.cas("x", "0", "2") is False
    assert await third.cas("x", "1", "2") is True
    assert await first.get("x") == "2"
    assert await first.cas("new", None, "a") is True  # None: only if the key has no value
    assert await second.cas("new", None, "b") is False
    assert await third.get("new") == "a"


async def test_a_killed_member_refuses_connections_and_rejoins_with_its_data(cluster):
    member = cluster.members[0]
    await EtcdClient(cluster.members[1]).put("kept", "yes")
    await EtcdClient(member).get("kept")  # the member has applied the put
    await cluster.kill(member)
    assert not member.running
    with pytest.raises(EtcdUnreachable):
        await EtcdClient(member).get("kept")
    await cluster.restart(member)
    assert await EtcdClient(member).get("kept", serializable=True) == "yes"
    other = cluster.members[2]
    await cluster.stop(other)  # cleanly, this time
    assert other.process.returncode == -signal.SIGTERM  # etcd re-raises it when done, not -9
    await cluster.restart(other)
    assert await EtcdClient(other).get("kept", serializable=True) == "yes"
    await cluster.kill(other)  # the cluster's exit copes with a member already dead


async def test_a_history_recorded_while_the_leader_is_killed_and_restarted_is_linearizable():
    require_etcd()
    history, result = await history_across_a_crash(clients=4, seed=1)
    assert result.linearizable, result.unexplained
    assert len(result.order) == len(history)
    kinds = {op.input[0] for op in history}
    assert kinds == {"get", "put", "cas"}
    assert len(history) > 100
    assert any(op.output is True for op in history if op.input[0] == "cas")
    assert any(op.output is UNKNOWN for op in history)  # the crash cut calls short
    last_call = max(op.call for op in history)
    assert {op.client for op in history if op.call > last_call - 0.5} == {"c0", "c1", "c2", "c3"}


async def serve_once(reply: bytes, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """A fake member on a free port that answers one request with `reply`."""

    async def answer(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(reply)
        await stream.aclose()

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(answer, listeners)


async def reply_of(reply: bytes) -> dict:
    """What our client makes of `reply` from a fake member (raised outside the nursery)."""
    async with trio.open_nursery() as nursery:
        port = await nursery.start(partial(serve_once, reply))
        member = EtcdMember("fake", port, 0, 0, None, None)
        try:
            outcome = await EtcdClient(member).call("/v3/kv/range", {})
        except EtcdError as error:
            outcome = error
        nursery.cancel_scope.cancel()
    if isinstance(outcome, EtcdError):
        raise outcome
    return outcome


async def test_an_error_reply_or_a_reply_that_is_not_http_is_an_etcd_error():
    assert await reply_of(b'HTTP/1.1 200 OK\r\n\r\n{"kvs": []}') == {"kvs": []}
    with pytest.raises(EtcdError, match="HTTP 503"):
        await reply_of(b"HTTP/1.1 503 Unavailable\r\n\r\n{}")
    with pytest.raises(EtcdError, match="not an HTTP reply"):
        await reply_of(b"SSH-2.0-OpenSSH\r\n")
    with pytest.raises(EtcdError, match="not JSON"):
        await reply_of(b"HTTP/1.1 200 OK\r\n\r\n{oops")


async def test_a_reply_too_large_is_refused_not_stored(monkeypatch):
    monkeypatch.setattr(etcd_cluster, "MAX_REPLY", 1000)
    with pytest.raises(EtcdError, match="over 1000 bytes"):
        await reply_of(b"HTTP/1.1 200 OK\r\n\r\n" + b" " * 5000)


async def test_a_port_nobody_listens_on_is_unreachable():
    (port,) = free_ports(1)
    with pytest.raises(EtcdUnreachable):
        await http_request(port, "GET", "/health")


async def test_a_serializable_read_on_a_cut_off_member_is_stale_and_the_checker_says_so():
    require_etcd()
    history, result = await stale_read_on_an_isolated_member()
    writes = [op for op in history if op.input[0] == "put"]
    assert [op.input for op in writes] == [("put", "x", "v1"), ("put", "x", "v2")]
    assert all(not op.pending for op in writes)  # both committed
    reads = [(op.client.split()[1], op.output) for op in history if op.input[0] == "get"]
    assert reads == [
        ("linearizable", "v1"),
        ("serializable", "v1"),  # stale: v2 was written before it was called
        ("linearizable", UNKNOWN),  # no quorum, no answer
        ("serializable", "v2"),  # healed: caught up
    ]
    assert not result.linearizable
    (stale,) = result.unexplained
    assert stale.output == "v1" and stale.call > writes[1].ret


async def test_a_call_with_no_answer_is_recorded_as_timed_out_and_a_refused_one_not_at_all():
    recorder = HistoryRecorder()

    async def hold(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        (listener,) = await nursery.start(partial(trio.serve_tcp, hold, 0, host="127.0.0.1"))
        silent = EtcdMember("silent", listener.socket.getsockname()[1], 0, 0, None, None)
        assert await recorder.call("c", EtcdClient(silent), ("put", "x", "1"), timeout=0.2) is None
        nursery.cancel_scope.cancel()
    (op,) = recorder.history
    assert op.pending and op.input == ("put", "x", "1") and op.call >= 0
    (port,) = free_ports(1)
    gone = EtcdMember("gone", port, 0, 0, None, None)
    with pytest.raises(EtcdUnreachable):
        await recorder.call("c", EtcdClient(gone), ("get", "x"))
    assert recorder.history == [op]


def test_event_order_keeps_which_call_came_after_which_return_and_the_verdict():
    history = [
        Operation("a", ("put", "x", "1"), 0.001, None, 0.0015),
        Operation("b", ("get", "x"), 0.0015, "1", 3.0),  # touches the put: concurrent
        Operation("c", ("get", "x"), 2.0, None, 2.5),  # after the put returned: stale
        timed_out("d", ("put", "x", "2"), 0.0012),
    ]
    spaced = in_event_order(history)
    assert [(op.call, op.ret) for op in spaced] == [(0, 2), (2, 5), (3, 4), (1, math.inf)]
    assert [op.output for op in spaced] == [op.output for op in history]
    model = KeyValueModel()
    assert not check_operations(model, spaced).linearizable
    assert not check_operations(model, history).linearizable
    assert check_operations(model, spaced[:2] + spaced[3:]).linearizable


def test_a_relay_names_the_sender_and_keeps_an_isolated_member_apart():
    head = b"GET /raft/stream/message/1 HTTP/1.1\r\nHost: h\r\nX-Server-From: ab12\r\n\r\n"
    assert _sender(head + b"body X-Server-From: zz") == "ab12"
    assert _sender(b"GET /version HTTP/1.1\r\nHost: h\r\n\r\n") is None
    links = PeerLinks()
    assert links.allowed("ab12", "n2")
    links.isolate("n1", "ab12")
    assert not links.allowed("ab12", "n2")  # from n1
    assert not links.allowed("cd34", "n1")  # to n1
    assert not links.allowed(None, "n1")
    assert links.allowed("cd34", "n3") and links.allowed(None, "n3")
    links.heal()
    assert links.allowed("ab12", "n2") and links.allowed("cd34", "n1")
