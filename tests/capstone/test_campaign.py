"""The fault campaign: every seed passes the checker, and each guarantee switched off is caught."""

import time

import pytest

from reference.capstone.campaign import HEAL_AT, run_campaign, run_chat
from reference.capstone.chat_checks import FORGED, OUT_OF_ORDER, SHOWN_TWICE, TAMPERED
from reference.capstone.member import Guarantees
from reference.capstone.relay import Tampering


def failures(verdicts):
    return "\n".join(str(verdict) for verdict in verdicts if not verdict.ok)


def test_two_hundred_seeds_with_three_members_pass():
    started = time.perf_counter()
    verdicts = run_campaign(range(200))
    elapsed = time.perf_counter() - started
    assert all(verdict.ok for verdict in verdicts), failures(verdicts)
    print(f"{len(verdicts) / elapsed:.1f} campaign runs per wall second")


def test_a_few_seeds_with_five_members_pass():
    verdicts = run_campaign(range(1000, 1010), members=5)
    assert all(verdict.ok for verdict in verdicts), failures(verdicts)


def test_the_campaign_really_breaks_things():
    runs = [run_chat(seed) for seed in range(60)]
    assert sum(len(run.posted) for run in runs) >= 500
    assert any(run.faults.crashes for run in runs)
    assert any(run.faults.partitions for run in runs)
    assert any(run.faults.broker_restarts for run in runs)
    assert {run.faults.tampering.mode for run in runs if run.faults.tampering} == {
        "change-text",
        "forge",
        "replay",
        "drop",
    }
    assert any(run.faults.link.loss > 0 and run.faults.link.duplicate > 0 for run in runs)
    assert any(post.reply_to for run in runs for post in run.posted)


def test_a_run_replays_exactly_from_its_seed():
    first, second = run_chat(17), run_chat(17)
    assert first.posted == second.posted
    assert list(first.sim.trace) == list(second.sim.trace)


@pytest.mark.parametrize("mode", ["change-text", "forge", "replay", "drop"])
def test_a_tampering_broker_is_detected_and_nothing_it_made_is_shown(mode):
    for seed in range(5):
        run = run_chat(seed, tampering=Tampering(mode, "alice", 0.0, HEAL_AT))
        assert run.verdict.ok, f"seed {seed}: {run.verdict}"
        assert run.sim.node("broker").tampered[mode] > 0
        if mode in ("change-text", "forge"):
            refused = sum(run.sim.node(name).refused["BadSignature"] for name in run.names)
            assert refused > 0, f"seed {seed}"


def rules_broken(guarantees, seeds=range(20), **options):
    verdicts = run_campaign(seeds, guarantees=guarantees, **options)
    return {rule for verdict in verdicts for rule in verdict.rules_broken()}


def test_without_signature_checks_tampered_and_forged_messages_show():
    off, seeds = Guarantees(verify_signatures=False), range(5)
    changing, forging = (Tampering(mode, "bob", 0.0, HEAL_AT) for mode in ("change-text", "forge"))
    assert TAMPERED in rules_broken(off, seeds, tampering=changing)
    assert {FORGED, TAMPERED} <= rules_broken(off, seeds, tampering=forging)


def test_without_causal_order_replies_show_before_their_questions():
    verdicts = run_campaign(range(20), guarantees=Guarantees(causal_order=False))
    broken = [str(violation) for verdict in verdicts for violation in verdict.violations]
    assert any(OUT_OF_ORDER in text and "the message it answers" in text for text in broken)


def test_without_deduplication_copies_show_twice_unless_causal_order_refuses_them():
    assert SHOWN_TWICE in rules_broken(Guarantees(deduplicate=False, causal_order=False))
    runs = [run_chat(seed, guarantees=Guarantees(deduplicate=False)) for seed in range(10)]
    assert all(run.verdict.ok for run in runs), failures(run.verdict for run in runs)
    assert any(run.sim.node(name).held_back for run in runs for name in run.names)
