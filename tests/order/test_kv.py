"""The replicated KV store: exactly-once commands, a client that retries, linearizable
histories under faults, and a broken read path that the checker catches."""

from __future__ import annotations

import functools
import math
import random

import pytest

from reference.net.links import Link, Uniform
from reference.net.udp import open_udp_network
from reference.order.history import UNKNOWN
from reference.order.kv import (
    KVClient,
    KVNode,
    KVStore,
    LocalReadKVNode,
    client_history,
    parse_operation,
)
from reference.order.linearizability import check_operations
from reference.order.models import KeyValueModel
from reference.order.raft import LEADER
from reference.order.raft_scenarios import (
    add_client,
    kv_cluster,
    partitioned_old_leader,
    schedule_faults,
)
from tests.delivery.test_reliable import FakeContext, started

# --- The state machine --------------------------------------------------------------


@pytest.mark.parametrize(
    "op, expected",
    [
        (("get", "x"), ("get", "x")),
        (["put", "x", [1, 2]], ("put", "x", [1, 2])),
        (("cas", 7, None, 1), ("cas", 7, None, 1)),
        (("get", "x", "y"), None),
        (("put", "x"), None),
        (("del", "x"), None),
        (("get", ["x"]), None),
        (("get", True), None),
        ("get", None),
        ((), None),
    ],
)
def test_parse_operation(op, expected):
    assert parse_operation(op) == expected


def test_put_get_and_compare_and_set():
    store = KVStore()
    assert store.execute(("get", "x")) is None
    assert store.execute(("cas", "x", None, 1)) is True
    assert store.execute(("cas", "x", 0, 2)) is False
    assert store.execute(("put", "x", 3)) is None
    assert store.execute(("get", "x")) == 3


def test_a_command_applied_twice_runs_once_and_answers_the_same():
    store = KVStore()
    assert store.apply(("k", 1, ("cas", "x", None, "first"))) == ("k", 1, True)
    assert store.apply(("k", 1, ("cas", "x", None, "first"))) == ("k", 1, True)  # not False
    assert store.apply(("k", 2, ("put", "x", "second"))) == ("k", 2, None)
    assert store.apply(("k", 1, ("cas", "x", None, "first"))) is None  # older: nobody waits
    assert store.data == {"x": "second"} and store.answered("k", 2) == (True, None)
    assert store.apply(None) is None  # a leader's no-op


# --- Server and client, step by step -------------------------------------------------


def kv_server(name="a"):
    return started(KVNode(["a", "b", "c"]), FakeContext(name))


def test_a_follower_redirects_to_the_leader_it_knows():
    node = kv_server("b")
    node.on_message("k", ("kv_request", 1, ("get", "x")))
    node.on_message("a", ("append_entries", 1, 0, 0, [], 0))
    node.on_message("k", ("kv_request", 2, ("get", "x")))
    replies = [msg for dst, msg in node.ctx.sent if dst == "k"]
    assert replies == [("kv_redirect", 1, None), ("kv_redirect", 2, "a")]


def test_the_leader_answers_once_committed_and_a_retry_from_the_session():
    node = kv_server()
    node.on_timer("election")
    node.on_message("b", ("vote", 1, True))
    node.on_message("k", ("kv_request", 1, ("put", "x", 5)))
    node.on_message("k", ("kv_request", 1, ("put", "x", 5)))  # a retry before the commit
    assert node.log[1:] == [(1, ("k", 1, ("put", "x", 5)))] * 2
    node.on_message("b", ("append_reply", 1, True, 3))
    node.on_message("k", ("kv_request", 1, ("put", "x", 5)))  # a retry after it
    assert [msg for dst, msg in node.ctx.sent if dst == "k"] == [("kv_reply", 1, None)] * 3
    assert len(node.log) == 3 and node.store.data == {"x": 5}


def test_bad_requests_get_an_error_or_a_note():
    node = kv_server()
    node.on_timer("election")
    node.on_message("b", ("vote", 1, True))
    node.on_message("k", ("kv_request", 1, ("drop", "table")))
    node.on_message("k", ("kv_request", "one", ("get", "x")))
    node.on_message("k", "hello")
    assert node.ctx.sent[-1] == ("k", ("kv_error", 1, "not a get, put or cas: ('drop', 'table')"))
    assert node.ctx.notes[-2:] == [
        "ignored a request without a sequence number from k",
        "ignored a malformed message from k",
    ]


