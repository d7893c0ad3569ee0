"""The fault campaign: the chat on the simulator, under faults drawn from a seed, then checked.

Theory of operation
-------------------
One *run* builds a `Simulation` with the relay (reference/capstone/relay.py)
and `members` chat members (reference/capstone/member.py) in one room,
plays a scripted conversation, and breaks things while it plays. Everything
is drawn from the run's seed, so a failing seed replays exactly:

- the links between each member and the broker lose, duplicate and delay
  (so reorder) messages, with chances and delays drawn per run
  (`reference.net.links.Link`, `Uniform`);
- members are cut off from the broker for a while (partitions);
- members crash and restart later, with their storage;
- the broker restarts (losing its subscriptions and what was in flight);
- on some seeds the broker tampers (`Tampering`: a changed text, a forged
  post, a replay, or a member's messages dropped for a while).

The conversation: `posts` messages at random times during the faulty
period, each by a random member that is up; about half of them answer a
message, picked among those the replier has shown by then. The campaign
records each post as a `Posted`, with what the author had shown, outside
the chat. At `HEAL_AT` every fault ends: partitions heal, crashed members
restart, links become perfect (the broker's cheating ended before). The run then goes
on, in steps of `QUIET_STEP` virtual seconds, until it is quiet (no member
waits for an acknowledgement or holds a message back, and all have shown the
same number of messages of each author), and at most `SETTLE_LIMIT`
seconds. Then `check_chat` (reference/capstone/chat_checks.py) gives the
verdict.

`run_campaign(seeds)` runs many and returns their verdicts; `run_chat`
returns one run with its simulation, for a closer look (its trace draws as a
space-time diagram with reference/net/spacetime.py).
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from reference.capstone.chat_checks import Posted, Verdict, check_chat
from reference.capstone.member import ChatMember, Guarantees
from reference.capstone.relay import TAMPER_MODES, Relay, Tampering
from reference.net.links import Link, Uniform
from reference.net.simnet import Simulation
from reference.security.permissions import Permissions

ROOM = "r1"
BROKER = "broker"
NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")
HEAL_AT = 30.0
QUIET_STEP = 5.0
SETTLE_LIMIT = 60.0
HEALED_LINK = Link(delay=Uniform(0.005, 0.05))
ALL_ON = Guarantees()
DRAW = "draw"  # tampering=DRAW: let the seed decide whether and how the broker cheats


@dataclass(frozen=True, slots=True)
class Faults:
    """What goes wrong in one run, all before `HEAL_AT`."""

    link: Link
    partitions: tuple[tuple[str, float, float], ...]  # (member, from, to): cut from the broker
    crashes: tuple[tuple[str, float, float], ...]  # (member, crash, restart)
    broker_restarts: tuple[float, ...]
    tampering: Tampering | None


@dataclass
class ChatRun:
    """One run: its seed, faults, simulation, what was really posted, and the verdict."""

    seed: int
    names: tuple[str, ...]
    faults: Faults
    sim: Simulation
    posted: list[Posted] = field(default_factory=list)
    verdict: Verdict | None = None


def member_keys(names: Iterable[str]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Fixed Ed25519 keys for the simulator (never for real use): private and public, by name."""
    private = {name: hashlib.sha256(f"campaign key {name}".encode()).digest() for name in names}
    public = {
        name: Ed25519PrivateKey.from_private_bytes(key)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
        for name, key in private.items()
    }
    return private, public


def chat_permissions(room: str, name: str) -> Permissions:
    """What a member's token grants: its room and direct subjects, as the contract says."""
    return Permissions(
        publish=[f"chat.{room}", f"chat.{room}.*"],
        subscribe=[f"chat.{room}", f"chat.{room}.{name}"],
    )


def draw_faults(rng: random.Random, names: Sequence[str], tampering: Tampering | str | None):
    """The faults of one run, drawn from `rng` (tampering too, if it is `DRAW`)."""
    link = Link(
        loss=rng.choice((0.0, 0.05, 0.2)),
        duplicate=rng.choice((0.0, 0.1, 0.3)),
        delay=Uniform(0.005, rng.choice((0.02, 0.2, 1.0))),
    )
    partitions = tuple(_intervals(rng, names, rng.randrange(3)))
    crashes = tuple(_intervals(rng, names, rng.randrange(3)))
    broker_restarts = tuple(sorted(rng.uniform(1.0, HEAL_AT) for _ in range(rng.randrange(2))))
    if tampering == DRAW:
        tampering = None
        if rng.random() < 0.25:
            start = rng.uniform(0.0, HEAL_AT / 2)
            stop = rng.uniform(start, HEAL_AT)
            tampering = Tampering(rng.choice(TAMPER_MODES), rng.choice(names), start, stop)
    return Faults(link, partitions, crashes, broker_restarts, tampering)


