"""Distance-vector routing: the update rule, one router step by step, the chapter's
scenarios exactly, and routes equal to Dijkstra's on many random graphs."""

from __future__ import annotations

import functools
import heapq
import random

import pytest
import trio

from reference.net.links import Link, Uniform
from reference.net.trace import Drop, Send
from reference.net.udp import open_udp_network
from reference.routing.distance_vector import (
    INFINITY,
    DistanceVectorRouter,
    forget_neighbour,
    parse_data,
    parse_vector,
    reachable,
    update_routes,
    vector_for,
)
from reference.routing.distance_vector_runs import (
    EXAMPLE_LINKS,
    converge_and_forward,
    count_to_infinity,
    neighbours,
    reroute_after_link_failure,
    run_routers,
)
from tests.delivery.test_reliable import FakeContext

# --- The update rule ----------------------------------------------------------------------

ME = {"a": (0, "a")}


def test_a_new_destination_is_adopted_through_the_neighbour():
    table, changed = update_routes(ME, "b", {"b": 0, "c": 2}, 3)
    assert table == {"a": (0, "a"), "b": (3, "b"), "c": (5, "b")}
    assert changed


def test_a_cheaper_route_replaces_a_dearer_one_and_a_dearer_one_does_not():
    table = {**ME, "c": (4, "x")}
    assert update_routes(table, "b", {"c": 2}, 1)[0]["c"] == (3, "b")
    assert update_routes(table, "b", {"c": 3}, 1) == (table, False)  # a tie keeps the route
    assert update_routes(table, "b", {"c": 5}, 1) == (table, False)


def test_bad_news_from_the_next_hop_is_believed():
    table = {**ME, "c": (3, "b")}
    assert update_routes(table, "b", {"c": 7}, 1)[0]["c"] == (8, "b")
    assert update_routes(table, "b", {"b": 0}, 1)[0]["c"] == (INFINITY, "b")  # no longer listed


def test_costs_stop_at_infinity_and_unreachable_news_adds_nothing():
    table, _ = update_routes({**ME, "c": (3, "b")}, "b", {"c": 15}, 4)
    assert table["c"] == (INFINITY, "b")
    assert update_routes(ME, "b", {"z": INFINITY}, 1) == (ME, False)
    assert update_routes(ME, "b", {"a": 0}, 1) == (ME, False)  # my own entry never moves


def test_the_update_rule_does_not_modify_its_table():
    table = {**ME, "c": (3, "b")}
    update_routes(table, "b", {"c": 9}, 1)
    assert table == {**ME, "c": (3, "b")}


def test_poisoned_reverse_advertises_routes_through_the_neighbour_as_infinity():
    table = {"a": (0, "a"), "b": (1, "b"), "c": (2, "b"), "d": (1, "d")}
    assert vector_for(table, "b") == {"a": 0, "b": INFINITY, "c": INFINITY, "d": 1}
    assert vector_for(table, "d") == {"a": 0, "b": 1, "c": 2, "d": INFINITY}
    assert vector_for(table, "b", poisoned_reverse=False) == {"a": 0, "b": 1, "c": 2, "d": 1}


def test_forgetting_a_neighbour_sets_only_its_routes_to_infinity():
    table = {"a": (0, "a"), "b": (1, "b"), "c": (2, "b"), "d": (1, "d")}
    forgotten = forget_neighbour(table, "b")
    assert forgotten == {"a": (0, "a"), "b": (16, "b"), "c": (16, "b"), "d": (1, "d")}
    assert reachable(forgotten) == {"a": (0, "a"), "d": (1, "d")}


@pytest.mark.parametrize(
    "msg, expected",
    [
        (("vector", {"a": 0, "b": 16}), {"a": 0, "b": 16}),
        (["vector", {}], {}),
        (("vector", {"a": -1}), None),
        (("vector", {"a": 1.0}), None),
        (("vector", {"a": True}), None),
        (("vector", {1: 1}), None),
        (("vector", [["a", 1]]), None),
        (("vector", {str(n): 1 for n in range(5)}), None),  # over the limit of 4
        (("vector",), None),
        ("vector", None),
    ],
)
def test_parse_vector(msg, expected):
    assert parse_vector(msg, max_destinations=4) == expected


@pytest.mark.parametrize(
    "msg, expected",
    [
        (("data", "a", "f", 3, "x"), ("a", "f", 3, "x")),
        (("data", "a", "f", -1, "x"), None),
        (("data", "a", 2, 3, "x"), None),
        (("data", "a", "f", 3), None),
        (None, None),
    ],
)
def test_parse_data(msg, expected):
    assert parse_data(msg) == expected


