"""Flooding and gossip: the messages, one node step by step, the partition scenario
exactly, convergence over many seeds under loss, partitions and crashes, and the
measured trends."""

from __future__ import annotations

import random
import statistics

import pytest
import trio

from reference.net.udp import open_udp_network
from reference.routing.gossip import FloodingNode, GossipNode, parse_ids, parse_rumors
from reference.routing.gossip_runs import (
    flooding_nodes,
    gossip_nodes,
    measure_flooding,
    measure_gossip,
    partition_heal,
    run_broadcast,
)
from tests.delivery.test_reliable import FakeContext, started

# --- Messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "msg, expected",
    [
        (("rumors", [["a/0", "x"], ["b/3", None]]), [("a/0", "x"), ("b/3", None)]),
        (["rumors", []], []),
        (("rumors", [["a/0"]]), None),
        (("rumors", [[7, "x"]]), None),
        (("rumors", [["a/0", 1]] * 4), None),  # over the limit of 3
        (("rumors", "a/0"), None),
        (("digest", ["a/0"]), None),
        ("rumors", None),
    ],
)
def test_parse_rumors(msg, expected):
    assert parse_rumors(msg, limit=3) == expected


@pytest.mark.parametrize(
    "msg, expected",
    [
        (("digest", ["a/0", "b/1"]), ["a/0", "b/1"]),
        (("digest", []), []),
        (("digest", ["a/0", 1]), None),
        (("digest", ["x"] * 4), None),
        (("want", ["a/0"]), None),
        (("digest", "a/0"), None),
    ],
)
def test_parse_digest(msg, expected):
    assert parse_ids(msg, "digest", limit=3) == expected


# --- One node, step by step -------------------------------------------------------------------


def gossip(**options):
    node = GossipNode(["p", "q", "r"], **options)
    return started(node, FakeContext("me"))


def test_flooding_forwards_a_new_rumor_once_to_every_neighbour_but_its_sender():
    node = started(FloodingNode(["a", "b", "c"]), FakeContext("me"))
    node.on_message("b", ("rumors", [["b/0", "hi"]]))
    node.on_message("c", ("rumors", [["b/0", "hi"]]))
    assert node.ctx.sent == [("a", ("rumors", [["b/0", "hi"]])), ("c", ("rumors", [["b/0", "hi"]]))]
    assert node.ctx.storage["rumors"] == {"b/0": "hi"}
    assert node.broadcast("mine") == "me/0"
    assert len(node.ctx.sent) == 5


def test_a_hot_rumor_is_pushed_to_fanout_peers_for_hot_rounds_then_stops():
    node = gossip(fanout=2, hot_rounds=2, anti_entropy_every=0)
    rumor = node.broadcast("news")
    assert node.ctx.sent == [] and node.ctx.timers["round"] < 1.0
    pushes = []
    for _ in range(4):
        node.ctx.sent.clear()
        node.on_timer("round")
        pushes.append(node.ctx.sent[:])
    assert [len(sent) for sent in pushes] == [2, 2, 0, 0]
    assert all(msg == ("rumors", [[rumor, "news"]]) for sent in pushes for _, msg in sent)
    assert all(len({dst for dst, _ in sent}) == 2 for sent in pushes[:2])  # two different peers
    assert node.ctx.timers["round"] == 1.0


def test_anti_entropy_sends_a_digest_to_one_peer_every_few_rounds():
    node = gossip(anti_entropy_every=3)
    node.on_message("p", ("rumors", [["p/0", "x"]]))
    digests = []
    for _ in range(6):
        node.on_timer("round")
        digests += [(dst, msg) for dst, msg in node.ctx.sent if msg[0] == "digest"]
        node.ctx.sent.clear()
    assert [msg for _, msg in digests] == [("digest", ["p/0"])] * 2


def test_a_digest_gets_what_it_lacks_and_asks_for_what_we_lack():
    node = gossip()
    node.on_message("p", ("rumors", [["p/0", "x"], ["p/1", "y"]]))
    node.on_message("q", ("digest", ["p/1", "q/0"]))
    assert node.ctx.sent == [("q", ("rumors", [["p/0", "x"]])), ("q", ("want", ["q/0"]))]
    node.ctx.sent.clear()
    node.on_message("q", ("want", ["p/1", "zzz"]))
    node.on_message("q", ("digest", ["p/0", "p/1"]))
    assert node.ctx.sent == [("q", ("rumors", [["p/1", "y"]]))]


def test_rumor_ids_are_never_reused_after_a_restart():
    ctx = FakeContext("me")
    first = started(GossipNode(["p"]), ctx).broadcast("one")
    second = started(GossipNode(["p"]), ctx).broadcast("two")
    assert (first, second) == ("me/0", "me/1")
    assert ctx.storage["rumors"] == {"me/0": "one", "me/1": "two"}


def test_junk_is_ignored_and_a_full_store_refuses_new_rumors():
    node = gossip(max_rumors=2)
    for junk in ["hi", ("rumors", [["x"]]), ("digest", [1]), ("want", "x"), None]:
        node.on_message("p", junk)
    assert node.ctx.notes == ["ignored a malformed message from p"] * 5
    node.on_message("p", ("rumors", [["a", 1], ["b", 2]]))
    node.on_message("p", ("rumors", [["c", 3]]))
    assert node.ctx.storage["rumors"] == {"a": 1, "b": 2}
    assert node.ctx.notes[-1] == "store full: refused rumor c"


@pytest.mark.parametrize(
    "options", [{"fanout": 0}, {"hot_rounds": 0}, {"anti_entropy_every": -1}, {"period": 0}]
)
def test_nonsense_gossip_settings_are_refused(options):
    with pytest.raises(ValueError):
        GossipNode(["p"], **options)


