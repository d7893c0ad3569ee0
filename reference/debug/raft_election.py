"""Raft's leader election alone, small enough to search exhaustively, and a planted bug.

Theory of operation
-------------------
`ElectionNode` is the election half of reference/order/raft.py's `RaftNode`:
terms, roles, the election timer, ``("request_vote", term, last_index,
last_term)`` answered by ``("vote", term, granted)``, and a new leader's
``("leader", term)`` to every peer, which makes a candidate of the same
term give way. A message of a later term makes the receiver adopt it as a
follower. A real leader repeats its announcement every heartbeat; here it
is sent once, because in the search's abstract time a heartbeat cannot
keep a follower's timer from running out (any timer may fire at any
moment), and repeats would only multiply the states. The log does not
grow: each server is given one at the start (``[(1, "x")]``: it holds an
entry written in term 1), which is all the vote rule needs to look at.
The vote rule itself is not written here: it is
reference/order/raft_log.py's `grant_vote`, through the same `vote_rule`
hook as `RaftNode`, so a subclass swaps it.

Two things make the node fit the search (reference/debug/search.py):

- `max_term`: a server does not start an election past it, so the number of
  states is finite (`first_term` is the term it starts in);
- `snapshot()` and `restore()`: the node's whole state (term and vote, kept
  in ``ctx.storage`` as on a real server's disk, role, votes, and the terms
  it has won) as one small tuple.

The terms a node has won (`won`) are a *history variable*: the protocol
never reads them; they are there so that a property about the whole run
("no term ever has two leaders", even at different moments) can be checked
on a single state, which is what the search checks.

The invariants (`election_invariant`): *election safety*, at most one
leader per term, and *leader completeness*, every leader's log starts with
the entries given as committed.

The planted bug, `forgetful_vote`: a vote rule that checks the term and the
candidate's log, but forgets the vote it has already given in this term.
Two candidates of one term then both collect a majority. Random testing
finds it only when two election timers run out within a message delay of
each other; the search finds it in a few steps. `careless_vote` (it skips
the log check, so a server missing a committed entry can win) is a second.

`simulate(seed, ...)` runs the same nodes on reference/net/simnet.py with
loss and random delays, checking after every event: the random testing to
compare with.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from reference.net.links import Link, Uniform
from reference.net.node import Node, NodeFactory
from reference.net.simnet import Simulation
from reference.order.raft import CANDIDATE, DEFAULT_TIMING, FOLLOWER, LEADER, RaftTiming
from reference.order.raft_log import Entry, grant_vote, last_term

COMMITTED: tuple[Entry, ...] = ((1, "x"),)
"""The entry the default cluster has committed: s1 and s2 hold it, s3 does not."""

LOSSY_LAN = Link(loss=0.05, delay=Uniform(0.001, 0.003))  # 5% loss, 1-3 ms one way


class ElectionNode(Node):
    """One server's election logic; `cluster` lists every server's id, this one included."""

    vote_rule = staticmethod(grant_vote)  # a subclass may swap the rule, as on RaftNode

    def __init__(
        self,
        cluster: Sequence[str],
        log: Sequence[Entry] = (),
        *,
        first_term: int = 0,
        max_term: int = 3,
        timing: RaftTiming = DEFAULT_TIMING,
    ) -> None:
        self.cluster = tuple(cluster)
        self.log = tuple(log)
        self.first_term = first_term
        self.max_term = max_term
        self.timing = timing

    def on_start(self) -> None:
        storage = self.ctx.storage
        storage.setdefault("current_term", self.first_term)
        storage.setdefault("voted_for", None)
        self.peers = [node for node in self.cluster if node != self.ctx.node_id]
        self.role = FOLLOWER
        self.votes: frozenset[str] = frozenset()
        self.won: frozenset[int] = frozenset()  # history: terms this node has led
        self._reset_election_timer()

    @property
    def current_term(self) -> int:
        return self.ctx.storage["current_term"]

    # -- For the search

    def snapshot(self) -> Hashable:
        storage = self.ctx.storage
        return (storage["current_term"], storage["voted_for"], self.role, self.votes, self.won)

    def restore(self, snapshot: Any) -> None:
        storage = self.ctx.storage
        storage["current_term"], storage["voted_for"], self.role, self.votes, self.won = snapshot

    # -- Timers

    def on_timer(self, name: Hashable) -> None:
        if name == "election" and self.current_term < self.max_term:
            self._start_election()

    def _reset_election_timer(self) -> None:
        low, high = self.timing.election_timeout
        self.ctx.set_timer(self.ctx.random.uniform(low, high), "election")

    def _start_election(self) -> None:
        storage = self.ctx.storage
        storage["current_term"] += 1
        storage["voted_for"] = self.ctx.node_id
        self.role, self.votes = CANDIDATE, frozenset([self.ctx.node_id])
        self.ctx.note(f"candidate in term {self.current_term}")
        self._reset_election_timer()
        request = ("request_vote", self.current_term, len(self.log), last_term(self.log))
        for peer in self.peers:
            self.ctx.send(peer, request)
        self._count_votes()

    def _count_votes(self) -> None:
        if len(self.votes) > len(self.cluster) // 2:
            self.role, self.won = LEADER, self.won | {self.current_term}
            self.ctx.cancel_timer("election")
            self.ctx.note(f"leader in term {self.current_term}")
            for peer in self.peers:
                self.ctx.send(peer, ("leader", self.current_term))

    # -- Messages

    def on_message(self, src: str, msg: Any) -> None:
        kind, term, *rest = msg
        storage = self.ctx.storage
        if term > self.current_term:  # a later term: adopt it, as a follower who has not voted
            storage["current_term"], storage["voted_for"] = term, None
            if self.role == LEADER:
                self._reset_election_timer()
            self.role, self.votes = FOLLOWER, frozenset()
        if kind == "request_vote":
            last_index, candidate_last_term = rest
            granted = self.vote_rule(
                current_term=self.current_term,
                voted_for=storage["voted_for"],
                last_log_term=last_term(self.log),
                last_log_index=len(self.log),
                candidate=src,
                candidate_term=term,
                candidate_last_term=candidate_last_term,
                candidate_last_index=last_index,
            )
            if granted:
                storage["voted_for"] = src
                self._reset_election_timer()
            self.ctx.send(src, ("vote", self.current_term, granted))
        elif kind == "vote":
            if self.role == CANDIDATE and term == self.current_term and rest[0]:
                self.votes |= {src}
                self._count_votes()
        elif kind == "leader" and term == self.current_term and self.role != LEADER:
            self.role, self.votes = FOLLOWER, frozenset()  # a candidate of this term gives way
            self._reset_election_timer()


# --- Planted bugs ------------------------------------------------------------------


def forgetful_vote(**request: Any) -> bool:
    """BUG: `grant_vote`, but blind to the vote already given in this term."""
    return grant_vote(**{**request, "voted_for": None})


def careless_vote(**request: Any) -> bool:
    """BUG: `grant_vote`, but it compares the candidate's log with itself: any log will do."""
    own_log = {"last_log_term": request["candidate_last_term"]}
    own_log["last_log_index"] = request["candidate_last_index"]
    return grant_vote(**{**request, **own_log})


