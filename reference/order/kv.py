"""A replicated key-value store on Raft, and a client that retries.

Theory of operation
-------------------
The store is a *replicated state machine*: every server applies the same
committed commands in the same order (reference/order/raft.py), so every
server computes the same store. The commands are ``("put", key, value)``
(returns None), ``("get", key)`` (the value, None if absent) and
``("cas", key, expected, new)`` (compare-and-set: True and the new value if
the key held `expected`, else False).

Exactly once, over a network that loses and duplicates. A client numbers
its calls, and a call is retried (to the same server, or another one) until
a reply comes back, so a command may reach the log twice: once from an
attempt whose reply was lost, once from the retry. Each command carries its
*request id* (client id, sequence number), and the state machine keeps a
*session table*: for every client, the last sequence number it applied and
the result. A command whose number was already applied is not run again;
the retry gets the remembered result. A client has one call outstanding at
a time, so one entry per client is enough, and the table is replicated
state like the store itself (`KVStore`).

Linearizable reads. A get goes through the log like a write: the leader
answers it only once it is committed, so the answer reflects every write
that completed before the get was called. A leader that answers a get from
its own copy (`LocalReadKVNode`, the deliberately broken variant) is fast
and usually right, but a leader cut off by a partition does not know it
has been replaced: it keeps answering from a store that the new leader's
writes never reach, and a client that wrote through the new leader can
read the old value afterwards. Real systems fix this with a *read index*
(confirm leadership with a round of heartbeats before answering) or a time
*lease*; going through the log, as here, is the simplest fix.

`KVNode` is a Raft server that serves clients: a follower or candidate
redirects a request with ``("kv_redirect", seq, leader_hint)``; the leader
proposes it and, once applied, answers ``("kv_reply", seq, result)``; a
malformed operation gets ``("kv_error", seq, reason)``.

`KVClient` runs operations one at a time: it sends
``("kv_request", seq, operation)`` to the server it believes leads, follows a
redirect's hint at once, and on a timeout (`retry_after`) tries the next
server. Each finished call is recorded in `history` as
``(operation, call_time, result, return_time)`` read on the client's own
clock; with `give_up_after`, a call that takes longer is abandoned and
recorded with result and return time None: it may or may not have taken
effect. `operations()` turns them into a history for the linearizability
checker (reference/order/linearizability.py), the abandoned calls and the
one still in flight as never returned, and `client_history(host, clients)`
gathers the histories of several clients. A client whose clock is skewed
records a skewed history, so clients checked together share one clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from reference.net.node import Node
from reference.order.history import Operation, timed_out
from reference.order.raft import RaftNode


def parse_operation(op: Any) -> tuple | None:
    """A well-formed KV operation as a tuple, or None."""
    if not isinstance(op, list | tuple) or not op:
        return None
    arity = {"get": 2, "put": 3, "cas": 4}.get(op[0])
    if arity != len(op) or not isinstance(op[1], str | int) or isinstance(op[1], bool):
        return None
    return tuple(op)


class KVStore:
    """The replicated state machine: the data and the session table."""

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}
        self.sessions: dict[str, tuple[int, Any]] = {}  # client -> (last seq, its result)

    def apply(self, command: Any) -> tuple[str, int, Any] | None:
        """Apply one committed command ``(client, seq, operation)``, or a no-op (None).

        Returns ``(client, seq, result)`` to answer, or None for a no-op or a
        command older than the client's last one (nobody waits for it any more).
        """
        if command is None:
            return None
        client, seq, op = command
        last = self.sessions.get(client)
        if last is not None and seq <= last[0]:
            return (client, seq, last[1]) if seq == last[0] else None
        result = self.execute(op)
        self.sessions[client] = (seq, result)
        return client, seq, result

    def execute(self, op: Sequence[Any]) -> Any:
        kind, key, *args = op
        if kind == "get":
            return self.data.get(key)
        if kind == "put":
            self.data[key] = args[0]
            return None
        expected, new = args
        if self.data.get(key) != expected:
            return False
        self.data[key] = new
        return True

    def answered(self, client: str, seq: int) -> tuple[bool, Any]:
        """(True, result) if `client`'s call `seq` was applied last, else (False, None)."""
        last = self.sessions.get(client)
        return (True, last[1]) if last is not None and last[0] == seq else (False, None)