def test_the_client_retries_elsewhere_follows_hints_and_records_its_calls():
    client = started(KVClient(["a", "b", "c"], [("put", "x", 1), ("get", "x")]))
    ctx = client.ctx
    assert ctx.sent == [("a", ("kv_request", 1, ("put", "x", 1)))]
    client.on_timer(("retry", 1))
    assert ctx.sent[-1] == ("b", ("kv_request", 1, ("put", "x", 1)))
    client.on_message("b", ("kv_redirect", 1, "c"))
    assert ctx.sent[-1] == ("c", ("kv_request", 1, ("put", "x", 1)))
    client.on_message("c", ("kv_reply", 0, "stale"))  # not for the call in flight
    client.on_message("c", ("kv_reply", 1, None))
    assert ctx.sent[-1] == ("c", ("kv_request", 2, ("get", "x")))
    assert client.history == [(("put", "x", 1), 0.0, None, 0.0)]
    ops = client.operations()
    assert ops[1].input == ("get", "x") and ops[1].output is UNKNOWN and ops[1].ret == math.inf


def test_a_client_that_gives_up_records_a_call_that_never_returned():
    client = started(KVClient(["a"], [("put", "x", 1), ("get", "x")], give_up_after=2.0))
    assert client.ctx.timers[("give_up", 1)] == 2.0
    client.on_timer(("give_up", 1))
    assert client.history == [(("put", "x", 1), 0.0, None, None)]
    assert client.ctx.sent[-1] == ("a", ("kv_request", 2, ("get", "x")))
    assert ("retry", 1) not in client.ctx.timers


def test_a_client_needs_a_server():
    with pytest.raises(ValueError):
        KVClient([])


# --- Histories under faults, judged by the checker -----------------------------------

HOSTILE = Link(loss=0.1, duplicate=0.1, delay=Uniform(0.002, 0.03))
CLIENTS = ["k1", "k2", "k3"]


def random_operations(rng: random.Random, count: int) -> list[tuple]:
    def one():
        key, value = rng.choice("xy"), rng.randint(0, 3)
        kind = rng.choice(["get", "get", "put", "cas"])
        if kind == "get":
            return ("get", key)
        return ("put", key, value) if kind == "put" else ("cas", key, rng.randint(0, 3), value)

    return [one() for _ in range(count)]


def faulty_history(seed: int, node=KVNode, until: float = 8.0):
    rng = random.Random(seed)
    sim, servers = kv_cluster(seed, link=HOSTILE, node=node)
    for name in CLIENTS:
        give_up = 1.5 if name == "k3" else None
        add_client(sim, name, servers, operations=random_operations(rng, 25), give_up_after=give_up)
    schedule_faults(sim, servers, CLIENTS, rng, start=0.2, end=5.0)
    sim.run(until=until)
    return sim, client_history(sim, CLIENTS)


def test_histories_under_faults_are_linearizable():
    pending = returned = duplicated = 0
    for seed in range(40):
        sim, history = faulty_history(seed)
        verdict = check_operations(KeyValueModel(), history)
        assert verdict.linearizable, f"seed {seed}: {verdict.unexplained}"
        pending += sum(op.pending for op in history)
        returned += sum(not op.pending for op in history)
        log = max((sim.node(s).log for s in ("s1", "s2", "s3") if sim.is_up(s)), key=len)
        commands = [command[:2] for _, command in log if command is not None]
        duplicated += len(commands) - len(set(commands))
    assert returned > 40 * 50 and pending > 0  # most calls complete; some never return
    assert duplicated > 0  # retried commands did reach the log twice, and applied once


def test_a_leader_that_reads_locally_serves_a_stale_read_and_the_checker_sees_it():
    caught = []
    for seed in range(5):
        good = partitioned_old_leader(seed)
        assert check_operations(KeyValueModel(), client_history(good, ["k1", "k2"])).linearizable
        bad = partitioned_old_leader(seed, node=LocalReadKVNode)
        verdict = check_operations(KeyValueModel(), client_history(bad, ["k1", "k2"]))
        if not verdict.linearizable:
            caught.append(seed)
            assert [op.input for op in verdict.unexplained] == [("get", "x")]
    assert caught, "no seed showed the stale read"


# --- The same nodes over real UDP ------------------------------------------------------


async def test_the_store_runs_unchanged_over_udp(autojump_clock):
    servers = ["s1", "s2", "s3"]
    operations = [("put", "x", 1), ("cas", "x", 1, 2), ("get", "x"), ("put", "y", "z")]
    async with open_udp_network(link=Link(loss=0.1, delay=Uniform(0.001, 0.01)), seed=3) as net:
        for name in servers:
            await net.add_node(name, functools.partial(KVNode, servers))
        await net.add_node("k", functools.partial(KVClient, servers, operations))
        await net.wait_until(lambda: net.node("k").done)
        history = net.node("k").operations()
        leaders = [name for name in servers if net.node(name).role == LEADER]
    assert [op.output for op in history] == [None, True, 2, None]
    assert check_operations(KeyValueModel(), history).linearizable and len(leaders) == 1
