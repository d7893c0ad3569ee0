"""Broadcast without a broker: flooding, and push gossip with anti-entropy.

Theory of operation
-------------------
A *rumor* is one broadcast message: an id (``"a/0"``: its origin and a
number the origin never reuses) and a payload. Every node keeps the rumors
it has in ``storage["rumors"]`` (id -> payload), so a node that crashes and
restarts still has them; having a rumor is having received the broadcast.
Rumors travel as ``("rumors", [[id, payload], ...])``. `BroadcastNode` holds
what both ways of spreading share: `broadcast(payload)`, the store, and
reading rumors; a subclass decides what to do with a rumor it has just
learnt (`_spread`).

*Flooding* (`FloodingNode`) forwards a new rumor at once to every neighbour
but the one it came from, and never again. Over a connected graph with no
losses everyone gets it, fast, for about two messages per link
(``2 * links - nodes + 1`` exactly). But a message lost, or a link cut by a
partition at the wrong moment, is never repaired.

*Push gossip* (`GossipNode`), the "rumor mongering" of Demers et al.
(1987): every `period` (a *round*) a node picks `fanout` random peers and
pushes them its *hot* rumors. A rumor is hot for `hot_rounds` rounds after
the node learns it, then the node stops pushing it (a blind counter stop
rule: it needs no replies). The number of nodes that know a rumor grows
about `fanout + 1`-fold a round, so it reaches `n` nodes in about
``log(n) / log(fanout + 1)`` rounds, for about ``n * fanout * hot_rounds``
pushes, whatever the graph; but when the rumor goes cold some nodes may
never have heard it (more of them with loss), and a node on the far side of
a partition hears nothing.

*Anti-entropy* repairs that: every `anti_entropy_every` rounds a node sends
one random peer a digest of the ids it has, ``("digest", [id, ...])``. The
peer answers with the rumors the digest lacks (push) and a
``("want", [id, ...])`` for those it lacks itself (pull), which are sent
back. Any two nodes that talk end up with the union of their rumors, so
after a partition heals every rumor reaches every node, with a cost of one
digest per node every few rounds, whether anything is missing or not. A
rumor learnt by anti-entropy is hot like any other, so rumor mongering
spreads it on from there.

Malformed messages are ignored with a note. A node keeps at most
`max_rumors` rumors (new ones beyond that are refused with a note), and no
message may carry more, so memory stays bounded whatever a peer sends.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from reference.net.node import Node


def _is_id_list(value: Any, limit: int) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) <= limit
        and all(isinstance(item, str) for item in value)
    )


def parse_rumors(msg: Any, limit: int) -> list[tuple[str, Any]] | None:
    """``("rumors", [[id, payload], ...])`` as a list of pairs, or None if malformed."""
    if not (isinstance(msg, list | tuple) and len(msg) == 2 and msg[0] == "rumors"):
        return None
    rumors = msg[1]
    if not isinstance(rumors, list | tuple) or len(rumors) > limit:
        return None
    pairs = []
    for rumor in rumors:
        if not (isinstance(rumor, list | tuple) and len(rumor) == 2 and isinstance(rumor[0], str)):
            return None
        pairs.append((rumor[0], rumor[1]))
    return pairs


def parse_ids(msg: Any, kind: str, limit: int) -> list[str] | None:
    """``(kind, [id, ...])`` (a digest, or a want) as its list, or None if malformed."""
    ok = isinstance(msg, list | tuple) and len(msg) == 2 and msg[0] == kind
    return list(msg[1]) if ok and _is_id_list(msg[1], limit) else None


class BroadcastNode(Node):
    """The rumor store, `broadcast`, and reading ``("rumors", ...)``.

    `rumors` is ``storage["rumors"]``; `has(id)` says whether a rumor arrived.
    """

    def __init__(self, *, max_rumors: int = 10_000) -> None:
        self.max_rumors = max_rumors

    def on_start(self) -> None:
        self.rumors: dict[str, Any] = self.ctx.storage.setdefault("rumors", {})

    def has(self, rumor_id: str) -> bool:
        return rumor_id in self.rumors

    def broadcast(self, payload: Any) -> str:
        """Start a rumor from this node; returns its id."""
        number = self.ctx.storage.get("next_number", 0)
        self.ctx.storage["next_number"] = number + 1
        rumor_id = f"{self.ctx.node_id}/{number}"
        self._learn(rumor_id, payload, None)
        return rumor_id

    def on_message(self, src: str, msg: Any) -> None:
        rumors = parse_rumors(msg, self.max_rumors)
        if rumors is None:
            self.ctx.note(f"ignored a malformed message from {src}")
            return
        for rumor_id, payload in rumors:
            if rumor_id not in self.rumors:
                self._learn(rumor_id, payload, src)

    def _learn(self, rumor_id: str, payload: Any, src: str | None) -> None:
        if len(self.rumors) >= self.max_rumors:
            self.ctx.note(f"store full: refused rumor {rumor_id}")
            return
        self.rumors[rumor_id] = payload
        self._spread(rumor_id, src)

    def _spread(self, rumor_id: str, src: str | None) -> None:
        """A rumor just learnt, from `src` (None: broadcast here); pass it on."""
        raise NotImplementedError

    def _rumor_message(self, rumor_ids: Iterable[str]) -> tuple[str, list[list[Any]]]:
        return ("rumors", [[rumor_id, self.rumors[rumor_id]] for rumor_id in rumor_ids])


class FloodingNode(BroadcastNode):
    """Forwards each new rumor once to every neighbour except its sender."""

    def __init__(self, neighbours: Iterable[str], *, max_rumors: int = 10_000) -> None:
        super().__init__(max_rumors=max_rumors)
        self.neighbours = list(neighbours)

    def _spread(self, rumor_id: str, src: str | None) -> None:
        message = self._rumor_message([rumor_id])
        for neighbour in self.neighbours:
            if neighbour != src:
                self.ctx.send(neighbour, message)


class GossipNode(BroadcastNode):
    """Rumor mongering to `fanout` random `peers` a round, plus anti-entropy.

    `anti_entropy_every=0` turns anti-entropy off: pure rumor mongering.
    """

    def __init__(
        self,
        peers: Iterable[str],
        *,
        fanout: int = 2,
        hot_rounds: int = 3,
        anti_entropy_every: int = 2,
        period: float = 1.0,
        max_rumors: int = 10_000,
    ) -> None:
        super().__init__(max_rumors=max_rumors)
        self.peers = sorted(peers)
        if fanout < 1 or hot_rounds < 1 or anti_entropy_every < 0 or not period > 0:
            raise ValueError(
                "gossip needs fanout >= 1, hot_rounds >= 1, anti_entropy_every >= 0, period > 0"
            )
        self.fanout = fanout
        self.hot_rounds = hot_rounds
        self.anti_entropy_every = anti_entropy_every
        self.period = period

    def on_start(self) -> None:
        super().on_start()
        self.hot: dict[str, int] = {}  # rumor id -> rounds it is still pushed
        self.round = 0
        self.ctx.set_timer(self.period * self.ctx.random.random(), "round")  # not all in step

    def on_timer(self, name: Hashable) -> None:
        self.round += 1
        if self.hot:
            message = self._rumor_message(self.hot)
            for peer in self.ctx.random.sample(self.peers, min(self.fanout, len(self.peers))):
                self.ctx.send(peer, message)
            self.hot = {rumor: left - 1 for rumor, left in self.hot.items() if left > 1}
        if self.anti_entropy_every and self.round % self.anti_entropy_every == 0 and self.peers:
            self.ctx.send(self.ctx.random.choice(self.peers), ("digest", sorted(self.rumors)))
        self.ctx.set_timer(self.period, "round")

    def on_message(self, src: str, msg: Any) -> None:
        digest = parse_ids(msg, "digest", self.max_rumors)
        if digest is not None:
            theirs = set(digest)
            missing = [rumor for rumor in self.rumors if rumor not in theirs]
            if missing:
                self.ctx.send(src, self._rumor_message(missing))
            wanted = sorted(theirs - self.rumors.keys())
            if wanted:
                self.ctx.send(src, ("want", wanted))
            return
        wanted = parse_ids(msg, "want", self.max_rumors)
        if wanted is not None:
            have = [rumor for rumor in wanted if rumor in self.rumors]
            if have:
                self.ctx.send(src, self._rumor_message(have))
            return
        super().on_message(src, msg)

    def _spread(self, rumor_id: str, src: str | None) -> None:
        self.hot[rumor_id] = self.hot_rounds