# --- Flooding ---------------------------------------------------------------------------------


def random_connected_graph(rng: random.Random) -> list[tuple[str, str]]:
    nodes = [f"v{i}" for i in range(rng.randint(3, 12))]
    edges = {(nodes[rng.randrange(i)], nodes[i]) for i in range(1, len(nodes))}
    for _ in range(rng.randint(0, 2 * len(nodes))):
        a, b = rng.sample(nodes, 2)
        if (a, b) not in edges and (b, a) not in edges:
            edges.add((a, b))
    return sorted(edges)


def test_flooding_sends_two_messages_per_link_less_one_per_node_but_the_origin():
    for seed in range(40):
        edges = random_connected_graph(random.Random(seed))
        (row,) = measure_flooding(edges, 0.0, [seed])
        nodes = len({node for edge in edges for node in edge})
        assert (row.messages, row.reached, row.rounds) == (2 * len(edges) - nodes + 1, nodes, 1), (
            f"seed {seed}, links {edges}"
        )


def test_flooding_never_repairs_what_a_partition_cut_off():
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a")]
    script = [
        (0.0, "partition", ["a", "b"], ["c", "d"]),
        (1.0, "broadcast", "a", "x"),
        (2.0, "heal"),
    ]
    run = run_broadcast(flooding_nodes(edges), 10, script=script)
    assert run.coverage == {"a/0": [0, 2, 2, 2, 2, 2, 2, 2, 2, 2]}
    assert run.converged_round() is None


# --- The partition scenario, exactly, and over many seeds -------------------------------------


def test_with_anti_entropy_both_sides_rumors_reach_everyone_after_the_heal():
    run = partition_heal(seed=0)
    assert run.coverage == {
        "n00/0": [0, 1, 2, 4, 6, 6, 6, 6, 6, 12, 12] + [12] * 9,
        "n06/0": [0, 2, 5, 6, 6, 6, 6, 6, 6, 10, 11, 12] + [12] * 8,
    }
    assert run.converged_round() == 11


def test_pure_rumor_mongering_leaves_both_sides_ignorant_of_each_other():
    run = partition_heal(seed=0, anti_entropy=False)
    assert run.converged_round() is None
    assert [counts[-1] for counts in run.coverage.values()] == [4, 6]
    assert run.kinds == {"rumors": 60}


def test_anti_entropy_converges_after_every_heal_even_with_loss():
    for seed in range(15):
        run = partition_heal(seed=seed, loss=0.2, rounds=30)
        assert run.converged_round(since=8) is not None, f"seed {seed}"


def test_pure_rumor_mongering_misses_some_nodes_under_loss_and_anti_entropy_does_not():
    pure = measure_gossip(16, 1, 0.3, range(20), hot_rounds=2, anti_entropy_every=0)
    assert any(row.reached < 16 for row in pure)
    repaired = measure_gossip(16, 1, 0.3, range(20), hot_rounds=2)
    assert [seed for seed, row in enumerate(repaired) if row.reached < 16] == []


def test_every_node_converges_through_crashes_and_restarts():
    factories = gossip_nodes(12)
    for seed in range(15):
        rng = random.Random(seed)
        down = rng.sample(sorted(factories), 3)
        script = [(1.0, "broadcast", down[0], "news"), (1.0, "broadcast", "n11", "more")]
        script += [(rng.uniform(1.0, 3.0), "crash", node) for node in down]
        script += [(rng.uniform(5.0, 8.0), "restart", node) for node in down]
        run = run_broadcast(factories, 30, script=script, seed=seed)
        assert run.converged_round() is not None, f"seed {seed}, crashed {down}"
        for counts in run.coverage.values():  # what a crashed node had, it kept
            assert counts == sorted(counts), f"seed {seed}, crashed {down}"


def test_the_same_seed_gives_the_same_trace():
    runs = [partition_heal(seed=seed, loss=0.1) for seed in (5, 5, 6)]
    assert runs[0].trace.text() == runs[1].trace.text() != runs[2].trace.text()


class DeafToDigests(GossipNode):
    """A plausible wrong gossip: it sends digests but never answers one."""

    def on_message(self, src, msg):
        if not (isinstance(msg, list | tuple) and msg and msg[0] == "digest"):
            super().on_message(src, msg)


def test_partition_heal_runs_any_gossip_class():
    assert partition_heal(seed=0, node_class=DeafToDigests).converged_round() is None
    assert partition_heal(seed=0, node_class=GossipNode).converged_round() == 11


# --- Measured trends --------------------------------------------------------------------------


def test_more_fanout_means_fewer_rounds_and_more_messages():
    rows = {fanout: measure_gossip(24, fanout, 0.1, range(8)) for fanout in (1, 2, 4)}
    rounds = [statistics.mean(row.rounds for row in rows[fanout]) for fanout in (1, 2, 4)]
    messages = [statistics.mean(row.messages for row in rows[fanout]) for fanout in (1, 2, 4)]
    assert rounds == sorted(rounds, reverse=True) and rounds[0] > rounds[-1]
    assert messages == sorted(messages) and messages[0] < messages[-1]
    assert all(row.reached == 24 for fanout_rows in rows.values() for row in fanout_rows)


# --- The same nodes over real UDP -------------------------------------------------------------


async def test_the_same_gossip_converges_over_udp(autojump_clock):
    async with open_udp_network(seed=3) as net:
        factories = gossip_nodes(8)
        for node, factory in factories.items():
            await net.add_node(node, factory)
        rumor = net.node("n03").broadcast("over udp")
        with trio.fail_after(30):
            await net.wait_until(lambda: all(rumor in net.storage(n)["rumors"] for n in factories))
    assert all(net.storage(node)["rumors"] == {rumor: "over udp"} for node in factories)
