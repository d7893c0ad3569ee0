"""Each attack succeeds on the naive bank and fails on the protected ones, on fixed seeds."""

from __future__ import annotations

import matplotlib
import pytest

from reference.net import spacetime
from reference.security.adversary import Inject
from reference.security.attack_scenarios import (
    ATTACKS,
    BANK,
    SECRET_MEMO,
    Bank,
    Protocol,
    label,
    pay,
    run_attack,
    shared_key,
)
from reference.security.envelopes import Header, seal_hmac

matplotlib.use("Agg")

SEEDS = [0, 1, 7]
# (attack, protection) -> does the attack succeed? Eavesdropping beats a MAC: it hides nothing.
EXPECTED = {
    (attack, protection): protection == "none" or (attack, protection) == ("eavesdrop", "hmac")
    for attack in ATTACKS
    for protection in ("none", "hmac", "aead")
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("attack", "protection"), EXPECTED)
def test_the_attack_succeeds_only_where_expected(attack, protection, seed):
    outcome = ATTACKS[attack](protection, seed)
    assert outcome.succeeded is EXPECTED[attack, protection], outcome.evidence


def notes(outcome) -> list[tuple[str, str]]:
    return [(event.node, event.text) for event in outcome.sim.trace if event.kind == "note"]


def test_eavesdropping_reads_plain_and_maced_bodies_but_not_sealed_ones():
    for protection in ("none", "hmac"):
        assert SECRET_MEMO in ATTACKS["eavesdrop"](protection).evidence
    sealed = ATTACKS["eavesdrop"]("aead")
    assert sealed.evidence == "the attacker read only ciphertext"
    memo_bytes = SECRET_MEMO.encode().hex()  # the trace writes bytes in hex
    assert memo_bytes not in sealed.sim.trace.text()
    assert memo_bytes in ATTACKS["eavesdrop"]("hmac").sim.trace.text()


def test_the_trace_shows_the_tampering_and_the_refusal():
    naive, protected = ATTACKS["tamper"]("none"), ATTACKS["tamper"]("hmac")
    assert ("mallory", "changed message 0") in notes(naive)
    assert ("bank", "pay mallory 90, balance 10") in notes(naive)
    assert notes(protected)[-1] == (
        "bank",
        "refused BadMac: the MAC of transfer #0 does not match",
    )


def test_a_replay_is_applied_twice_naively_and_refused_as_a_duplicate_otherwise():
    naive, protected = ATTACKS["replay"]("none"), ATTACKS["replay"]("aead")
    assert notes(naive)[-2:] == [
        ("mallory", "replayed message 0"),
        ("bank", "pay bob 10, balance 80"),
    ]
    assert notes(protected)[-2:] == [
        ("mallory", "replayed message 0"),
        ("bank", "refused #0: duplicate"),
    ]


def test_reordering_is_undone_by_holding_the_early_message():
    naive, protected = ATTACKS["reorder"]("none"), ATTACKS["reorder"]("hmac")
    assert ("bank", "refused pay bob 120: insufficient funds") in notes(naive)
    assert [text for node, text in notes(protected) if node == "bank"] == [
        "holding #1, waiting for #0",
        "deposit alice 50, balance 150",
        "pay bob 120, balance 30",
    ]


def test_a_drop_goes_unnoticed_naively_and_leaves_a_named_gap_otherwise():
    naive, protected = ATTACKS["drop"]("none"), ATTACKS["drop"]("aead")
    assert naive.evidence == "bob was paid [10, 30]; nobody noticed"
    assert protected.evidence == "bob was paid [10]; the bank is waiting for #1"
    assert ("bank", "holding #2, waiting for #1") in notes(protected)


def test_an_injected_payment_in_alices_name_needs_her_key():
    assert "mallory was paid [90]" in ATTACKS["inject"]("none").evidence
    for protection in ("hmac", "aead"):
        outcome = ATTACKS["inject"](protection)
        assert ("mallory", "injected a forged message") in notes(outcome)
        assert outcome.evidence.startswith("mallory was paid []; refused: ['BadMac")


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_same_seed_gives_the_same_trace_byte_for_byte(attack):
    first, second = ATTACKS[attack]("hmac", 3), ATTACKS[attack]("hmac", 3)
    assert first.sim.trace.text() == second.sim.trace.text()
    assert first.sim.trace.text() != ATTACKS[attack]("hmac", 4).sim.trace.text()


def test_the_space_time_diagram_draws_the_attacker_between_the_parties():
    outcome = ATTACKS["replay"]("hmac")
    figure = spacetime.draw(outcome.sim.trace, nodes=["alice", "mallory", "bank"], label=label)
    assert len(figure.axes) == 1
    sent = [event.msg for event in outcome.sim.trace if event.kind == "send"]
    assert [label(msg) for msg in sent] == ["#0 pay bob 10"] * 3  # alice's, forwarded, replayed
    assert label(Protocol("aead", bytes(32)).wrap(pay("bob", 1))) == "#0 sealed"
    assert label(Protocol("none", bytes(32)).wrap(pay("bob", 1))) == "pay bob 1"


@pytest.mark.parametrize(
    "msg",
    [b"", b"\xff", "text", {"from": 1}, {"from": "alice", "op": "pay"}, 7, [1, 2]],
)
@pytest.mark.parametrize("protection", ["none", "hmac", "aead"])
def test_the_bank_refuses_garbage_by_name(protection, msg):
    bank = Bank(Protocol(protection, bytes(32)))
    with pytest.raises(Exception) as raised:
        bank.protocol.unwrap(msg)
    assert type(raised.value).__name__ == "Refused"


def test_a_payment_of_a_bool_or_a_negative_amount_is_not_a_transfer():
    protocol = Protocol("none", bytes(32))
    for amount in (True, -5, 0, 1.5):
        with pytest.raises(Exception, match="not a transfer"):
            protocol.unwrap({"from": "alice", **pay("bob", 1), "amount": amount})


def test_an_authentic_envelope_from_someone_without_an_account_is_refused():
    forged = seal_hmac(shared_key(0), Header("carol", "transfer", 0), pay("carol", 5))
    _, bank = run_attack(Inject(BANK, lambda: forged), "hmac", [pay("bob", 10)])
    assert bank.refused == ["no account for 'carol'"]
    assert bank.applied == [pay("bob", 10)]


def test_the_bank_holds_at_most_a_window_of_early_transfers():
    far = seal_hmac(shared_key(0), Header("alice", "transfer", 8), pay("bob", 5))
    near = seal_hmac(shared_key(0), Header("alice", "transfer", 7), pay("bob", 5))
    attack = Inject(BANK, lambda: far)
    _, bank = run_attack(attack, "hmac", [pay("bob", 10)])  # the window holds 8 numbers
    assert bank.refused == ["#8 is too far ahead"] and not bank.held
    _, bank = run_attack(Inject(BANK, lambda: near), "hmac", [pay("bob", 10)])
    assert bank.refused == [] and list(bank.held) == [7]
