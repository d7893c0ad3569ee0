"""Each attack twice: against a naive bank protocol, and against a protected one.

Theory of operation
-------------------
Alice sends her bank a few transfers (``{"op": "pay", "to": "bob",
"amount": 10, "memo": ...}`` or ``"deposit"``) through the attacker
(`reference/security/adversary.py`); the bank applies each to her
balance, refusing a payment she cannot cover. Three protections:

- ``"none"``: plain messages, ``{"from": "alice", ...}``. The bank
  believes whatever arrives, in the order it arrives;
- ``"hmac"``: HMAC-SHA256 envelopes (`reference/security/envelopes.py`)
  under a key Alice and the bank share, numbered by a sequence in the
  header, which the MAC covers;
- ``"aead"``: ChaCha20-Poly1305 envelopes (`reference/security/aead.py`),
  the body encrypted, the header bound as associated data.

A protected bank opens each envelope (refusing one whose MAC fails), asks
a `SequenceWindow` (`reference/security/replay.py`) whether its number is
new, and applies transfers in Alice's order: one that arrives early is
held until the ones before it have come (at most ``window`` ahead), so a
gap is seen and named in the trace. Cryptography cannot stop a drop; it
can make it detectable.

The links are honest but jittery (`LINK`, delays drawn from the seed); the
transfers are far enough apart that only the attacker reorders them.
One function per attack returns an `Outcome`: whether the attack
succeeded, the evidence in one line, and the simulation, whose trace
(``sim.trace``) holds the attacker's and the bank's notes and draws with
``spacetime.draw(outcome.sim.trace, label=label)``. What they show:

============  ==========================  =====================================
attack        none                        hmac / aead
============  ==========================  =====================================
eavesdrop     reads the memo              hmac: reads it too (a MAC hides
                                          nothing); aead: ciphertext only
tamper        bob's payment goes to       refused: the MAC does not match
              mallory
replay        bob is paid twice           refused: a duplicate sequence
reorder       the payment is refused,     held until the deposit arrives,
              the deposit comes late      then both applied in order
drop          unnoticed                   noticed: the bank waits for it
inject        mallory is paid             refused: mallory has no key
============  ==========================  =====================================
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reference.net.links import Link, Uniform
from reference.net.node import Node
from reference.net.simnet import Simulation
from reference.security.adversary import (
    Adversary,
    Attack,
    Drop,
    Eavesdrop,
    Inject,
    Reorder,
    Replay,
    Tamper,
)
from reference.security.aead import Sealer, open_sealed
from reference.security.envelopes import EnvelopeRefused, Header, canonical, open_hmac, seal_hmac
from reference.security.replay import SequenceWindow, Verdict
from reference.wire.untrusted import MalformedCBOR, loads_untrusted

PROTECTIONS = ("none", "hmac", "aead")
CLIENT, ATTACKER, BANK = "alice", "mallory", "bank"
SPACING = 0.1  # seconds between Alice's transfers
LINK = Link(delay=Uniform(0.005, 0.02))  # the seed decides each delay, never the order


class Refused(Exception):
    """The bank refuses a message; the text says why."""


def pay(to: str, amount: int, memo: str = "") -> dict:
    return {"op": "pay", "to": to, "amount": amount, "memo": memo}


def deposit(amount: int) -> dict:
    return {"op": "deposit", "to": CLIENT, "amount": amount, "memo": ""}


def check_transfer(body: Any) -> dict:
    """The transfer a message carries, or `Refused` if it is not one."""
    if not isinstance(body, dict) or set(body) != {"op", "to", "amount", "memo"}:
        raise Refused("not a transfer")
    if body["op"] not in ("pay", "deposit") or type(body["amount"]) is not int:
        raise Refused("not a transfer")
    if body["amount"] <= 0 or not isinstance(body["to"], str):
        raise Refused("not a transfer")
    return body


# --- The protocols: what Alice sends, and what the bank makes of it -----------------------


class Protocol:
    """One protection: how Alice wraps a transfer, how the bank unwraps it."""

    def __init__(self, protection: str, key: bytes) -> None:
        if protection not in PROTECTIONS:
            raise ValueError(f"protection is one of {PROTECTIONS}, not {protection!r}")
        self.protection = protection
        self.key = key
        self._sealer = Sealer(key, CLIENT)
        self._next_sequence = 0

    def wrap(self, body: dict) -> Any:
        if self.protection == "none":
            return {"from": CLIENT, **body}
        if self.protection == "aead":
            return self._sealer.seal("transfer", body)
        header = Header(CLIENT, "transfer", self._next_sequence)
        self._next_sequence += 1
        return seal_hmac(self.key, header, body)

    def unwrap(self, msg: Any) -> tuple[str, int | None, dict]:
        """(sender, sequence or None, transfer), or `Refused`."""
        if self.protection == "none":
            if not isinstance(msg, dict) or not isinstance(msg.get("from"), str):
                raise Refused("not a transfer")
            body = {name: value for name, value in msg.items() if name != "from"}
            return msg["from"], None, check_transfer(body)
        if not isinstance(msg, bytes):
            raise Refused("not an envelope")
        opener = open_sealed if self.protection == "aead" else open_hmac
        try:
            opened = opener(self.key, msg)
        except EnvelopeRefused as error:
            raise Refused(f"{type(error).__name__}: {error}") from None
        return opened.header.sender, opened.header.sequence, check_transfer(opened.body)


class BankClient(Node):
    """Alice: sends her transfers to `bank`, one every `SPACING` seconds."""

    def __init__(self, protocol: Protocol, transfers: list[dict], bank: str = ATTACKER) -> None:
        self.protocol = protocol
        self.transfers = transfers
        self.bank = bank

    def on_start(self) -> None:
        for index in range(len(self.transfers)):
            self.ctx.set_timer(index * SPACING, ("transfer", index))

    def on_timer(self, name: Any) -> None:
        self.ctx.send(self.bank, self.protocol.wrap(self.transfers[name[1]]))


class Bank(Node):
    """Applies Alice's transfers to her balance: naively, or in order and only once."""

    def __init__(self, protocol: Protocol, *, balance: int = 100, window: int = 8) -> None:
        self.protocol = protocol
        self.balance = balance
        self.applied: list[dict] = []
        self.refused: list[str] = []
        self.replays = SequenceWindow(window)
        self.next_sequence = 0
        self.held: dict[int, dict] = {}

    def on_message(self, src: str, msg: Any) -> None:
        try:
            sender, sequence, transfer = self.protocol.unwrap(msg)
            if sender != CLIENT:
                raise Refused(f"no account for {sender!r}")
            if sequence is None:  # naive: as it comes
                self._apply(transfer)
            else:
                self._in_order(sequence, transfer)
        except Refused as refusal:
            self.refused.append(str(refusal))
            self.ctx.note(f"refused {refusal}")

    def _in_order(self, sequence: int, transfer: dict) -> None:
        if sequence >= self.next_sequence + self.replays.size:
            raise Refused(f"#{sequence} is too far ahead")
        verdict = self.replays.accept(sequence)
        if verdict is not Verdict.NEW:
            raise Refused(f"#{sequence}: {verdict.value}")
        self.held[sequence] = transfer
        while self.next_sequence in self.held:
            transfer = self.held.pop(self.next_sequence)
            self.next_sequence += 1
            self._apply(transfer)
        if self.held:
            self.ctx.note(f"holding #{min(self.held)}, waiting for #{self.next_sequence}")

    def _apply(self, transfer: dict) -> None:
        amount = transfer["amount"]
        if transfer["op"] == "deposit":
            self.balance += amount
        elif amount > self.balance:
            self.refused.append(f"pay {transfer['to']} {amount}: insufficient funds")
            self.ctx.note(f"refused {self.refused[-1]}")
            return
        else:
            self.balance -= amount
        self.applied.append(transfer)
        self.ctx.note(f"{transfer['op']} {transfer['to']} {amount}, balance {self.balance}")


