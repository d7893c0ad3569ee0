"""Subjects and the subscription index, against a linear scan and a regex oracle."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.routing.subjects import (
    InvalidSubject,
    SubscriptionIndex,
    filter_matches,
    parse_filter,
    parse_subject,
)

# (filter, subject, matches?) — nats-server 2.9's rules
CASES = [
    ("orders.eu.paid", "orders.eu.paid", True),
    ("orders.eu.paid", "orders.eu", False),
    ("orders.eu", "orders.eu.paid", False),
    ("orders.*.paid", "orders.eu.paid", True),
    ("orders.*.paid", "orders.paid", False),
    ("orders.*.paid", "orders.eu.x.paid", False),
    ("orders.>", "orders.eu", True),
    ("orders.>", "orders.eu.paid", True),
    ("orders.>", "orders", False),
    (">", "a", True),
    (">", "a.b.c", True),
    ("*", "a", True),
    ("*", "a.b", False),
    ("*.*", "a.b", True),
    ("*.>", "a", False),
    ("a*", "ab", False),  # '*' inside a token is an ordinary character
    ("a*", "a*", True),
    ("x>y", "x>y", True),
    ("Orders", "orders", False),  # case matters
]


@pytest.mark.parametrize(("filter_text", "subject", "expected"), CASES)
def test_filter_matches_follows_nats_rules(filter_text, subject, expected):
    assert filter_matches(parse_filter(filter_text), parse_subject(subject)) is expected
    index = SubscriptionIndex()
    index.insert(filter_text, "sub")
    assert index.match(subject).plain == (["sub"] if expected else [])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the subject is empty"),
        ("a..b", "token 2 is empty"),
        (".a", "token 1 is empty"),
        ("a.", "token 2 is empty"),
        ("a b", "subjects contain no whitespace"),
        ("a\tb", "subjects contain no whitespace"),
        ("a.>.b", "'>' may only be the last token"),
        (">.a", "'>' may only be the last token"),
    ],
)
def test_bad_filters_are_rejected_with_their_problem(text, problem):
    for parse in (parse_filter, parse_subject):
        with pytest.raises(InvalidSubject) as caught:
            parse(text)
        assert caught.value.problem == problem
        assert caught.value.subject == text


@pytest.mark.parametrize("text", ["a.*", "*", "a.>", ">", "*.b"])
def test_a_published_subject_has_no_wildcards(text):
    assert parse_filter(text)
    with pytest.raises(InvalidSubject, match="a published subject has no wildcards"):
        parse_subject(text)
    with pytest.raises(InvalidSubject):
        SubscriptionIndex().match(text)


def test_insert_rejects_a_bad_filter_and_a_duplicate():
    index = SubscriptionIndex()
    with pytest.raises(InvalidSubject):
        index.insert("a..b", "s")
    index.insert("a", "s")
    with pytest.raises(ValueError, match="already subscribed"):
        index.insert("a", "s")
    index.insert("a", "s", queue="q")  # the same subscriber in a group is another entry
    assert len(index) == 2


def test_groups_pool_members_across_filters_and_stay_apart_from_plain():
    index = SubscriptionIndex()
    index.insert("a.*", "p1")
    index.insert("a.*", "w1", queue="workers")
    index.insert("a.b", "w2", queue="workers")
    index.insert("a.>", "l1", queue="loggers")
    match = index.match("a.b")
    assert match.plain == ["p1"]
    assert {name: sorted(members) for name, members in match.groups.items()} == {
        "workers": ["w1", "w2"],
        "loggers": ["l1"],
    }


def test_remove_prunes_the_trie_and_unknown_removals_raise():
    index = SubscriptionIndex()
    index.insert("a.b.c", "s")
    index.insert("a.b.c", "w", queue="q")
    with pytest.raises(KeyError):
        index.remove("a.b", "s")
    with pytest.raises(KeyError):
        index.remove("a.b.c", "other")
    with pytest.raises(KeyError):
        index.remove("a.b.c", "s", queue="q")
    index.remove("a.b.c", "s")
    index.remove("a.b.c", "w", queue="q")
    assert len(index) == 0
    assert index._root.is_empty()  # no node left behind


def _regex_oracle(filter_text: str, subject: str) -> bool:
    """An independent definition: '*' is one token, a final '>' one or more."""
    parts = []
    for token in filter_text.split("."):
        parts.append({"*": r"[^.]+", ">": r"[^.]+(\.[^.]+)*"}.get(token, re.escape(token)))
    return re.fullmatch(r"\.".join(parts), subject) is not None


literal_tokens = st.sampled_from(["a", "b", "c", "a*", "b>"])
filter_tokens = st.sampled_from(["a", "b", "c", "a*", "b>", "*", "*"])
subjects = st.lists(literal_tokens, min_size=1, max_size=4).map(".".join)
filters = st.tuples(st.lists(filter_tokens, min_size=0, max_size=4), st.booleans()).map(
    lambda parts: ".".join(parts[0] + [">"] if parts[1] or not parts[0] else parts[0])
)


@given(filters, subjects)
def test_filter_matches_agrees_with_a_regex_oracle(filter_text, subject):
    expected = _regex_oracle(filter_text, subject)
    assert filter_matches(parse_filter(filter_text), parse_subject(subject)) is expected


operations = st.lists(
    st.tuples(st.booleans(), filters, st.integers(0, 5), st.sampled_from([None, "q1", "q2"])),
    max_size=40,
)


@given(operations, st.lists(subjects, min_size=1, max_size=8))
def test_the_trie_matches_what_a_linear_scan_matches(steps, probes):
    index = SubscriptionIndex()
    live: set[tuple[str, int, str | None]] = set()
    for add, filter_text, subscriber, queue in steps:
        key = (filter_text, subscriber, queue)
        if add and key not in live:
            index.insert(filter_text, subscriber, queue=queue)
            live.add(key)
        elif not add and key in live:
            index.remove(filter_text, subscriber, queue=queue)
            live.discard(key)
    assert len(index) == len(live)
    for subject in probes:
        matching = [
            key for key in live if filter_matches(parse_filter(key[0]), parse_subject(subject))
        ]
        match = index.match(subject)
        assert sorted(match.plain) == sorted(s for _, s, q in matching if q is None)
        assert {name: sorted(members) for name, members in match.groups.items()} == {
            name: sorted(s for _, s, q in matching if q == name)
            for name in {q for _, _, q in matching if q is not None}
        }