# --- One router, step by step ---------------------------------------------------------------


class Clocked(FakeContext):
    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.time = 0.0

    def now(self):
        return self.time


def router(links, **options):
    node = DistanceVectorRouter(links, **options)
    node.ctx = Clocked("a")
    node.on_start()
    return node


def test_a_router_advertises_at_start_and_every_period():
    node = router({"b": 1, "c": 2})
    assert node.ctx.sent == [("b", ("vector", {"a": 0})), ("c", ("vector", {"a": 0}))]
    assert node.ctx.timers == {"advertise": 1.0}


def test_a_change_triggers_an_update_and_no_change_does_not():
    node = router({"b": 1, "c": 2})
    node.ctx.sent.clear()
    node.on_message("b", ("vector", {"b": 0, "x": 1}))
    assert node.ctx.sent == [
        ("b", ("vector", {"a": 0, "b": INFINITY, "x": INFINITY})),
        ("c", ("vector", {"a": 0, "b": 1, "x": 2})),
    ]
    node.on_message("b", ("vector", {"b": 0, "x": 1}))
    assert len(node.ctx.sent) == 2
    quiet = router({"b": 1}, triggered_updates=False)
    quiet.on_message("b", ("vector", {"b": 0}))
    assert len(quiet.ctx.sent) == 1 and quiet.table["b"] == (1, "b")


def test_a_silent_neighbour_loses_its_routes_after_dead_after_periods():
    node = router({"b": 1, "c": 1}, dead_after=3)
    node.on_message("b", ("vector", {"b": 0, "x": 1}))
    node.on_message("c", ("vector", {"c": 0}))
    for time in (1.0, 2.0, 3.0):
        node.ctx.time = time
        node.on_message("c", ("vector", {"c": 0}))
        node.on_timer("advertise")
    assert node.table["x"] == (2, "b")  # 3 periods of silence: not yet
    node.ctx.time = 3.5
    node.on_timer("advertise")
    assert node.table["x"] == (INFINITY, "b") and node.table["c"] == (1, "c")
    assert node.ctx.notes == ["neighbour b is silent: its routes are gone"]
    node.on_message("b", ("vector", {"b": 0, "x": 1}))
    assert node.table["x"] == (2, "b") and node.ctx.notes[-1] == "neighbour b is back"


def test_data_is_forwarded_by_the_table_and_delivered_at_its_destination():
    node = router({"b": 1}, ttl=5)
    node.on_message("b", ("vector", {"b": 0, "x": 1}))
    node.ctx.sent.clear()
    node.send_data("x", "hi")
    node.on_message("b", ("data", "z", "x", 2, "through"))
    node.on_message("b", ("data", "z", "a", 0, "mine"))
    assert node.ctx.sent == [
        ("b", ("data", "a", "x", 4, "hi")),
        ("b", ("data", "z", "x", 1, "through")),
    ]
    assert node.ctx.storage["delivered"] == [["z", "mine"]]


def test_data_without_a_route_or_ttl_is_dropped_with_a_note():
    node = router({"b": 1})
    node.on_message("b", ("vector", {"b": 0, "x": INFINITY}))
    node.ctx.sent.clear()
    node.send_data("x", "lost")
    node.send_data("nowhere", "lost too")
    node.on_message("b", ("data", "z", "b", 0, "looped"))
    assert node.ctx.sent == []
    assert node.ctx.notes == [
        "no route to x: dropped 'lost'",
        "no route to nowhere: dropped 'lost too'",
        "TTL ran out on the way to b: dropped 'looped'",
    ]


def test_junk_and_strangers_are_ignored_with_a_note():
    node = router({"b": 1})
    before = dict(node.table)
    node.on_message("b", ("vector", {"x": -3}))
    node.on_message("b", "hello")
    node.on_message("z", ("vector", {"z": 0}))
    assert node.table == before
    assert node.ctx.notes == [
        "ignored a malformed message from b",
        "ignored a malformed message from b",
        "ignored a message from z, not a neighbour",
    ]


def test_the_table_never_grows_past_max_destinations():
    node = router({"b": 1}, max_destinations=4)
    node.on_message("b", ("vector", {"b": 0, "x": 1, "y": 1}))
    node.on_message("b", ("vector", {"b": 0, "z": 1, "w": 1}))
    assert set(node.table) == {"a", "b", "x", "y"}
    assert node.ctx.notes == ["ignored a vector from b: too many destinations"]


@pytest.mark.parametrize(
    "links, options",
    [({"b": 0}, {}), ({"b": 16}, {}), ({"b": 1.5}, {}), ({"b": 1}, {"period": 0})],
)
def test_nonsense_router_settings_are_refused(links, options):
    with pytest.raises(ValueError):
        DistanceVectorRouter(links, **options)
    with pytest.raises(TypeError):
        DistanceVectorRouter({1: 1})