# --- Running an attack ---------------------------------------------------------------------


@dataclass
class Outcome:
    """What an attack achieved against one protection."""

    attack: str
    protection: str
    succeeded: bool
    evidence: str
    sim: Simulation = field(repr=False)


def run_attack(
    attack: Attack, protection: str, transfers: list[dict], *, seed: int = 0, balance: int = 100
) -> tuple[Simulation, Bank]:
    """Alice's transfers through `attack` to a bank with `protection`; run to the end."""
    key = shared_key(seed)
    sim = Simulation(seed, link=LINK)
    sim.add_node(CLIENT, lambda: BankClient(Protocol(protection, key), transfers))
    sim.add_node(ATTACKER, lambda: Adversary(attack, {CLIENT: BANK}, target=CLIENT))
    sim.add_node(BANK, lambda: Bank(Protocol(protection, key), balance=balance))
    sim.run(until=len(transfers) * SPACING + 5.0)
    return sim, sim.node(BANK)


def shared_key(seed: int) -> bytes:
    """The key Alice and the bank share in the run with this seed (the attacker lacks it)."""
    return hashlib.sha256(f"alice and the bank, seed {seed}".encode()).digest()


def paid(bank: Bank, to: str) -> list[int]:
    return [t["amount"] for t in bank.applied if t["op"] == "pay" and t["to"] == to]


SECRET_MEMO = "rent, flat 4b"


