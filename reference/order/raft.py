"""A small Raft: leader election, log replication and commit, as a node.

Theory of operation
-------------------
A cluster of servers keeps one replicated log (reference/order/raft_log.py
holds its rules as pure functions). Time is cut into numbered *terms*;
each term has at most one leader, and only the leader adds entries.

Roles and timers (`RaftNode`):

- A *follower* waits for its leader. Every message from the leader of its
  term resets its *election timer*, drawn at random between
  ``timing.election_timeout`` bounds (from ``ctx.random``), so that two
  followers rarely time out together and split the vote.
- When the timer runs out the follower becomes a *candidate*: it moves to
  the next term, votes for itself and asks every peer with
  ``("request_vote", term, last_log_index, last_log_term)``. Each server
  answers ``("vote", term, granted)`` by `grant_vote`. With votes from a
  majority (itself included) it becomes *leader*; if its timer runs out
  first it tries again in a new term.
- A *leader* appends a no-op entry of its own term (so it can commit what
  earlier leaders left), then sends every peer
  ``("append_entries", term, prev_index, prev_term, entries, leader_commit)``:
  at once when it has new entries (unless entries it sent that follower
  are still unanswered: the reply then sends all that piled up, in one
  batch), and every ``timing.heartbeat`` seconds anyway, which also keeps
  followers from starting elections and resends what was lost. A follower applies
  `append_entries` and answers ``("append_reply", term, success, index)``:
  on success the index it now matches up to, on failure the length of its
  log, so the leader moves that follower's `next_index` back and retries.
  The leader advances `commit_index` by `commit_index_for` as matches come
  in; followers learn it from `leader_commit`.
- Any message with a later term than the receiver's makes it adopt the
  term and become a follower: a deposed leader steps down as soon as it
  hears of the new term, but not before (see the KV store's stale read).

Committed entries are handed, in order, to `apply(index, command)`, which
a subclass overrides (reference/order/kv.py: a key-value store).
`propose(command)` adds a command at the leader.

Durable and volatile state: ``current_term``, ``voted_for`` and ``log``
live in ``ctx.storage``, written before the handler that changed them
returns, so a server that crashes and restarts cannot vote twice in a
term or forget an entry it acknowledged. Everything else (role, commit
index, what has been applied, the leader's `next_index`/`match_index`) is
volatile: a restarted server starts as a follower with nothing applied and
rebuilds its state machine from the log as it learns the commit index.

Messages that are not well formed are ignored and noted in the trace.
Not here, to stay small: membership changes, log compaction (snapshots),
and the pre-vote and check-quorum refinements.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from reference.net.node import Node
from reference.order.raft_log import (
    append_entries,
    commit_index_for,
    grant_vote,
    last_term,
    term_at,
)

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"


@dataclass(frozen=True, slots=True)
class RaftTiming:
    """Timer settings, in seconds of the node's own clock.

    The heartbeat must be well below the shortest election timeout, or
    followers start elections while their leader is alive.
    """

    election_timeout: tuple[float, float] = (0.15, 0.30)
    heartbeat: float = 0.05
    max_batch: int = 64  # at most this many entries in one append_entries

    def __post_init__(self) -> None:
        low, high = self.election_timeout
        if not 0 < self.heartbeat < low <= high:
            raise ValueError("Raft timing needs 0 < heartbeat < election timeout low <= high")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")


DEFAULT_TIMING = RaftTiming()


class RaftNode(Node):
    """One Raft server; `cluster` lists every server's id, this one included."""

    vote_rule = staticmethod(grant_vote)  # a subclass may swap the rule (the exercise does)

    def __init__(self, cluster: Sequence[str], *, timing: RaftTiming = DEFAULT_TIMING) -> None:
        if not cluster or len(set(cluster)) != len(cluster):
            raise ValueError(f"a cluster is a list of distinct node ids, got {cluster!r}")
        self.cluster = tuple(cluster)
        self.timing = timing

    # -- Durable state, in ctx.storage

    @property
    def current_term(self) -> int:
        return self.ctx.storage["current_term"]

    @property
    def voted_for(self) -> str | None:
        return self.ctx.storage["voted_for"]

    def on_start(self) -> None:
        if self.ctx.node_id not in self.cluster:
            raise ValueError(f"{self.ctx.node_id!r} is not in its cluster {self.cluster}")
        storage = self.ctx.storage
        storage.setdefault("current_term", 0)
        storage.setdefault("voted_for", None)
        self.log: list[tuple[int, Any]] = storage.setdefault("log", [])
        self.peers = [node for node in self.cluster if node != self.ctx.node_id]
        self.role = FOLLOWER
        self.leader_id: str | None = None
        self.commit_index = 0
        self.last_applied = 0
        self.votes: set[str] = set()
        self.next_index: dict[str, int] = {}
        self.match_index: dict[str, int] = {}
        self.sent_up_to: dict[str, int] = {}
        self._reset_election_timer()

    # -- What a state machine on top uses

    @property
    def is_leader(self) -> bool:
        return self.role == LEADER

    def propose(self, command: Any) -> int | None:
        """Append `command` if this node is the leader: its log index, else None."""
        if self.role != LEADER:
            return None
        self.log.append((self.current_term, command))
        self._advance_commit()  # a cluster of one commits at once
        for peer in self.peers:
            if self.sent_up_to[peer] <= self.match_index[peer]:  # nothing unanswered in flight
                self._send_append(peer)
        return len(self.log)

    def apply(self, index: int, command: Any) -> None:
        """Called once per committed entry, in index order; override it."""

    def on_client_message(self, src: str, msg: Any) -> None:
        """A message that is not Raft's own; override it (the KV store's clients)."""
        self.ctx.note(f"ignored a malformed message from {src}")

    # -- Timers

    def on_timer(self, name: Hashable) -> None:
        if name == "election":
            self._start_election()
        elif name == "heartbeat" and self.role == LEADER:
            for peer in self.peers:
                self._send_append(peer)
            self.ctx.set_timer(self.timing.heartbeat, "heartbeat")

    def _reset_election_timer(self) -> None:
        low, high = self.timing.election_timeout
        self.ctx.set_timer(self.ctx.random.uniform(low, high), "election")

    def _start_election(self) -> None:
        storage = self.ctx.storage
        storage["current_term"] += 1
        storage["voted_for"] = self.ctx.node_id
        self.role, self.leader_id, self.votes = CANDIDATE, None, {self.ctx.node_id}
        self.ctx.note(f"candidate in term {self.current_term}")
        self._reset_election_timer()
        request = ("request_vote", self.current_term, len(self.log), last_term(self.log))
        for peer in self.peers:
            self.ctx.send(peer, request)
        self._count_votes()

    def _count_votes(self) -> None:
        if len(self.votes) > len(self.cluster) // 2:
            self._become_leader()

    def _become_leader(self) -> None:
        self.role, self.leader_id = LEADER, self.ctx.node_id
        self.ctx.cancel_timer("election")
        self.ctx.note(f"leader in term {self.current_term}")
        self.next_index = dict.fromkeys(self.peers, len(self.log) + 1)
        self.match_index = dict.fromkeys(self.peers, 0)
        self.sent_up_to = dict.fromkeys(self.peers, 0)
        self.propose(None)  # a no-op of this term: it commits what earlier leaders left
        self.ctx.set_timer(self.timing.heartbeat, "heartbeat")

    def _step_down(self, term: int) -> None:
        """Adopt a later `term` (nobody voted for yet) as a follower."""
        storage = self.ctx.storage
        storage["current_term"], storage["voted_for"] = term, None
        was_leader = self.role == LEADER
        self.role, self.leader_id = FOLLOWER, None
        if was_leader:
            self.ctx.cancel_timer("heartbeat")
            self._reset_election_timer()

    # -- Messages

    def on_message(self, src: str, msg: Any) -> None:
        parsed = parse_raft_message(msg) if src in self.peers else None
        if parsed is None:
            self.on_client_message(src, msg)
            return
        kind, term, *fields = parsed
        if term > self.current_term:
            self._step_down(term)
        handler = getattr(self, f"_on_{kind}")
        handler(src, term, *fields)

    def _on_request_vote(self, src: str, term: int, last_index: int, last_log_term: int) -> None:
        granted = self.vote_rule(
            current_term=self.current_term,
            voted_for=self.voted_for,
            last_log_term=last_term(self.log),
            last_log_index=len(self.log),
            candidate=src,
            candidate_term=term,
            candidate_last_term=last_log_term,
            candidate_last_index=last_index,
        )
        if granted:
            self.ctx.storage["voted_for"] = src
            self._reset_election_timer()
        self.ctx.send(src, ("vote", self.current_term, granted))

    def _on_vote(self, src: str, term: int, granted: bool) -> None:
        if self.role == CANDIDATE and term == self.current_term and granted:
            self.votes.add(src)
            self._count_votes()

    def _on_append_entries(
        self, src: str, term: int, prev_index: int, prev_term: int, entries: list, commit: int
    ) -> None:
        if term < self.current_term:
            self.ctx.send(src, ("append_reply", self.current_term, False, len(self.log)))
            return
        self.role, self.leader_id = FOLLOWER, src  # a candidate of this term gives way
        self._reset_election_timer()
        if not append_entries(self.log, prev_index, prev_term, entries):
            self.ctx.send(src, ("append_reply", term, False, len(self.log)))
            return
        matched = prev_index + len(entries)
        if commit > self.commit_index:
            self.commit_index = max(self.commit_index, min(commit, matched))
            self._apply_committed()
        self.ctx.send(src, ("append_reply", term, True, matched))

    def _on_append_reply(self, src: str, term: int, success: bool, index: int) -> None:
        if self.role != LEADER or term != self.current_term:
            return  # a late reply from an earlier term
        if success:
            self.match_index[src] = max(self.match_index[src], index)
            self.next_index[src] = max(self.next_index[src], index + 1)
            self._advance_commit()
            if index >= self.sent_up_to[src] and index < len(self.log):
                self._send_append(src)  # it has all we sent and is still behind
        else:  # back up to the follower's log length at most, never below what it matches
            backed = min(self.next_index[src] - 1, index + 1)
            self.next_index[src] = max(self.match_index[src] + 1, backed)
            self._send_append(src)

    def _send_append(self, peer: str) -> None:
        prev = self.next_index[peer] - 1
        entries = self.log[prev : prev + self.timing.max_batch]
        self.sent_up_to[peer] = prev + len(entries)
        term = self.current_term
        msg = ("append_entries", term, prev, term_at(self.log, prev), entries, self.commit_index)
        self.ctx.send(peer, msg)

    def _advance_commit(self) -> None:
        matches = [len(self.log), *self.match_index.values()]
        commit = commit_index_for(self.log, matches, self.current_term, self.commit_index)
        if commit > self.commit_index:
            self.commit_index = commit
            self._apply_committed()

    def _apply_committed(self) -> None:
        while self.last_applied < self.commit_index:
            self.last_applied += 1
            self.apply(self.last_applied, self.log[self.last_applied - 1][1])


# --- Parsing what arrives ---------------------------------------------------------

_FIELDS = {"request_vote": 4, "vote": 3, "append_entries": 6, "append_reply": 4}


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _is_entry(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2 and _is_count(value[0])


def parse_raft_message(msg: Any) -> tuple | None:
    """A well-formed Raft message as a tuple, or None (not Raft's, or malformed)."""
    if not isinstance(msg, list | tuple) or not msg or _FIELDS.get(msg[0]) != len(msg):
        return None
    kind, term, *rest = msg
    if not _is_count(term):
        return None
    if kind == "request_vote" or kind == "append_reply":
        flags_ok = kind == "request_vote" or type(rest[0]) is bool
        counts = rest if kind == "request_vote" else rest[1:]
        well_formed = flags_ok and all(_is_count(value) for value in counts)
    elif kind == "vote":
        well_formed = type(rest[0]) is bool
    else:
        prev_index, prev_term, entries, commit = rest
        well_formed = (
            _is_count(prev_index)
            and _is_count(prev_term)
            and _is_count(commit)
            and isinstance(entries, list)
            and all(_is_entry(entry) for entry in entries)
        )
    return tuple(msg) if well_formed else None
