"""Raft's safety properties, checked on a running simulation after every event.

Theory of operation
-------------------
Figure 3 of the Raft paper (Ongaro & Ousterhout, 2014) lists what the
algorithm guarantees at all times. `RaftMonitor.check` looks at every
server that is up, as the simulator (reference/net/simnet.py) leaves it
after one event, and raises `RaftSafetyViolation` if any guarantee fails:

- *Election safety*: at most one leader per term, over the whole run
  (remembered term by term, so two leaders of a term are caught even if
  they were never leaders at the same moment).
- *Log matching*: if two logs have an entry with the same index and term,
  the logs are identical up to that index.
- *State machine safety*: no two servers ever commit (so apply) different
  entries at the same index; a server never applies past its commit index.
  The monitor keeps the longest committed prefix seen and compares every
  server's committed prefix with it.
- *Leader completeness*: an entry committed by the time a term began is
  in the log of that term's leader. The monitor notes, for each committed
  index, the term in which it was first seen committed; a leader of any
  later term must hold it.

`run_checked(sim, until, monitor)` runs the simulation one event at a time
and checks after each one. `stable_leader` is for liveness: the leader
that every server that is up follows, in one term, if there is one.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from itertools import combinations

from reference.net.simnet import Simulation
from reference.order.raft import LEADER, RaftNode


class RaftSafetyViolation(AssertionError):
    """One of Raft's safety properties failed; the message says which and where."""


class RaftMonitor:
    """Watches the Raft servers `servers` of `sim`; call `check()` after each event."""

    def __init__(self, sim: Simulation, servers: Sequence[str]) -> None:
        self.sim = sim
        self.servers = list(servers)
        self.leaders: dict[int, str] = {}  # term -> the one leader seen in it
        self.committed: list = []  # the longest committed prefix of the log seen so far
        self.committed_by_term: list[int] = []  # index - 1 -> term it was seen committed in

    def up(self) -> list[tuple[str, RaftNode]]:
        return [(name, self.sim.node(name)) for name in self.servers if self.sim.is_up(name)]

    def check(self) -> None:
        nodes = self.up()
        for name, node in nodes:
            if node.role == LEADER:
                first = self.leaders.setdefault(node.current_term, name)
                if first != name:
                    self._fail(f"two leaders in term {node.current_term}: {first} and {name}")
        for (name_a, a), (name_b, b) in combinations(nodes, 2):
            agreed = _last_agreement(a.log, b.log)
            if a.log[:agreed] != b.log[:agreed]:
                self._fail(f"logs of {name_a} and {name_b} share entry {agreed} but differ before")
        for name, node in nodes:
            self._check_committed(name, node)
        for name, node in nodes:
            if node.role == LEADER:
                self._check_leader_complete(name, node)

    def _check_committed(self, name: str, node: RaftNode) -> None:
        if node.last_applied > node.commit_index or node.commit_index > len(node.log):
            self._fail(f"{name} applied {node.last_applied}, committed {node.commit_index}")
        known = min(node.commit_index, len(self.committed))
        if node.log[:known] != self.committed[:known]:
            self._fail(f"{name} committed an entry that differs from one committed before")
        if node.commit_index > len(self.committed):
            seen = max([node.current_term, *self.committed_by_term[-1:]])
            new = node.log[len(self.committed) : node.commit_index]
            self.committed.extend(new)
            self.committed_by_term.extend([seen] * len(new))

    def _check_leader_complete(self, name: str, node: RaftNode) -> None:
        before_its_term = bisect_left(self.committed_by_term, node.current_term)
        if node.log[:before_its_term] != self.committed[:before_its_term]:
            self._fail(
                f"{name}, leader of term {node.current_term}, lacks an entry committed before it"
            )

    def _fail(self, problem: str) -> None:
        raise RaftSafetyViolation(f"seed {self.sim.seed}, t={self.sim.now:.4f}: {problem}")


def _last_agreement(log_a: list, log_b: list) -> int:
    """The highest index at which both logs have an entry of the same term (0 if none)."""
    for index in range(min(len(log_a), len(log_b)), 0, -1):
        if log_a[index - 1][0] == log_b[index - 1][0]:
            return index
    return 0


def run_checked(sim: Simulation, until: float, monitor: RaftMonitor) -> int:
    """Run `sim` up to `until`, one event at a time, checking after each; the event count."""
    events = 0
    while sim.run(until=until, max_events=1):
        events += 1
        monitor.check()
    return events


def stable_leader(sim: Simulation, servers: Sequence[str]) -> str | None:
    """The leader that every server that is up follows in the same term, or None."""
    nodes = [sim.node(name) for name in servers if sim.is_up(name)]
    leaders = [node for node in nodes if node.role == LEADER]
    if len(leaders) != 1:
        return None
    leader = leaders[0]
    agree = all(
        node.current_term == leader.current_term and node.leader_id == leader.ctx.node_id
        for node in nodes
    )
    return leader.ctx.node_id if agree else None
