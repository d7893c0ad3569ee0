"""Graders for exercises/05-routing.ipynb: subjects, queue groups, distance vectors, gossip.

The exercises stand on their own, so each grader carries its own small
oracle, written for plainness rather than speed, and checks the answer
against it on hand-picked cases and then on a seeded random battery:

- `matches` against a recursive matcher over tokens, on the cases a
  shortcut gets wrong (`>` matching nothing, `*` matching several tokens, a
  prefix, `fnmatch`-style stars inside a token) and on invalid filters and
  subjects, which must raise `ValueError`;
- `QueueGroup` against a model that recomputes each pick from what happened
  (joins, picks, acknowledgements), through scripted and random sequences;
- `update_routes` against the rule written out case by case, then as the
  heart of a whole network: synchronous rounds of distance-vector exchange on
  several graphs, before and after a link fails, compared with the shortest
  paths that Floyd-Warshall computes;
- `GossipNode` on the simulator (`reference.net.simnet`): a client asks
  nodes to broadcast messages before, during and after a partition, over
  links that lose messages, for several seeds, sizes and periods. Every node
  must end with every message, each once, within a time budget after the
  heal, and within a budget of messages a node may send per period, so that
  flooding everything to everyone fails with its count. The same seed must
  give the same run.
"""

import functools
import itertools
import random
from dataclasses import dataclass

from exercises.grading import Budget, grader
from exercises.verdicts import same_value
from reference.net.links import Fixed, Link, Uniform
from reference.net.node import Node
from reference.net.simnet import Simulation

# --- Task 1: matches --------------------------------------------------------------------------


def oracle_tokens(filter_tokens, subject_tokens):
    """Whether the filter's tokens match the subject's, by trying each rule in turn."""
    if not filter_tokens:
        return not subject_tokens
    first, rest = filter_tokens[0], filter_tokens[1:]
    if first == ">":
        return len(subject_tokens) >= 1
    if not subject_tokens:
        return False
    return first in ("*", subject_tokens[0]) and oracle_tokens(rest, subject_tokens[1:])


def oracle_valid(filter_, subject):
    filter_tokens, subject_tokens = filter_.split("."), subject.split(".")
    return (
        "" not in filter_tokens
        and "" not in subject_tokens
        and ">" not in filter_tokens[:-1]
        and not {"*", ">"} & set(subject_tokens)
    )


def oracle_matches(filter_, subject):
    """True or False, or None where `matches` must raise ValueError."""
    if not oracle_valid(filter_, subject):
        return None
    return oracle_tokens(filter_.split("."), subject.split("."))


MATCH_CASES = [  # (filter, subject, hint when the answer gets it wrong)
    ("foo.bar", "foo.bar", "A filter without wildcards matches exactly that subject."),
    ("foo.bar", "foo.baz", "Every literal token must be equal."),
    ("foo", "foo.bar", "Match token by token, and both must run out together: 'foo' is not a "
     "prefix match."),
    ("foo.bar", "foo", "A subject shorter than the filter does not match."),
    ("foo.bar", "foo.barbaz", "Compare whole tokens, not substrings."),
    ("bar", "foo.bar", "Compare whole tokens from the start, not a suffix."),
    ("Foo", "foo", "Subjects are case-sensitive."),
    ("foo.*", "foo.bar", "'*' matches exactly one token."),
    ("foo.*", "foo", "'*' needs a token to match: it does not match nothing."),
    ("foo.*", "foo.bar.baz", "'*' matches one token, never several: that is what '>' is for."),
    ("*.bar", "foo.bar", "'*' may stand anywhere, the first token too."),
    ("foo.*.baz", "foo.bar.baz", "'*' in the middle matches one token."),
    ("foo.*.baz", "foo.bar.qux.baz", "'*' in the middle matches one token, not two."),
    ("*", "foo", "'*' alone matches any subject of one token."),
    ("*", "foo.bar", "'*' alone matches subjects of one token only."),
    ("*.*", "a.b", "Each '*' takes one token."),
    ("*.*", "a", "Two '*' need two tokens."),
    ("foo.>", "foo.bar", "'>' matches the rest of the subject: one token..."),
    ("foo.>", "foo.bar.baz.qux", "...or several."),
    ("foo.>", "foo", "'>' matches one or more tokens, never zero: 'foo.>' does not match 'foo'."),
    (">", "foo", "'>' alone matches every subject."),
    (">", "a.b.c", "'>' alone matches every subject."),
    ("*.>", "a", "'*.>' needs at least two tokens."),
    ("*.>", "a.b", "'*' takes one token, '>' the rest."),
    ("foo.*.>", "foo.bar", "'>' needs at least one token of its own."),
    ("foo*", "foobar", "Wildcards are whole tokens: 'foo*' is the literal token 'foo*', not a "
     "pattern (this is not fnmatch)."),
    ("foo*", "foo*", "'foo*' is a literal token, and it matches itself."),
    ("f*o.bar", "foo.bar", "A '*' inside a token is a literal character."),
    ("foo.b>", "foo.bar", "'b>' is a literal token; only a whole token '>' is a wildcard."),
    ("a.b.c", "a.b.c.d", "The subject must not have tokens left over."),
]  # fmt: skip

