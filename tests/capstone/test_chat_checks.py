"""The chat checker on hand-made histories: a good one passes, and each rule can fail."""

from reference.capstone.chat_checks import (
    DIVERGED,
    FORGED,
    LOST,
    OUT_OF_ORDER,
    SHOWN_TWICE,
    TAMPERED,
    Posted,
    check_chat,
)
from reference.capstone.member import Shown

QUESTION = Posted(("alice", 1), "lost my keys", None, frozenset())
ANSWER = Posted(("bob", 1), "found them", ("alice", 1), frozenset({("alice", 1)}))
ASIDE = Posted(("carol", 1), "hi all", None, frozenset())
POSTED = [QUESTION, ANSWER, ASIDE]


def shown(post: Posted, clock=None, **changes) -> Shown:
    fields = {"author": post.author, "text": post.text, "reply_to": post.reply_to}
    fields.update(changes)
    if clock is None:
        clock = {post.author: post.id[1]} | {author: seq for author, seq in post.seen_before}
    return Shown(post.id, fields["author"], fields["text"], fields["reply_to"], clock)


GOOD = [shown(QUESTION), shown(ANSWER), shown(ASIDE)]
CONCURRENT_FIRST = [shown(ASIDE), shown(QUESTION), shown(ANSWER)]


def verdict(**histories):
    everyone = {"alice": GOOD, "bob": CONCURRENT_FIRST, "carol": GOOD}
    return check_chat(POSTED, everyone | histories, seed=42)


def test_a_good_history_passes_and_concurrent_messages_may_come_in_any_order():
    result = verdict()
    assert result.ok and result.violations == ()
    assert str(result) == "seed 42: ok"


def test_a_message_never_shown_somewhere_is_lost():
    result = verdict(carol=[shown(QUESTION), shown(ANSWER)])
    assert result.rules_broken() == {LOST, DIVERGED}
    assert "('carol', 1) 'hi all' never shown" in str(result)


def test_a_message_shown_twice():
    result = verdict(carol=[*GOOD, shown(ASIDE)])
    assert result.rules_broken() == {SHOWN_TWICE}
    assert result.violations[0].member == "carol"


def test_a_reply_before_its_question_is_out_of_order():
    result = verdict(carol=[shown(ANSWER), shown(QUESTION), shown(ASIDE)])
    assert result.rules_broken() == {OUT_OF_ORDER}
    assert "('bob', 1) shown before ('alice', 1), the message it answers" in str(result)


def test_the_causal_past_counts_what_the_author_had_seen_even_if_its_clock_does_not():
    forgetful = shown(ANSWER, clock={"bob": 1})  # a clock that forgot what bob had seen
    result = verdict(carol=[forgetful, shown(QUESTION), shown(ASIDE)])
    assert result.rules_broken() == {OUT_OF_ORDER}


def test_the_causal_past_counts_the_signed_clock_too():
    aside = Posted(("carol", 1), "hi all", None, frozenset())
    counted = shown(aside, clock={"carol": 1, "alice": 1})  # carol's clock counts alice's post
    result = check_chat([QUESTION, aside], {"carol": [counted, shown(QUESTION)]}, seed=1)
    assert result.rules_broken() == {OUT_OF_ORDER}
    assert "its causal past" in str(result)


def test_a_changed_text_author_or_reply_is_tampered():
    for change in ({"text": "found them, send money"}, {"author": "carol"}, {"reply_to": None}):
        result = verdict(carol=[shown(QUESTION), shown(ANSWER, **change), shown(ASIDE)])
        assert result.rules_broken() == {TAMPERED}, change


def test_a_message_nobody_posted_is_forged():
    forged = Shown(("alice", 2), "alice", "I resign", None, {"alice": 2})
    result = verdict(carol=[*GOOD, forged])
    assert result.rules_broken() == {FORGED, DIVERGED}
    assert "forged at carol: ('alice', 2) 'I resign' shown" in str(result)


def test_members_that_showed_different_sets_diverged():
    result = check_chat([QUESTION], {"alice": [shown(QUESTION)], "bob": []}, seed=3)
    assert result.rules_broken() == {LOST, DIVERGED}
    assert "alice and bob differ on [('alice', 1)]" in str(result)
    assert str(result).startswith("seed 3: 2 violation(s)")