def eavesdrop(protection: str, seed: int = 0) -> Outcome:
    attack = Eavesdrop()
    sim, _ = run_attack(attack, protection, [pay("bob", 10, SECRET_MEMO)], seed=seed)
    read = [peek(msg) for msg in attack.recorded]
    memos = [body["memo"] for body in read if body is not None]
    evidence = f"the attacker read {memos!r}" if memos else "the attacker read only ciphertext"
    return Outcome("eavesdrop", protection, SECRET_MEMO in memos, evidence, sim)


def tamper(protection: str, seed: int = 0) -> Outcome:
    sim, bank = run_attack(Tamper(redirect_to_mallory), protection, [pay("bob", 10)], seed=seed)
    return _paid_mallory("tamper", protection, bank, sim)


def replay(protection: str, seed: int = 0) -> Outcome:
    sim, bank = run_attack(Replay(which=0, after=1.0), protection, [pay("bob", 10)], seed=seed)
    payments = paid(bank, "bob")
    evidence = f"bob was paid {payments}; refused: {bank.refused}"
    return Outcome("replay", protection, len(payments) > 1, evidence, sim)


def reorder(protection: str, seed: int = 0) -> Outcome:
    transfers = [deposit(50), pay("bob", 120)]
    sim, bank = run_attack(Reorder(which=0), protection, transfers, seed=seed)
    applied_order = [t["op"] for t in bank.applied]
    evidence = f"applied {applied_order}; refused: {bank.refused}"
    return Outcome("reorder", protection, applied_order != ["deposit", "pay"], evidence, sim)


def drop(protection: str, seed: int = 0) -> Outcome:
    transfers = [pay("bob", 10), pay("bob", 20), pay("bob", 30)]
    sim, bank = run_attack(Drop(which=1), protection, transfers, seed=seed)
    noticed = bool(bank.held)
    evidence = f"bob was paid {paid(bank, 'bob')}; " + (
        f"the bank is waiting for #{bank.next_sequence}" if noticed else "nobody noticed"
    )
    return Outcome("drop", protection, not noticed, evidence, sim)


def inject(protection: str, seed: int = 0) -> Outcome:
    attack = Inject(BANK, forged_payment(protection), at=0.05)
    sim, bank = run_attack(attack, protection, [pay("bob", 10)], seed=seed)
    return _paid_mallory("inject", protection, bank, sim)


ATTACKS: dict[str, Callable[..., Outcome]] = {
    "eavesdrop": eavesdrop,
    "tamper": tamper,
    "replay": replay,
    "reorder": reorder,
    "drop": drop,
    "inject": inject,
}


def _paid_mallory(name: str, protection: str, bank: Bank, sim: Simulation) -> Outcome:
    evidence = f"mallory was paid {paid(bank, 'mallory')}; refused: {bank.refused}"
    return Outcome(name, protection, bool(paid(bank, "mallory")), evidence, sim)


# --- What the attacker can do with bytes ---------------------------------------------------


def peek(msg: Any) -> dict | None:
    """The transfer an eavesdropper can read in a message, if any."""
    if isinstance(msg, dict):
        return msg
    try:
        parts = loads_untrusted(msg)
    except MalformedCBOR:
        return None
    body = parts[1] if isinstance(parts, list) and len(parts) > 1 else None
    return body if isinstance(body, dict) else None  # AEAD: the body is ciphertext


def redirect_to_mallory(msg: Any) -> Any:
    """Send the payment to mallory: edit the fields where they are readable, else flip a bit."""
    if isinstance(msg, dict):
        return {**msg, "to": "mallory", "amount": 90}
    parts = loads_untrusted(msg)
    if isinstance(parts[1], dict):  # HMAC: the body is in clear, the old MAC kept
        parts[1] = {**parts[1], "to": "mallory", "amount": 90}
    else:  # AEAD: a stream cipher, so a flipped ciphertext bit flips the same plaintext bit
        parts[1] = bytes([parts[1][0] ^ 1]) + parts[1][1:]
    return canonical(parts)


def forged_payment(protection: str) -> Callable[[], Any]:
    """Mallory's own message, in Alice's name, made with the key Mallory has: its own."""
    own_key = hmac.new(b"mallory", b"a key guessed", hashlib.sha256).digest()
    return lambda: Protocol(protection, own_key).wrap(pay("mallory", 90))


def label(msg: Any) -> str:
    """A short label for the space-time diagram: the transfer if readable, and the sequence."""
    body = peek(msg)
    if isinstance(msg, dict):
        return f"{body['op']} {body['to']} {body['amount']}"
    sequence = loads_untrusted(msg)[0]["seq"]
    readable = "sealed" if body is None else f"{body['op']} {body['to']} {body['amount']}"
    return f"#{sequence} {readable}"