def _intervals(rng: random.Random, names: Sequence[str], count: int):
    for _ in range(count):
        start = rng.uniform(0.5, HEAL_AT - 1.0)
        yield rng.choice(names), start, rng.uniform(start, min(HEAL_AT, start + 10.0))


def run_chat(
    seed: int,
    *,
    members: int = 3,
    posts: int = 10,
    guarantees: Guarantees = ALL_ON,
    tampering: Tampering | str | None = DRAW,
) -> ChatRun:
    """Run the chat once under the faults drawn from `seed`, heal, settle, check."""
    names = NAMES[:members]
    rng = random.Random(f"capstone campaign {seed}")
    faults = draw_faults(rng, names, tampering)
    sim = Simulation(seed, link=faults.link)
    run = ChatRun(seed, names, faults, sim)
    permissions = {name: chat_permissions(ROOM, name) for name in names}
    sim.add_node(
        BROKER, functools.partial(Relay, permissions=permissions, tampering=faults.tampering)
    )
    private, public = member_keys(names)
    for name in names:
        member = functools.partial(
            ChatMember, name, ROOM, names, private[name], public, guarantees=guarantees
        )
        sim.add_node(name, member)
    schedule_faults(sim, faults)
    for _ in range(posts):
        sim.call_at(rng.uniform(0.5, HEAL_AT), _post, run, rng.choice(names), rng)
    sim.call_at(HEAL_AT, heal_everything, sim, names)
    sim.run(until=HEAL_AT)
    while sim.now < HEAL_AT + SETTLE_LIMIT and not is_quiet(sim, names):
        sim.run(until=sim.now + QUIET_STEP)
    shown = {name: sim.node(name).shown for name in names}
    run.verdict = check_chat(run.posted, shown, seed=seed)
    return run


def run_campaign(seeds: Iterable[int], **options) -> list[Verdict]:
    """The verdicts of one run per seed (options as for `run_chat`)."""
    return [run_chat(seed, **options).verdict for seed in seeds]


def schedule_faults(sim: Simulation, faults: Faults) -> None:
    """Put the faults of one run on the simulator's schedule (all before `HEAL_AT`)."""
    for name, start, stop in faults.partitions:
        sim.call_at(start, sim.partition, [name], [BROKER])
        sim.call_at(stop, sim.heal, [name], [BROKER])
    for name, crash, restart in faults.crashes:
        sim.call_at(crash, sim.crash, name)
        sim.call_at(restart, _restart_if_down, sim, name)
    for time in faults.broker_restarts:
        sim.call_at(time, sim.restart, BROKER)


def _post(run: ChatRun, author: str, rng: random.Random) -> None:
    if not run.sim.is_up(author):
        return
    member = run.sim.node(author)
    seen = frozenset(item.id for item in member.shown)
    reply_to = rng.choice(sorted(seen)) if seen and rng.random() < 0.5 else None
    text = f"{author} says #{len(run.posted) + 1}"
    message_id = member.post(text, reply_to=reply_to)
    run.posted.append(Posted(message_id, text, reply_to, seen))


def _restart_if_down(sim: Simulation, name: str) -> None:
    if not sim.is_up(name):
        sim.restart(name)


def heal_everything(sim: Simulation, names: Sequence[str]) -> None:
    """Heal every partition, restart every member that is down, and calm the links."""
    sim.heal()
    for name in names:
        _restart_if_down(sim, name)
        sim.set_link(name, BROKER, HEALED_LINK)


def is_quiet(sim: Simulation, names: Sequence[str]) -> bool:
    """Nothing unacknowledged, nothing held back, and every member has shown the same."""
    members = [sim.node(name) for name in names]
    if any(sim.storage(name)["unacked"] for name in names):
        return False
    if any(member.held_back for member in members):
        return False
    return all(member.delivered == members[0].delivered for member in members)