class KVNode(RaftNode):
    """A Raft server whose state machine is a `KVStore`, answering `KVClient`s."""

    def on_start(self) -> None:
        super().on_start()
        self.store = KVStore()  # volatile: rebuilt from the log after a restart

    def on_client_message(self, src: str, msg: Any) -> None:
        if not (isinstance(msg, list | tuple) and len(msg) == 3 and msg[0] == "kv_request"):
            self.ctx.note(f"ignored a malformed message from {src}")
            return
        _, seq, raw = msg
        if type(seq) is not int:
            self.ctx.note(f"ignored a request without a sequence number from {src}")
            return
        if not self.is_leader:
            self.ctx.send(src, ("kv_redirect", seq, self.leader_id))
            return
        op = parse_operation(raw)
        if op is None:
            self.ctx.send(src, ("kv_error", seq, f"not a get, put or cas: {raw!r}"))
            return
        done, result = self.store.answered(src, seq)
        if done:  # a retry of a call already applied: answer it again, do not re-run it
            self.ctx.send(src, ("kv_reply", seq, result))
        else:
            self.handle_request(src, seq, op)

    def handle_request(self, client: str, seq: int, op: tuple) -> None:
        """Run a request through the log (reads too, so they are linearizable)."""
        self.propose((client, seq, op))

    def apply(self, index: int, command: Any) -> None:
        answer = self.store.apply(command)
        if answer is not None and self.is_leader:
            client, seq, result = answer
            self.ctx.send(client, ("kv_reply", seq, result))


class LocalReadKVNode(KVNode):
    """BROKEN on purpose: the leader answers gets from its own copy of the store.

    Writes still go through the log. A leader that a partition has cut off
    from the majority does not know it was replaced, so it serves stale reads.
    """

    def handle_request(self, client: str, seq: int, op: tuple) -> None:
        if op[0] == "get":
            self.ctx.send(client, ("kv_reply", seq, self.store.data.get(op[1])))
        else:
            super().handle_request(client, seq, op)


class KVClient(Node):
    """Runs `operations` (and later `submit`ted ones) one at a time against `servers`."""

    def __init__(
        self,
        servers: Sequence[str],
        operations: Iterable[Sequence[Any]] = (),
        *,
        retry_after: float = 0.25,
        give_up_after: float | None = None,
    ) -> None:
        if not servers:
            raise ValueError("a client needs at least one server")
        self.servers = list(servers)
        self.queue = deque(tuple(op) for op in operations)
        self.retry_after = retry_after
        self.give_up_after = give_up_after
        self.target = 0
        self.current: tuple[int, tuple, float] | None = None  # seq, operation, call time
        self.redirects = 0

    def on_start(self) -> None:
        self.ctx.storage.setdefault("next_seq", 1)  # request ids stay unique across restarts
        self.history: list[tuple] = self.ctx.storage.setdefault("history", [])
        self._next()

    @property
    def done(self) -> bool:
        return self.current is None and not self.queue

    def operations(self) -> list[Operation]:
        """Every call so far as a history for the checker (reference/order/history.py):
        one abandoned or still in flight is recorded as never returned."""
        calls = list(self.history)
        if self.current is not None:
            _, op, called = self.current
            calls.append((op, called, None, None))
        name = self.ctx.node_id
        return [
            timed_out(name, op, called)
            if returned is None
            else Operation(name, op, called, result, returned)
            for op, called, result, returned in calls
        ]

    def submit(self, op: Sequence[Any]) -> None:
        """Queue one more operation (after `on_start`)."""
        self.queue.append(tuple(op))
        self._next()

    def _next(self) -> None:
        if self.current is not None or not self.queue:
            return
        seq = self.ctx.storage["next_seq"]
        self.ctx.storage["next_seq"] = seq + 1
        self.current = (seq, self.queue.popleft(), self.ctx.now())
        if self.give_up_after is not None:
            self.ctx.set_timer(self.give_up_after, ("give_up", seq))
        self._send()

    def _send(self) -> None:
        seq, op, _ = self.current
        self.ctx.send(self.servers[self.target], ("kv_request", seq, op))
        self.ctx.set_timer(self.retry_after, ("retry", seq))

    def on_timer(self, name: Hashable) -> None:
        kind, seq = name
        if self.current is None or seq != self.current[0]:
            return
        if kind == "retry":
            self.target = (self.target + 1) % len(self.servers)
            self.redirects = 0
            self._send()
        else:  # give up: it may still take effect, so it is recorded as never returned
            self._finish(None, None)

    def on_message(self, src: str, msg: Any) -> None:
        if not (isinstance(msg, list | tuple) and len(msg) == 3) or self.current is None:
            return
        kind, seq, value = msg
        if seq != self.current[0]:
            return  # an answer to an earlier attempt
        if kind in ("kv_reply", "kv_error"):
            self._finish(value if kind == "kv_reply" else ("error", value), self.ctx.now())
        elif kind == "kv_redirect":
            hint_is_new = value in self.servers and value != src
            if hint_is_new and self.redirects < len(self.servers):
                self.target = self.servers.index(value)
                self.redirects += 1
                self._send()

    def _finish(self, result: Any, returned: float | None) -> None:
        seq, op, called = self.current
        self.history.append((op, called, result, returned))
        self.ctx.cancel_timer(("retry", seq))
        self.ctx.cancel_timer(("give_up", seq))
        self.current = None
        self._next()


def client_history(host: Any, clients: Iterable[str]) -> list[Operation]:
    """The histories of the `KVClient`s named `clients` on `host` (a simulation), together."""
    return [op for name in clients for op in host.node(name).operations()]