def test_a_link_given_twice_is_refused():
    with pytest.raises(ValueError, match="b-a is a loop or given twice"):
        neighbours([("a", "b", 1), ("b", "a", 2)])


# --- The chapter's scenarios, exactly ---------------------------------------------------------


def dijkstra(graph: dict[str, dict[str, int]], source: str) -> dict[str, int]:
    costs, queue = {}, [(0, source)]
    while queue:
        cost, node = heapq.heappop(queue)
        if node in costs:
            continue
        costs[node] = cost
        for neighbour, link_cost in graph[node].items():
            if neighbour not in costs:
                heapq.heappush(queue, (cost + link_cost, neighbour))
    return costs


def shortest_route_problems(graph, tables) -> list[str]:
    """Where the tables differ from shortest paths: a cost, or a next hop not on one."""
    problems = []
    for node in graph:
        best = dijkstra(graph, node)
        table = reachable(tables[node])
        if {dest: cost for dest, (cost, _) in table.items()} != best:
            problems.append(f"{node}: {table} but shortest costs are {best}")
        for dest, (cost, hop) in table.items():
            if dest != node and graph[node].get(hop, INFINITY) + dijkstra(graph, hop)[dest] != cost:
                problems.append(f"{node} reaches {dest} through {hop}, not on a shortest path")
    return problems


def test_six_routers_converge_in_three_rounds_and_forward_over_three_hops():
    run = converge_and_forward()
    assert run.converged_round() == 2
    assert run.paths == {"hello": ["a", "b", "c", "f"]}
    assert run.vectors_sent == [14] * 8  # one vector per link direction per round
    assert shortest_route_problems(neighbours(EXAMPLE_LINKS), run.tables[-1]) == []
    assert run.tables[0]["a"] == {"a": (0, "a"), "b": (1, "b"), "d": (4, "d")}


def test_triggered_updates_converge_within_the_first_round_for_more_vectors():
    run = converge_and_forward(triggered_updates=True)
    assert run.converged_round() == 0
    assert run.vectors_sent[0] > 14
    assert run.tables[-1] == converge_and_forward().tables[-1]


def test_a_failed_link_loses_one_message_then_the_network_reroutes():
    run = reroute_after_link_failure()
    assert run.paths == {
        "before": ["a", "b", "c", "f"],
        "during": ["a", "b", "c"],
        "after": ["a", "b", "e", "f"],
    }
    data_ids = {e.msg_id for e in run.trace if isinstance(e, Send) and e.msg[0] == "data"}
    drops = [e for e in run.trace if isinstance(e, Drop)]
    assert [(e.src, e.dst, e.reason) for e in drops if e.msg_id in data_ids] == [
        ("b", "c", "partition")
    ]
    assert run.cost("a", "f") == [3] * 8 + [6] * 6
    assert run.converged_round(since=5) == 8
    remaining = neighbours([link for link in EXAMPLE_LINKS if link[:2] != ("b", "c")])
    assert shortest_route_problems(remaining, run.tables[-1]) == []


def test_without_poisoned_reverse_a_lost_node_counts_to_infinity():
    run = count_to_infinity(poisoned_reverse=False)
    b_to_c = run.cost("b", "c")
    assert b_to_c[:7] == [1] * 7
    assert b_to_c[7::2] == [3, 5, 7, 9, 11, 13, 15, 16, 16]  # two a round, every other round
    assert run.cost("a", "c")[8:20:2] == [4, 6, 8, 10, 12, 14]
    assert run.converged_round(since=7) == 20


def test_with_poisoned_reverse_the_first_word_about_a_lost_node_is_final():
    run = count_to_infinity(poisoned_reverse=True)
    assert run.cost("b", "c") == [1] * 7 + [INFINITY] * 17
    assert run.cost("a", "c")[7:] == [INFINITY] * 17
    assert run.converged_round(since=7) == 7


def only_good_news(table, neighbour, their_vector, link_cost):
    """A plausible wrong rule: adopt a route only when it is cheaper."""
    new = dict(table)
    for destination, advertised in their_vector.items():
        candidate = min(INFINITY, link_cost + advertised)
        if candidate < new.get(destination, (INFINITY, ""))[0]:
            new[destination] = (candidate, neighbour)
    return new, new != table


class GoodNewsRouter(DistanceVectorRouter):
    update_rule = staticmethod(only_good_news)