INVALID_CASES = [  # (filter, subject, what is wrong with it)
    ("foo.>.bar", "foo.x.bar", "'>' may only be the last token of a filter"),
    (">.foo", "a.foo", "'>' may only be the last token of a filter"),
    ("foo..bar", "foo.x.bar", "the filter has an empty token"),
    ("foo.", "foo.bar", "the filter has an empty token (it ends with '.')"),
    (".foo", "x.foo", "the filter has an empty token (it starts with '.')"),
    ("", "foo", "the filter is empty"),
    ("foo.*", "foo..bar", "the subject has an empty token"),
    ("foo.>", "foo.", "the subject has an empty token (it ends with '.')"),
    (">", "", "the subject is empty"),
    ("foo.*", "foo.*", "a subject (what is published) holds no wildcards"),
    ("foo.>", "foo.>", "a subject (what is published) holds no wildcards"),
    (">", "a.>.b", "a subject (what is published) holds no wildcards"),
]


def random_filter_and_subject(rng):
    subject = [rng.choice(["a", "b", "ab"]) for _ in range(rng.randint(1, 4))]
    filter_ = [rng.choice(["a", "b", "ab", "*", "*"]) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.4:
        filter_[-1] = ">"
    return ".".join(filter_), ".".join(subject)


@grader("Task 1 · matches")
def check_matches(cases, matches):
    for filter_, subject, hint in MATCH_CASES:
        cases.equal(
            f"matches({filter_!r}, {subject!r})",
            lambda f=filter_, s=subject: matches(f, s),
            oracle_matches(filter_, subject),
            hint=hint,
        )
    for filter_, subject, problem in INVALID_CASES:
        cases.raises(
            f"matches({filter_!r}, {subject!r}): {problem}",
            lambda f=filter_, s=subject: matches(f, s),
            ValueError,
            hint=f"Raise ValueError when {problem}.",
        )
    rng = random.Random(5)
    for run in range(400):
        filter_, subject = random_filter_and_subject(rng)
        expected = oracle_matches(filter_, subject)
        case = f"random pair {run}: matches({filter_!r}, {subject!r})"
        if expected is None:
            cases.raises(case, lambda f=filter_, s=subject: matches(f, s), ValueError)
        else:
            cases.equal(
                case,
                lambda f=filter_, s=subject: matches(f, s),
                expected,
                hint="Walk the tokens side by side: a literal must be equal, '*' takes one "
                "token, a last '>' takes one or more.",
            )


# --- Task 2: QueueGroup -----------------------------------------------------------------------


class ModelGroup:
    """Each pick recomputed from the record of what happened: the oracle for QueueGroup."""

    def __init__(self):
        self.clock = itertools.count()
        self.joined = {}  # member -> when it joined (it is in the group)
        self.outstanding = {}
        self.last_pick = {}  # member -> when it was last picked since it joined

    def join(self, member):
        if member not in self.joined:
            self.joined[member] = next(self.clock)
            self.outstanding[member] = 0

    def leave(self, member):
        for record in (self.joined, self.outstanding, self.last_pick):
            record.pop(member, None)

    def pick(self):
        if not self.joined:
            return "LookupError"
        member = min(
            self.joined,
            key=lambda m: (self.outstanding[m], self.last_pick.get(m, -1), self.joined[m]),
        )
        self.outstanding[member] += 1
        self.last_pick[member] = next(self.clock)
        return member

    def done(self, member):
        if self.outstanding.get(member, 0) > 0:
            self.outstanding[member] -= 1


def play(group_class, steps):
    """Apply (operation, member) steps to a new group; return what each pick gave."""
    group, picks = group_class(), []
    for operation, member in steps:
        if operation != "pick":
            getattr(group, operation)(member)
            continue
        try:
            picks.append(group.pick())
        except LookupError:
            picks.append("LookupError")
    return picks


def expected_picks(steps):
    return play(ModelGroup, steps)


def steps_of(text):
    """'+a +b p -a d:b p' -> join a, join b, pick, leave a, done b, pick."""
    steps = []
    for word in text.split():
        if word == "p":
            steps.append(("pick", None))
        elif word.startswith("d:"):
            steps.append(("done", word[2:]))
        else:
            steps.append(({"+": "join", "-": "leave"}[word[0]], word[1:]))
    return steps


GROUP_CASES = [  # (steps, what they try, hint)
    ("+a +b +c p d:a p d:b p d:c p d:a p d:b",
     "three members, each message handled at once: round robin",
     "When every member has the same number outstanding, give the message to the one picked "
     "least recently: that is round robin."),
    ("+a +b +c p p p p p p",
     "three members, nothing ever handled",
     "Fewest outstanding first; among equals, the least recently picked."),
    ("+a +b +c p p p d:b d:c p p p",
     "a is slow: b and c handle theirs, a does not",
     "Pick the member with the fewest messages outstanding; a still has one."),
    ("+a +b p d:a p d:b p d:a +c p d:c p d:b p",
     "c joins late, then ties among all three",
     "A member that has never been picked comes before those that have; among the others, the "
     "least recently picked wins the tie (not the least often picked)."),
    ("+a +b +c p d:a p d:b -a p p p",
     "a leaves",
     "A member that left is never picked again."),
    ("+a +b p p -a +a p p",
     "a leaves with a message outstanding and joins again",
     "Joining again is joining anew: nothing outstanding, never picked, last in the join "
     "order."),
    ("+a +b p d:a p d:b p -a +a p p",
     "a, picked last, leaves and joins again",
     "Leaving forgets everything about a member: when it joins again it counts as never "
     "picked, so it wins a tie."),
    ("+a +b +c -a +a p p p",
     "a leaves and joins again before anyone is picked",
     "A member that joins again goes to the end of the join order."),
    ("+a +b +a p d:a p d:b +b p",
     "joining twice changes nothing",
     "A member already in the group keeps its place and its count when it joins again."),
    ("+a +b p d:a d:a d:a p p p",
     "a duplicate acknowledgement",
     "done never takes a count below 0: a repeated acknowledgement must not make a member look "
     "idler than idle."),
    ("+a +b p -a d:a p p",
     "a late acknowledgement from a member that left",
     "done for a member not in the group does nothing (it left with the message)."),
    ("-x +a d:x p",
     "leave and done for a member never seen",
     "leave and done for a member not in the group do nothing."),
    ("p +a p -a p",
     "an empty group",
     "pick on an empty group raises LookupError."),
]  # fmt: skip


def random_steps(rng, count):
    members = ["a", "b", "c", "d", "e"]
    weights = {"join": 2, "leave": 1, "pick": 5, "done": 4}
    operations = rng.choices(list(weights), weights=list(weights.values()), k=count)
    return [("pick", None) if op == "pick" else (op, rng.choice(members)) for op in operations]


@grader("Task 2 · QueueGroup")
def check_queue_group(cases, QueueGroup):
    for text, label, hint in GROUP_CASES:
        steps = steps_of(text)
        cases.equal(
            f"{label} ({text})",
            lambda s=steps: play(QueueGroup, s),
            expected_picks(steps),
            hint=hint,
        )
    cases.equal(
        "two groups used at the same time keep their own members and counts",
        lambda: two_groups(QueueGroup),
        two_groups(ModelGroup),
        hint="Create the group's state in __init__ (self.outstanding = {}), not on the class.",
    )
    rng = random.Random(2)
    for run in range(150):
        steps = random_steps(rng, rng.randint(5, 40))
        expected = expected_picks(steps)
        got = cases.call(f"random sequence {run}", lambda s=steps: play(QueueGroup, s))
        first = next(
            (n for n, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
            min(len(got), len(expected)),
        )
        cases.true(
            f"random sequence {run}",
            same_value(expected, got),
            f"pick number {first + 1} gave {got[first : first + 1]}, expected "
            f"{expected[first : first + 1]}, after {readable(steps, first)}",
            hint="Fewest outstanding first; ties to the least recently picked (never picked "
            "first, in join order); leave forgets everything about a member.",
        )


def two_groups(group_class):
    one, two = group_class(), group_class()
    one.join("a")
    one.join("b")
    two.join("x")
    return [one.pick(), two.pick(), one.pick(), two.pick(), one.pick()]


def readable(steps, pick_number):
    """The steps up to and including the pick with this index, as words."""
    shown, picks = [], -1
    for operation, member in steps:
        shown.append("pick()" if operation == "pick" else f"{operation}({member!r})")
        picks += operation == "pick"
        if picks == pick_number:
            break
    return ", ".join(shown)


# --- Task 3: update_routes --------------------------------------------------------------------


def oracle_update(me, table, neighbour, their_vector, link_cost, infinity=16):
    """The distance-vector rule, one case at a time."""
    routes = {dest: tuple(route) for dest, route in table.items()}
    for dest, (_, next_hop) in table.items():
        if next_hop == neighbour and dest not in their_vector:
            routes[dest] = (infinity, neighbour)  # the neighbour no longer reaches it
    for dest, their_cost in their_vector.items():
        if dest == me:
            continue
        offered = min(link_cost + their_cost, infinity)
        if dest not in routes:
            if offered < infinity:
                routes[dest] = (offered, neighbour)
        elif routes[dest][1] == neighbour or offered < routes[dest][0]:
            routes[dest] = (offered, neighbour)
    return routes, not same_value(table, routes)


ROUTE_CASES = [  # (what it tries, table, neighbour, their_vector, link_cost, infinity, hint)
    ("an empty table learns its neighbour and what the neighbour reaches",
     {}, "b", {"b": 0, "c": 2}, 1, None,
     "Each destination in their_vector costs link_cost + their cost, via the neighbour."),
    ("the link cost is added, whatever it is",
     {}, "b", {"b": 0, "c": 2, "d": 5}, 4, None,
     "Add link_cost (here 4) to each cost the neighbour advertises."),
    ("a cheaper route via the neighbour replaces one via another hop",
     {"b": (1, "b"), "d": (1, "d"), "c": (5, "d")}, "b", {"b": 0, "c": 1}, 1, None,
     "Take the neighbour's route when it is cheaper than yours."),
    ("a dearer route via another hop is ignored",
     {"b": (1, "b"), "d": (1, "d"), "c": (2, "d")}, "b", {"b": 0, "c": 5}, 1, None,
     "Keep your route when the neighbour's is dearer and you do not go through it."),
    ("a route as cheap as yours via another hop is ignored",
     {"b": (1, "b"), "d": (1, "d"), "c": (3, "d")}, "b", {"b": 0, "c": 2}, 1, None,
     "Switch only to a strictly cheaper route: switching on a tie changes the table for "
     "nothing, and routes flap."),
    ("worse news from your next hop is believed",
     {"b": (1, "b"), "c": (2, "b")}, "b", {"b": 0, "c": 6}, 1, None,
     "When your route goes through this neighbour, its new cost replaces yours even if it is "
     "worse: your old cost depended on a route the neighbour no longer has."),
    ("your next hop can no longer reach a destination",
     {"b": (1, "b"), "c": (2, "b")}, "b", {"b": 0, "c": 16}, 1, None,
     "Your next hop says infinity: your route becomes (infinity, neighbour), capped (16 + 1 is "
     "still 16) and kept in the table."),
    ("your next hop no longer lists a destination",
     {"b": (1, "b"), "c": (2, "b"), "d": (2, "e"), "e": (1, "e")}, "b", {"b": 0}, 1, None,
     "their_vector is everything the neighbour reaches: a destination you route through it "
     "that it no longer lists becomes (infinity, neighbour). Routes via other hops stay."),
    ("costs stop at infinity",
     {"b": (1, "b"), "c": (12, "b")}, "b", {"b": 0, "c": 14}, 3, None,
     "Cap every cost at infinity: min(link_cost + their cost, infinity), here 16, not 17."),
    ("an unreachable destination is not added",
     {"b": (1, "b")}, "b", {"b": 0, "x": 16, "y": 15}, 1, None,
     "Do not add a route you cannot use: a new destination at infinity (here 15 + 1) stays out."),
    ("a route at infinity is replaced by any finite one",
     {"b": (1, "b"), "c": (16, "d")}, "b", {"b": 0, "c": 3}, 1, None,
     "A route at infinity is no route: any finite offer is cheaper."),
    ("infinity against infinity changes nothing",
     {"b": (1, "b"), "c": (16, "d")}, "b", {"b": 0, "c": 16}, 1, None,
     "An offer at infinity is not cheaper than a route at infinity."),
    ("no route to yourself",
     {"b": (1, "b")}, "b", {"a": 1, "b": 0, "c": 1}, 1, None,
     "Skip your own id (me) in their_vector: you need no route to yourself."),
    ("the same news again changes nothing",
     {"b": (1, "b"), "c": (2, "b")}, "b", {"b": 0, "c": 1, "a": 1}, 1, None,
     "changed is False when the new table equals the old one."),
    ("a link that got dearer makes every route through it dearer",
     {"b": (1, "b"), "c": (2, "b"), "d": (4, "e"), "e": (1, "e")}, "b",
     {"b": 0, "c": 1, "d": 1}, 5, None,
     "Routes via this neighbour take the new link cost, even when that is worse; d via e (4) "
     "is still cheaper than 6 via b."),
    ("infinity=32: costs up to 31 are real",
     {"b": (1, "b")}, "b", {"b": 0, "c": 20}, 1, 32,
     "Use the infinity you are given, not 16."),
    ("infinity=8: a cost of 8 is unreachable",
     {"b": (1, "b"), "c": (3, "b")}, "b", {"b": 0, "c": 7}, 2, 8,
     "Use the infinity you are given: with infinity=8, 7 + 2 is capped at 8."),
]  # fmt: skip

GRAPHS = {  # name -> undirected edges with their costs
    "a line a-b-c-d": {("a", "b"): 1, ("b", "c"): 1, ("c", "d"): 1},
    "a square with a costly diagonal": {
        ("a", "b"): 1, ("b", "c"): 1, ("c", "d"): 2, ("a", "d"): 7, ("a", "c"): 5,
    },
    "a ring of six with a shortcut": {
        ("a", "b"): 2, ("b", "c"): 3, ("c", "d"): 1, ("d", "e"): 4, ("e", "f"): 1,
        ("f", "a"): 2, ("b", "e"): 3,
    },
}  # fmt: skip

NETWORK_RUNS = [  # (graph, link that fails or None, infinity)
    ("a line a-b-c-d", None, 16),
    ("a square with a costly diagonal", None, 16),
    ("a ring of six with a shortcut", None, 16),
    ("a square with a costly diagonal", ("b", "c"), 16),
    ("a ring of six with a shortcut", ("b", "e"), 16),
    ("a ring of six with a shortcut", ("c", "d"), 24),
    ("a line a-b-c-d", ("c", "d"), 16),
    ("a line a-b-c-d", ("b", "c"), 9),
]
MAX_ROUNDS = 100


def neighbours(edges):
    graph = {}
    for (u, v), cost in edges.items():
        graph.setdefault(u, {})[v] = cost
        graph.setdefault(v, {})[u] = cost
    return graph


def shortest_paths(graph):
    """Floyd-Warshall: the cost of the cheapest path between every two nodes."""
    nodes = sorted(graph)
    dist = {u: {v: 0 if u == v else graph[u].get(v, float("inf")) for v in nodes} for u in nodes}
    for k, u, v in itertools.product(nodes, nodes, nodes):
        dist[u][v] = min(dist[u][v], dist[u][k] + dist[k][v])
    return dist


def settle(update_routes, graph, tables, infinity):
    """Rounds of exchange until no table changes: the rounds it took, or None."""
    for round_number in range(1, MAX_ROUNDS + 1):
        vectors = {n: {n: 0, **{d: r[0] for d, r in tables[n].items()}} for n in sorted(graph)}
        changed = False
        for node in sorted(graph):
            for neighbour, cost in sorted(graph[node].items()):
                tables[node], did_change = update_routes(
                    node, tables[node], neighbour, vectors[neighbour], cost, infinity=infinity
                )
                changed = changed or did_change
        if not changed:
            return round_number
    return None


def wrong_route(tables, graph, infinity):
    """The first route that is not a cheapest one, described, or None."""
    dist = shortest_paths(graph)
    for node, dest in itertools.product(sorted(graph), sorted(graph)):
        route = tables[node].get(dest)
        best = dist[node][dest]
        if dest == node:
            if route is not None:
                return f"{node} has a route to itself: {route!r}"
        elif best >= infinity:
            if route is not None and route[0] < infinity:
                return f"{node} routes to {dest} at {route!r}, but {dest} is unreachable"
        elif route is None:
            return f"{node} has no route to {dest}; the cheapest costs {best}"
        elif route[0] != best:
            return f"{node} routes to {dest} at {route!r}; the cheapest costs {best}"
        elif graph[node].get(route[1], float("inf")) + dist[route[1]][dest] != best:
            return f"{node} routes to {dest} via {route[1]!r}, which is not on a cheapest path"
    return None


def network_case(cases, update_routes, name, failed, infinity):
    graph = neighbours(GRAPHS[name])
    case = f"{name}, infinity={infinity}"
    tables = {node: {} for node in graph}
    rounds = cases.call(case, lambda: settle(update_routes, graph, tables, infinity))
    if failed is not None:
        u, v = failed
        case += f", after the link {u}-{v} fails"
        del graph[u][v], graph[v][u]
        for node, lost in ((u, v), (v, u)):  # each end sees its link go down
            for dest, (_, next_hop) in list(tables[node].items()):
                if next_hop == lost:
                    tables[node][dest] = (infinity, lost)
        rounds = cases.call(case, lambda: settle(update_routes, graph, tables, infinity))
    cases.true(
        f"{case}: the tables settle",
        rounds is not None,
        f"the tables were still changing after {MAX_ROUNDS} rounds of exchange",
        hint="Costs must stop at infinity, and changed must be False when nothing changed: "
        "otherwise counting to infinity never ends.",
    )
    problem = wrong_route(tables, graph, infinity)
    cases.true(
        f"{case}: every node takes a cheapest path",
        problem is None,
        f"after {rounds} rounds, {problem}",
        hint="After a failure, old routes are wrong: believe your next hop even when its news "
        "is worse, or the network keeps routes through a link that is gone."
        if failed
        else "Take any strictly cheaper route, and add link_cost to what neighbours advertise.",
    )


def random_route_case(rng):
    nodes = ["a", "b", "c", "d", "e", "f"]
    infinity = rng.choice([16, 16, 8, 32])
    table = {}
    for dest in rng.sample(nodes[1:], rng.randint(0, 5)):
        table[dest] = (rng.choice([rng.randint(1, infinity), infinity]), rng.choice(nodes[1:]))
    neighbour = rng.choice(nodes[1:])
    vector = {neighbour: 0}
    for dest in rng.sample(nodes, rng.randint(0, 6)):
        if dest != neighbour:
            vector[dest] = rng.choice([rng.randint(0, infinity), infinity])
    return table, neighbour, vector, rng.randint(1, 6), infinity


@grader("Task 3 · update_routes")
def check_update_routes(cases, update_routes):
    for label, table, neighbour, vector, link_cost, infinity, hint in ROUTE_CASES:
        keywords = {} if infinity is None else {"infinity": infinity}
        given = dict(table)  # a copy, so that an answer that changes it cannot change the case
        shown = f"update_routes('a', {table}, {neighbour!r}, {vector}, {link_cost}" + "".join(
            f", infinity={value}" for value in keywords.values()
        )
        cases.equal(
            f"{label}: {shown})",
            lambda t=given, n=neighbour, v=dict(vector), c=link_cost, k=keywords: update_routes(
                "a", t, n, v, c, **k
            ),
            oracle_update("a", table, neighbour, vector, link_cost, **keywords),
            hint=hint,
        )
        cases.same(
            f"{label}: the table passed in is left as it was",
            given,
            table,
            hint="Return a new table (start from dict(table)); do not change the one you are "
            "given, which the caller may still be using.",
        )
    rng = random.Random(3)
    for run in range(300):
        table, neighbour, vector, link_cost, infinity = random_route_case(rng)
        cases.equal(
            f"random case {run}: update_routes('a', {table}, {neighbour!r}, {vector}, "
            f"{link_cost}, infinity={infinity})",
            lambda t=dict(table), n=neighbour, v=dict(vector), c=link_cost, i=infinity: (
                update_routes("a", t, n, v, c, infinity=i)
            ),
            oracle_update("a", table, neighbour, vector, link_cost, infinity),
            hint="Per destination: via this neighbour already, take its news; otherwise only a "
            "strictly cheaper offer; cap at infinity; never add yourself or an unreachable "
            "destination.",
        )
    for name, failed, infinity in NETWORK_RUNS:
        network_case(cases, update_routes, name, failed, infinity)


# --- Task 4: GossipNode -----------------------------------------------------------------------


@dataclass(frozen=True)
class GossipRun:
    """One run: `size` nodes, a partition of `cut_off` of them, broadcasts on both sides."""

    seed: int
    size: int
    period: float
    loss: float
    cut_off: int  # how many nodes (the last ones) the partition cuts off from the rest
    as_lists: bool = False  # the client's requests arrive as lists

    @property
    def nodes(self):
        return [f"n{i}" for i in range(self.size)]

    @property
    def sides(self):
        return self.nodes[: self.size - self.cut_off], self.nodes[self.size - self.cut_off :]

    @property
    def partition_at(self):
        return 5 * self.period

    @property
    def heal_at(self):
        return 40 * self.period if self.cut_off else 0.0

    @property
    def deadline(self):
        return max(self.heal_at, self.broadcasts()[-1][0]) + CONVERGE_PERIODS * self.period

    def broadcasts(self):
        """(time, node asked, message): before, during and just after the partition."""
        rest, cut_off = self.sides
        if not cut_off:
            return [(self.period, rest[1], "m0")]
        asked = [rest[0], cut_off[0], rest[-1], cut_off[-1], rest[len(rest) // 2], cut_off[0]]
        times = [1, 8, 12, 20, 33, 41]
        pairs = enumerate(zip(times, asked, strict=True))
        return [(t * self.period, node, f"m{k}") for k, (t, node) in pairs]

    def label(self):
        if not self.cut_off:
            return f"one broadcast, {self.size} nodes, period={self.period:g}, nothing lost"
        lists = ", requests as lists" if self.as_lists else ""
        return (
            f"{self.size} nodes, period={self.period:g}, {self.loss:.0%} loss, "
            f"{self.cut_off} cut off from t={self.partition_at:g} to {self.heal_at:g} s (seed "
            f"{self.seed}{lists})"
        )


CONVERGE_PERIODS = 40  # after the heal, every node must have every message within this many
SENDS_PER_NODE_PER_PERIOD = 3  # anti-entropy to one peer a period, an answer, and to spare

GOSSIP_RUNS = [
    GossipRun(seed=0, size=4, period=1.0, loss=0.0, cut_off=0),
    GossipRun(seed=1, size=10, period=0.5, loss=0.2, cut_off=3),
    GossipRun(seed=2, size=8, period=1.0, loss=0.3, cut_off=1),
    GossipRun(seed=3, size=12, period=0.2, loss=0.25, cut_off=6),
    GossipRun(seed=4, size=3, period=2.0, loss=0.2, cut_off=1, as_lists=True),
    GossipRun(seed=5, size=9, period=0.25, loss=0.1, cut_off=4),
]


class Client(Node):
    """Asks nodes to broadcast; the grader makes it send."""


def gossip_simulation(GossipNode, run):
    sim = Simulation(run.seed, link=Link(loss=run.loss, delay=Uniform(0.005, 0.05)))
    for node in run.nodes:
        peers = [peer for peer in run.nodes if peer != node]
        sim.add_node(node, functools.partial(GossipNode, peers, period=run.period))
    sim.add_node("client", Client)
    for node in run.nodes:
        sim.set_link("client", node, Link(delay=Fixed(0.001)))
    for at, node, message in run.broadcasts():
        request = ["broadcast", message] if run.as_lists else ("broadcast", message)
        sim.call_at(at, lambda n=node, r=request: sim.node("client").ctx.send(n, r))
    if run.cut_off:
        sim.call_at(run.partition_at, sim.partition, *run.sides)
        sim.call_at(run.heal_at, sim.heal)
    return sim


def gossip_budget(run):
    periods = run.deadline / run.period
    messages = len(run.broadcasts())
    spreading = messages * run.size * (run.size - 1)  # a flood of each message, once
    sends = int(SENDS_PER_NODE_PER_PERIOD * run.size * periods) + spreading
    return Budget(
        sends=sends,
        events=20 * sends + 5000,
        wall_seconds=2.0,
        senders=tuple(run.nodes),
        task=f"for {messages} broadcasts in a run of {periods:g} periods of {run.period:g} s",
        usual=f"allowed: {SENDS_PER_NODE_PER_PERIOD} per node per period, plus one flood of "
        "each broadcast",
    )


def delivered_problem(sim, run, complete=True):
    """What is wrong with what the nodes delivered (so far, unless `complete`), or None."""
    messages = [message for _, _, message in run.broadcasts()]
    for node in run.nodes:
        delivered = list(sim.storage(node).get("delivered", []))
        strange = [m for m in delivered if m not in messages]
        if strange:
            return (
                f"{node} delivered {strange[0]!r}, which nobody broadcast",
                "Deliver (append to ctx.storage['delivered']) the messages clients ask you to "
                "broadcast, nothing else: not your own protocol's messages.",
            )
        twice = [m for m in messages if delivered.count(m) > 1]
        if twice:
            return (
                f"{node} delivered {twice[0]!r} {delivered.count(twice[0])} times",
                "Deliver each message once: remember what you have, and ignore a copy of it.",
            )
        missing = [m for m in messages if m not in delivered]
        if missing and complete:
            return (
                f"at t={run.deadline:g} s, {when(run)}, {node} "
                f"has delivered {delivered} and is still missing {missing}",
                missing_hint(run, node, missing),
            )
    return None


def when(run):
    periods = f"{CONVERGE_PERIODS} periods"
    return f"{periods} after the heal" if run.cut_off else f"{periods} after the broadcast"


def missing_hint(run, node, missing):
    rest, cut_off = run.sides
    if not cut_off:
        return (
            "Nothing was lost, yet the message did not arrive: when a node learns a message it "
            "has not seen (from a client or a peer), it delivers it and passes it on to peers."
        )
    side = rest if node in rest else cut_off
    sent_from = {message: asked for _, asked, message in run.broadcasts()}
    if all(sent_from[message] in side for message in missing):
        return (
            "A message broadcast on this node's own side of the partition did not reach it: a "
            "message lost on the way must be repaired by anti-entropy, every period."
        )
    return (
        "Messages broadcast on the other side of the partition never reached this node: pushing "
        "each message once is not enough. Every period (for ever: set the timer again each "
        "time it fires), exchange what you know with a random peer, so what one side learned "
        "reaches the other after the heal."
    )


EVERY = "every node delivers every message, once"
COST = (
    "Send on a timer of `period` (the value you are given), to one random peer, not to every "
    "peer: flooding everything you know every period is the cost that anti-entropy avoids."
)


@grader("Task 4 · GossipNode")
def check_gossip(cases, GossipNode):
    for run in GOSSIP_RUNS:
        case = run.label()
        sim = cases.call(case, lambda r=run: gossip_simulation(GossipNode, r))
        early = run.broadcasts()[0][0] + 3 * run.period
        for until, claim in ((early, "no message delivered twice"), (run.deadline, EVERY)):
            cases.run_simulation(case, sim, until=until, budget=gossip_budget(run), hint=COST)
            problem, hint = delivered_problem(sim, run, claim == EVERY) or (None, "")
            cases.true(f"{case}: {claim}", problem is None, problem, hint=hint)
        if run.seed == 1:
            again = cases.call(f"{case}, again", lambda r=run: gossip_simulation(GossipNode, r))
            cases.run_simulation(
                f"{case}, again", again, until=run.deadline, budget=gossip_budget(run)
            )
            cases.true(
                f"{case}, again: the same seed gives the same run",
                again.trace.text() == sim.trace.text(),
                "two runs with the same seed sent different messages",
                hint="Draw random choices from self.ctx.random, never from the module `random`, "
                "and keep all state on self (made in __init__), not on the class.",
            )
