"""A distance-vector router: Bellman-Ford, one neighbour's vector at a time.

Theory of operation
-------------------
No router knows the whole network. Each knows its direct neighbours and
the cost of the link to each (constructor arguments), and keeps a *routing
table*: for every destination it has heard of, ``(cost, next_hop)``, its own
entry being ``(0, itself)``. Every `period` seconds, and at once whenever its
table changes (a *triggered update*), it sends each neighbour its *distance
vector*: ``("vector", {destination: cost})``.

When a vector arrives from neighbour `n` over a link of cost `c`, the
Bellman-Ford rule (`update_routes`, a pure function) decides, destination by
destination, with ``candidate = c + cost advertised by n``:

- a destination not in the table yet is adopted through `n`;
- a cheaper candidate replaces the current route;
- if the current route already goes through `n`, the candidate replaces it
  *even if it is worse*: `n` is the one who knows, and its news may be bad.
  A destination `n` no longer lists is, through `n`, unreachable.

Costs stop at `INFINITY` (16, as in RIP, RFC 2453): a route that costs 16 is
no route. That bound is what ends *count-to-infinity*: after a destination
is lost, two neighbours can each believe the other still reaches it and push
the cost up by the link cost each round, until it reaches 16.
*Split horizon with poisoned reverse* (`vector_for`, on by default) prevents
that between two neighbours: a router tells the neighbour it routes through
that the destination is at 16 from here, so the neighbour never routes back
through it. (A loop of three routers can still count; 16 bounds it.)

Neighbours may fail silently, so each vector is also a sign of life: a
neighbour not heard from for more than `dead_after` periods is taken for
dead and every route through it is set to 16 (`forget_neighbour`).

Data travels as ``("data", origin, destination, ttl, payload)``: each router
looks the destination up and hands the message to the next hop, one hop
less of `ttl`; the destination appends ``[origin, payload]`` to
``storage["delivered"]``. A message with no route, or whose TTL runs out (a
routing loop), is dropped with a note in the trace. Malformed messages, and
messages from nodes that are not neighbours, are ignored with a note;
a vector listing more than `max_destinations` destinations is one of them,
and so is one that would grow the table past that many: a table keeps its
unreachable entries (to advertise them at 16), so its size is bounded here.

Tables are soft state: nothing goes to storage, a restarted router learns
its routes again from its neighbours' next vectors.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from reference.net.node import Node

INFINITY = 16
"""The cost that means "unreachable" (RIP's)."""

Route = tuple[int, str]
"""``(cost, next_hop)``."""

Table = dict[str, Route]
"""Destination -> route."""


# --- The rules, as pure functions ------------------------------------------------------


def update_routes(
    table: Mapping[str, Route], neighbour: str, their_vector: Mapping[str, int], link_cost: int
) -> tuple[Table, bool]:
    """Bellman-Ford: the table after `neighbour`'s vector, and whether it changed.

    `table` is not modified. `their_vector` is complete: a destination it does
    not list is unreachable through `neighbour`.

    >>> table = {"a": (0, "a"), "c": (5, "c")}
    >>> update_routes(table, "b", {"b": 0, "c": 1}, 2)
    ({'a': (0, 'a'), 'c': (3, 'b'), 'b': (2, 'b')}, True)
    >>> update_routes({"a": (0, "a"), "c": (3, "b")}, "b", {"b": 0, "c": 9}, 2)
    ({'a': (0, 'a'), 'c': (11, 'b'), 'b': (2, 'b')}, True)
    """
    new = dict(table)
    for destination, (_, next_hop) in table.items():
        if next_hop == neighbour and destination not in their_vector:
            new[destination] = (INFINITY, neighbour)
    for destination, advertised in their_vector.items():
        candidate = min(INFINITY, link_cost + advertised)
        current = new.get(destination)
        if current is None:
            if candidate < INFINITY:
                new[destination] = (candidate, neighbour)
        elif current[1] == neighbour or candidate < current[0]:
            new[destination] = (candidate, neighbour)
    return new, new != table


def vector_for(
    table: Mapping[str, Route], neighbour: str, *, poisoned_reverse: bool = True
) -> dict[str, int]:
    """The distance vector to send `neighbour`: every destination's cost, with
    the routes that go through `neighbour` advertised at `INFINITY` (split
    horizon with poisoned reverse) unless `poisoned_reverse` is False."""
    return {
        destination: INFINITY if poisoned_reverse and next_hop == neighbour else cost
        for destination, (cost, next_hop) in table.items()
    }


def forget_neighbour(table: Mapping[str, Route], neighbour: str) -> Table:
    """The table with every route through `neighbour` set to `INFINITY`."""
    return {
        destination: (INFINITY, next_hop) if next_hop == neighbour else (cost, next_hop)
        for destination, (cost, next_hop) in table.items()
    }


def reachable(table: Mapping[str, Route]) -> dict[str, Route]:
    """The routes that lead somewhere (cost below `INFINITY`)."""
    return {dest: route for dest, route in table.items() if route[0] < INFINITY}


# --- Messages ------------------------------------------------------------------------------


def _is_cost(value: Any) -> bool:
    return type(value) is int and value >= 0


def parse_vector(msg: Any, max_destinations: int) -> dict[str, int] | None:
    """``("vector", {destination: cost})`` as its dict, or None if malformed."""
    if not (isinstance(msg, list | tuple) and len(msg) == 2 and msg[0] == "vector"):
        return None
    vector = msg[1]
    if not isinstance(vector, dict) or len(vector) > max_destinations:
        return None
    if all(isinstance(dest, str) and _is_cost(cost) for dest, cost in vector.items()):
        return vector
    return None


def parse_data(msg: Any) -> tuple[str, str, int, Any] | None:
    """``("data", origin, destination, ttl, payload)`` as a tuple, or None if malformed."""
    if isinstance(msg, list | tuple) and len(msg) == 5 and msg[0] == "data":
        _, origin, destination, ttl, payload = msg
        if isinstance(origin, str) and isinstance(destination, str) and _is_cost(ttl):
            return origin, destination, ttl, payload
    return None


# --- The router ------------------------------------------------------------------------------


class DistanceVectorRouter(Node):
    """A router that knows its neighbours' link costs and learns the rest.

    `links` maps each neighbour to the cost of the link to it (a positive
    integer). `table` is the routing table; `send_data(destination, payload)`
    sends data from this router. `update_rule` is the Bellman-Ford step it
    applies to each vector (`update_routes`); a subclass may try another.
    """

    update_rule = staticmethod(update_routes)

    def __init__(
        self,
        links: Mapping[str, int],
        *,
        period: float = 1.0,
        dead_after: int = 3,
        poisoned_reverse: bool = True,
        triggered_updates: bool = True,
        ttl: int = INFINITY,
        max_destinations: int = 1024,
    ) -> None:
        for neighbour, cost in links.items():
            if not isinstance(neighbour, str):
                raise TypeError(f"neighbours are node ids (strings), got {neighbour!r}")
            if type(cost) is not int or not 0 < cost < INFINITY:
                raise ValueError(
                    f"a link cost is an integer from 1 to {INFINITY - 1}, got {cost!r}"
                )
        if not period > 0 or dead_after < 1 or ttl < 1:
            raise ValueError("a router needs period > 0, dead_after >= 1 and ttl >= 1")
        self.links = dict(links)
        self.period = period
        self.dead_after = dead_after
        self.poisoned_reverse = poisoned_reverse
        self.triggered_updates = triggered_updates
        self.ttl = ttl
        self.max_destinations = max_destinations

    def on_start(self) -> None:
        me = self.ctx.node_id
        self.table: Table = {me: (0, me)}
        now = self.ctx.now()
        self.last_heard = dict.fromkeys(self.links, now)  # a grace period after a (re)start
        self.alive = set(self.links)
        self.on_timer("advertise")

    def on_timer(self, name: Hashable) -> None:
        self._check_neighbours()
        self._advertise()
        self.ctx.set_timer(self.period, "advertise")

    def on_message(self, src: str, msg: Any) -> None:
        if src not in self.links:
            self.ctx.note(f"ignored a message from {src}, not a neighbour")
            return
        vector = parse_vector(msg, self.max_destinations)
        if vector is not None:
            self._heard_from(src)
            table, changed = self.update_rule(self.table, src, vector, self.links[src])
            if len(table) > self.max_destinations:
                self.ctx.note(f"ignored a vector from {src}: too many destinations")
                return
            self.table = table
            if changed and self.triggered_updates:
                self._advertise()
            return
        data = parse_data(msg)
        if data is None:
            self.ctx.note(f"ignored a malformed message from {src}")
            return
        self._route(*data)

    def send_data(self, destination: str, payload: Any) -> None:
        """Send `payload` from this router to `destination`, hop by hop."""
        self._route(self.ctx.node_id, destination, self.ttl, payload)

    # -- Inside

    def _route(self, origin: str, destination: str, ttl: int, payload: Any) -> None:
        if destination == self.ctx.node_id:
            self.ctx.storage.setdefault("delivered", []).append([origin, payload])
            self.ctx.note(f"delivered {payload!r} from {origin}")
            return
        route = self.table.get(destination)
        if route is None or route[0] >= INFINITY:
            self.ctx.note(f"no route to {destination}: dropped {payload!r}")
        elif ttl == 0:
            self.ctx.note(f"TTL ran out on the way to {destination}: dropped {payload!r}")
        else:
            self.ctx.send(route[1], ("data", origin, destination, ttl - 1, payload))

    def _heard_from(self, neighbour: str) -> None:
        self.last_heard[neighbour] = self.ctx.now()
        if neighbour not in self.alive:
            self.alive.add(neighbour)
            self.ctx.note(f"neighbour {neighbour} is back")

    def _check_neighbours(self) -> None:
        now = self.ctx.now()
        for neighbour in sorted(self.alive):
            if now - self.last_heard[neighbour] > self.dead_after * self.period:
                self.alive.discard(neighbour)
                self.table = forget_neighbour(self.table, neighbour)
                self.ctx.note(f"neighbour {neighbour} is silent: its routes are gone")

    def _advertise(self) -> None:
        for neighbour in self.links:
            vector = vector_for(self.table, neighbour, poisoned_reverse=self.poisoned_reverse)
            self.ctx.send(neighbour, ("vector", vector))
