"""Two planted bugs, the random runs that find them, and the properties they break.

Theory of operation
-------------------
A shrinker (reference/debug/shrink.py) is only as convincing as the bugs it
is shown on. Each bug here is a one-line change to a correct algorithm of
the workbook, with a random run that finds it on some seeds and a property
that says what went wrong. Each run is split in two, because a replay
(reference/debug/faults.py) brings its own faults: `build_*(sim)` adds the
nodes, `*_faults(sim, rng)` schedules the random ones.

Chapter 04, `ForgetfulReceiver`: a `ReliableReceiver` that keeps each
sender's `next_expected` and reorder buffer in memory only (it wipes
them from `storage` when it starts, which is what a restart of such a
receiver sees). After a restart it expects message 0 again: a copy of a
message it had delivered whose ack was lost is delivered a second time,
and a later message is buffered and acknowledged but never delivered.
`exactly_once_in_order(sim)` is chapter 04's property, as a safety check
that holds at every moment: what the receiver delivered is a prefix of
what the sender sent, and once the sender has every ack, all of it.

Chapter 06, `LogBlindRaftNode`: a `RaftNode` whose `vote_rule` skips the
"candidate's log is at least as up to date as mine" check (Raft §5.4.1).
A server that missed the latest committed entries can then win an
election and overwrite them. `committed_entries_agree(sim)` is state
machine safety: no two servers ever apply different entries at one index.
Servers here note what they apply (`AuditedRaftNode`), so the property
reads the whole run from the trace, and the correct rule (`AuditedRaftNode`
itself) passes the same check under the same schedules.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

from reference.delivery.reliable import ReliableReceiver, StopAndWaitSender
from reference.net.links import Fixed, Link
from reference.net.simnet import Simulation
from reference.net.trace import Note, Send
from reference.order.raft import RaftNode
from reference.order.raft_log import grant_vote
from reference.order.raft_scenarios import schedule_faults

# --- Chapter 04: a receiver that forgets its sequence state on restart ------------

LOSSY = Link(loss=0.3, duplicate=0.2, delay=Fixed(0.01))
TRANSFER = [f"m{n}" for n in range(60)]


class ForgetfulReceiver(ReliableReceiver):
    """A receiver whose sequence state does not survive a crash (the planted bug)."""

    def on_start(self) -> None:
        for key in [key for key in self.ctx.storage if key.startswith("receiver/")]:
            del self.ctx.storage[key]  # as if it had lived in memory only
        super().on_start()


def build_transfer(
    receiver: Callable[[], ReliableReceiver] = ForgetfulReceiver,
) -> Callable[[Simulation], None]:
    """A build function: sender "a" sends `TRANSFER` to receiver "b"."""

    def build(sim: Simulation) -> None:
        sim.add_node("a", functools.partial(StopAndWaitSender, "b", TRANSFER))
        sim.add_node("b", receiver)

    return build


def transfer_faults(sim: Simulation, rng: random.Random, crashes: int = 4) -> None:
    """Crash and restart the receiver `crashes` times during the transfer."""
    t = 0.0
    for _ in range(crashes):
        t += rng.uniform(0.1, 1.0)
        sim.call_at(t, sim.crash, "b")
        t += rng.uniform(0.0, 0.3)
        sim.call_at(t, sim.restart, "b")


def transfer_run(seed: int, receiver: Callable[[], ReliableReceiver] = ForgetfulReceiver):
    """The random run of chapter 04's bug: a lossy, duplicating link and crashes."""
    sim = Simulation(seed, link=LOSSY)
    build_transfer(receiver)(sim)
    transfer_faults(sim, random.Random(seed))
    sim.run(until=30.0)
    return sim


def exactly_once_in_order(sim: Simulation) -> str | None:
    """What is wrong with what "b" delivered, or None."""
    delivered = sim.storage("b").get("delivered", [])
    if delivered != TRANSFER[: len(delivered)]:
        wrong = next(n for n, payload in enumerate(delivered) if payload != TRANSFER[n])
        return f"delivery {wrong} was {delivered[wrong]!r}, expected {TRANSFER[wrong]!r}"
    promised = 0
    for event in sim.trace:
        if isinstance(event, Send) and event.src == "b":
            next_expected = event.msg[1]
            if next_expected < promised:
                return (
                    f"t={event.time:.3f}: b acknowledged everything below {promised}, "
                    f"then acknowledged as if it expected {next_expected}"
                )
            promised = next_expected
    sender_done = not sim.storage("a")["sender/b"]["unacked"]
    if sender_done and len(delivered) < len(TRANSFER):
        return f"every message was acknowledged, but only {len(delivered)} were delivered"
    return None


# --- Chapter 06: Raft without the up-to-date check of the vote ----------------------

SERVERS = ["s1", "s2", "s3"]
RAFT_LINK = Link(loss=0.05, delay=Fixed(0.01))


def grant_vote_ignoring_logs(**question: Any) -> bool:
    """`grant_vote` as if the candidate's log were exactly as long as the voter's."""
    question["candidate_last_term"] = question["last_log_term"]
    question["candidate_last_index"] = question["last_log_index"]
    return grant_vote(**question)


class AuditedRaftNode(RaftNode):
    """A correct Raft server that notes each entry it applies: "applied 3 2" (index, term)."""

    def apply(self, index: int, command: Any) -> None:
        self.ctx.note(f"applied {index} {self.log[index - 1][0]}")


class LogBlindRaftNode(AuditedRaftNode):
    """The planted bug: any candidate of a later term gets the vote, however stale its log."""

    vote_rule = staticmethod(grant_vote_ignoring_logs)


def build_raft(node: Callable[..., RaftNode] = LogBlindRaftNode) -> Callable[[Simulation], None]:
    """A build function: three Raft servers "s1".."s3" of class `node`."""

    def build(sim: Simulation) -> None:
        for name in SERVERS:
            sim.add_node(name, functools.partial(node, SERVERS))

    return build


def raft_run(seed: int, node: Callable[..., RaftNode] = LogBlindRaftNode, until: float = 20.0):
    """The random run of chapter 06's bug: partitions, crashes and restarts, lossy links."""
    sim = Simulation(seed, link=RAFT_LINK)
    build_raft(node)(sim)
    schedule_faults(sim, SERVERS, [], random.Random(seed), start=0.5, end=until - 2, drift=0.0)
    sim.run(until=until)
    return sim


def committed_entries_agree(sim: Simulation) -> str | None:
    """Two servers that applied different entries (by term) at one index, or None."""
    applied: dict[int, tuple[int, str]] = {}
    for event in sim.trace:
        if isinstance(event, Note) and event.text.startswith("applied "):
            index, term = map(int, event.text.split()[1:])
            first = applied.setdefault(index, (term, event.node))
            if first[0] != term:
                return (
                    f"t={event.time:.3f}: {event.node} applied entry {index} of term {term}, "
                    f"{first[1]} had applied entry {index} of term {first[0]}"
                )
    return None
