"""An attacker on the path, on the simulator: eavesdrop, tamper, replay, reorder, drop, inject.

Theory of operation
-------------------
The threat model of the network: an attacker on the path between two
parties sees every message, and may change it, hold it, send it again,
drop it, or send messages of its own under anyone's name. A network
address proves nothing; only what the bytes themselves prove counts.

On the simulator (`reference/net/simnet.py`) the attacker is a node,
`Adversary`, that the traffic is routed through: each party is told that
its peer is the adversary's node id, as a client is handed an address the
attacker answers for (a spoofed DNS answer, a poisoned ARP cache, a
hostile Wi-Fi hotspot). The simulator needs no change and runs as it
always does; the trace shows each message going to the attacker and, if
it lets it, on from the attacker, and the space-time diagram draws the
attacker as one more lifeline in the middle.

The adversary forwards by `routes` (``{"alice": "bank", "bank":
"alice"}``). Messages from its `target` go to its `Attack` first, with
their number (0, 1, 2, ... in the order they reached the attacker); an
attack calls back `forward`, `send_later` and `note`, so that what it did
is a line in the trace:

- `Eavesdrop` records every message (`recorded`) and forwards it;
- `Tamper` forwards message `which` changed by `change(msg)`;
- `Replay` forwards message `which`, and sends a copy again `after`
  seconds later;
- `Reorder` holds message `which` back until `lag` seconds after the
  next one has passed;
- `Drop` forwards everything but message `which`;
- `Inject` sends `forge()` to `dst` at time `at`, a message nobody sent.

Whether an attack *succeeds* depends on the protocol it meets, not on the
attacker: `reference/security/attack_scenarios.py` runs each against a
naive protocol and a protected one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reference.net.node import Node


class Attack:
    """What the attacker does with each message from its target: by default, nothing."""

    def start(self, adversary: Adversary) -> None:
        """Called once, when the adversary's node starts."""

    def intercept(self, adversary: Adversary, index: int, dst: str, msg: Any) -> None:
        """Message number `index` from the target, on its way to `dst`."""
        adversary.forward(dst, msg)


class Adversary(Node):
    """A node on the path: forwards by `routes`, and lets `attack` handle the target's traffic."""

    def __init__(self, attack: Attack, routes: Mapping[str, str], *, target: str) -> None:
        self.attack = attack
        self.routes = dict(routes)
        self.target = target
        self.intercepted = 0
        self._later: dict[int, tuple[str, Any, str]] = {}
        self._timers = 0

    def on_start(self) -> None:
        self.attack.start(self)

    def on_message(self, src: str, msg: Any) -> None:
        dst = self.routes.get(src)
        if dst is None:
            self.note(f"no route from {src}: dropped")
        elif src != self.target:
            self.forward(dst, msg)
        else:
            index, self.intercepted = self.intercepted, self.intercepted + 1
            self.attack.intercept(self, index, dst, msg)

    def forward(self, dst: str, msg: Any) -> None:
        self.ctx.send(dst, msg)

    def send_later(self, delay: float, dst: str, msg: Any, note: str) -> None:
        """Send `msg` to `dst` in `delay` seconds, writing `note` in the trace then."""
        self._timers += 1
        self._later[self._timers] = (dst, msg, note)
        self.ctx.set_timer(delay, ("send later", self._timers))

    def on_timer(self, name: Any) -> None:
        dst, msg, note = self._later.pop(name[1])
        self.note(note)
        self.ctx.send(dst, msg)

    def note(self, text: str) -> None:
        self.ctx.note(text)


@dataclass
class Eavesdrop(Attack):
    """Record every message, change nothing."""

    recorded: list = field(default_factory=list)

    def intercept(self, adversary: Adversary, index: int, dst: str, msg: Any) -> None:
        self.recorded.append(msg)
        adversary.note(f"copied message {index}")
        adversary.forward(dst, msg)


@dataclass
class Tamper(Attack):
    """Forward message `which` as `change(msg)`."""

    change: Callable[[Any], Any]
    which: int = 0

    def intercept(self, adversary: Adversary, index: int, dst: str, msg: Any) -> None:
        if index == self.which:
            msg = self.change(msg)
            adversary.note(f"changed message {index}")
        adversary.forward(dst, msg)


@dataclass
class Replay(Attack):
    """Forward message `which`, then send it again `after` seconds later."""

    which: int = 0
    after: float = 1.0

    def intercept(self, adversary: Adversary, index: int, dst: str, msg: Any) -> None:
        adversary.forward(dst, msg)
        if index == self.which:
            adversary.note(f"kept a copy of message {index}")
            adversary.send_later(self.after, dst, msg, f"replayed message {index}")


@dataclass
class Reorder(Attack):
    """Hold message `which` back until `lag` seconds after message `which + 1` has passed."""

    which: int = 0
    lag: float = 0.05
    _held: tuple[str, Any] | None = None

    def intercept(self, adversary: Adversary, index: int, dst: str, msg: Any) -> None:
        if index == self.which:
            self._held = (dst, msg)
            adversary.note(f"holding message {index} back")
            return
        adversary.forward(dst, msg)
        if index == self.which + 1 and self._held is not None:
            note = f"released message {self.which} after message {index}"
            adversary.send_later(self.lag, *self._held, note)
            self._held = None


@dataclass
class Drop(Attack):
    """Forward everything but message `which`."""

    which: int = 0

    def intercept(self, adversary: Adversary, index: int, dst: str, msg: Any) -> None:
        if index == self.which:
            adversary.note(f"dropped message {index}")
            return
        adversary.forward(dst, msg)


@dataclass
class Inject(Attack):
    """Send `forge()`, a message nobody sent, to `dst` at time `at`."""

    dst: str
    forge: Callable[[], Any]
    at: float = 0.0

    def start(self, adversary: Adversary) -> None:
        adversary.send_later(self.at, self.dst, self.forge(), "injected a forged message")