class ForgetfulElectionNode(ElectionNode):
    vote_rule = staticmethod(forgetful_vote)


class CarelessElectionNode(ElectionNode):
    vote_rule = staticmethod(careless_vote)


# --- The cluster, its invariants, and random testing -----------------------------


def cluster(
    node: type[ElectionNode] = ElectionNode, *, servers: int = 3, max_term: int = 3
) -> dict[str, NodeFactory]:
    """Factories for "s1".."sN"; all but the last hold the committed entry `COMMITTED`."""
    names = [f"s{index}" for index in range(1, servers + 1)]
    logs = {name: COMMITTED for name in names[:-1]}
    term = last_term(COMMITTED)  # everyone starts in the term that wrote the entry
    return {
        name: functools.partial(node, names, logs.get(name, ()), first_term=term, max_term=max_term)
        for name in names
    }


def election_safety(nodes: Mapping[str, ElectionNode]) -> str | None:
    """At most one leader per term, over the whole run (by the nodes' `won` terms)."""
    leader_of: dict[int, str] = {}
    for name, node in nodes.items():
        for term in node.won:
            if leader_of.setdefault(term, name) != name:
                return f"two leaders in term {term}: {leader_of[term]} and {name}"
    return None


def election_invariant(committed: Sequence[Entry] = COMMITTED):
    """Election safety, and leader completeness for the `committed` entries."""
    committed = tuple(committed)

    def invariant(nodes: Mapping[str, ElectionNode]) -> str | None:
        problem = election_safety(nodes)
        if problem is not None:
            return problem
        for name, node in nodes.items():
            if node.role == LEADER and node.log[: len(committed)] != committed:
                return f"{name} leads term {node.current_term} without committed {committed}"
        return None

    return invariant


def simulate(
    seed: int,
    node: type[ElectionNode] = ElectionNode,
    *,
    until: float = 2.0,
    link: Link = LOSSY_LAN,
    max_term: int = 3,
) -> str | None:
    """Run a 3-server cluster on the simulator, checking after every event: the violation."""
    sim = Simulation(seed, link=link)
    factories = cluster(node, max_term=max_term)
    for name, factory in factories.items():
        sim.add_node(name, factory)
    invariant = election_invariant()
    while sim.run(until=until, max_events=1):
        live = {name: sim.node(name) for name in factories if sim.is_up(name)}
        problem = invariant(live)
        if problem is not None:
            return problem
    return None