def test_a_router_applies_its_own_update_rule_and_a_wrong_one_shows():
    script = [(4.25, "partition", ["b"], ["c"]), (11.25, "send", "a", "f", "after")]
    right = run_routers(EXAMPLE_LINKS, 14, script=script)
    wrong = run_routers(EXAMPLE_LINKS, 14, script=script, router=GoodNewsRouter)
    assert right.cost("a", "f")[-1] == 6 and right.paths["after"] == ["a", "b", "e", "f"]
    assert wrong.cost("a", "f")[-1] == 3  # a never believes that b's route got worse


def test_the_same_seed_gives_the_same_trace():
    lossy = Link(loss=0.2, delay=Uniform(0.001, 0.3))
    runs = [run_routers(EXAMPLE_LINKS, 6, seed=seed, link=lossy) for seed in (5, 5, 6)]
    assert runs[0].trace.text() == runs[1].trace.text() != runs[2].trace.text()


# --- Properties over many seeds -----------------------------------------------------------------


def random_connected_graph(rng: random.Random) -> list[tuple[str, str, int]]:
    """4 to 8 nodes: a random spanning tree plus a few more links, costs 1 or 2."""
    nodes = [f"n{i}" for i in range(rng.randint(4, 8))]
    edges = {(nodes[rng.randrange(i)], nodes[i]) for i in range(1, len(nodes))}
    for _ in range(rng.randint(0, len(nodes))):
        a, b = sorted(rng.sample(nodes, 2))
        if (a, b) not in edges and (b, a) not in edges:
            edges.add((a, b))
    return [(a, b, rng.randint(1, 2)) for a, b in sorted(edges)]


JITTERY = Link(delay=Uniform(0.001, 0.3))


@pytest.mark.parametrize("link", [JITTERY, Link(loss=0.2, delay=Uniform(0.001, 0.3))])
def test_routes_are_shortest_paths_after_convergence_on_random_graphs(link):
    for seed in range(30):
        edges = random_connected_graph(random.Random(seed))
        run = run_routers(edges, 12, seed=seed, link=link, dead_after=8)
        problems = shortest_route_problems(neighbours(edges), run.tables[-1])
        assert problems == [], f"seed {seed}, links {edges}"


def test_routes_are_shortest_paths_again_after_a_random_link_fails():
    for seed in range(30):
        rng = random.Random(seed)
        edges = random_connected_graph(rng)
        a, b, _ = rng.choice(edges)
        script = [(4.5, "partition", [a], [b])]
        run = run_routers(edges, 30, seed=seed, link=JITTERY, script=script)
        remaining = neighbours([edge for edge in edges if edge[:2] != (a, b)])
        for node in {a, b} - set(remaining):
            remaining[node] = {}  # its only link failed
        problems = shortest_route_problems(remaining, run.tables[-1])
        assert problems == [], f"seed {seed}, links {edges}, {a}-{b} failed"


def test_routes_are_shortest_paths_again_after_a_router_restarts():
    for seed in range(20):
        rng = random.Random(seed)
        edges = random_connected_graph(rng)
        node = rng.choice(sorted(neighbours(edges)))
        script = [(4.5, "crash", node), (rng.uniform(5.0, 12.0), "restart", node)]
        run = run_routers(edges, 30, seed=seed, link=JITTERY, script=script)
        problems = shortest_route_problems(neighbours(edges), run.tables[-1])
        assert problems == [], f"seed {seed}, links {edges}, {node} restarted"


# --- The same routers over real UDP ------------------------------------------------------------


class RouterOnUdp(DistanceVectorRouter):
    """Over UDP the nodes come up one by one, and a router may only send to a node
    its host knows: this one starts routing once every node is up."""

    def on_start(self):
        self.ctx.set_timer(0.5, "begin")

    def on_timer(self, name):
        if name == "begin":
            super().on_start()
        else:
            super().on_timer(name)


async def test_the_same_routers_converge_and_forward_over_udp(autojump_clock):
    async with open_udp_network(seed=1) as net:
        for node, links in neighbours(EXAMPLE_LINKS).items():
            await net.add_node(node, functools.partial(RouterOnUdp, links))
        await trio.sleep(4.0)
        net.node("a").send_data("f", "hello")
        with trio.fail_after(5):
            await net.wait_until(lambda: net.storage("f").get("delivered"))
        tables = {node: net.node(node).table for node in neighbours(EXAMPLE_LINKS)}
    assert shortest_route_problems(neighbours(EXAMPLE_LINKS), tables) == []
    assert net.storage("f")["delivered"] == [["a", "hello"]]
    data_hops = [(e.src, e.dst) for e in net.trace if isinstance(e, Send) and e.msg[0] == "data"]
    assert data_hops == [("a", "b"), ("b", "c"), ("c", "f")]
