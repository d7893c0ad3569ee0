"""Permissions: publish subjects and subscription filters against allow lists."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.routing.subjects import InvalidSubject, filter_matches, parse_filter
from reference.security.permissions import AllowList, InvalidScopes, Permissions

ORDERS = Permissions(publish=["orders.>"], subscribe=["orders.eu.*"])


@pytest.mark.parametrize(
    ("subject", "allowed"),
    [
        ("orders.eu", True),
        ("orders.eu.paid", True),
        ("orders", False),  # '>' needs at least one more token
        ("billing.eu", False),
        ("orders.*", False),  # not a publish subject at all
        ("orders..eu", False),
        ("", False),
    ],
)
def test_publish_is_allowed_where_a_filter_matches_the_subject(subject, allowed):
    assert ORDERS.may_publish(subject) is allowed


@pytest.mark.parametrize(
    ("wanted", "allowed"),
    [
        ("orders.eu.paid", True),
        ("orders.eu.*", True),
        ("orders.>", False),  # matches orders.us
        ("orders.*", False),
        ("orders.eu.>", False),  # matches orders.eu.x.y (nats-server 2.9.10 accepts it)
        ("orders.*.paid", False),  # matches orders.us.paid
        ("orders.eu", False),
        (">", False),
        ("orders..x", False),  # malformed: refused, never an exception
    ],
)
def test_a_filter_is_allowed_only_if_every_subject_it_matches_is(wanted, allowed):
    assert ORDERS.may_subscribe(wanted) is allowed


def test_each_length_of_a_tail_wildcard_may_be_covered_by_a_different_filter():
    together = AllowList(["a.*", "a.*.>"])
    assert together.covers("a.>")
    assert not AllowList(["a.*"]).covers("a.>")
    assert not AllowList(["a.*.>"]).covers("a.>")  # a.x is missing
    assert not AllowList(["a.*", "a.*.*"]).covers("a.>")  # a.x.y.z is missing
    assert AllowList(["a.*", "a.*.*", "a.*.*.>"]).covers("a.>")


def test_a_tail_wildcard_is_covered_by_a_shorter_one_and_a_star_only_by_a_wildcard():
    allow = AllowList(["orders.>"])
    assert allow.covers("orders.eu.>") and allow.covers("orders.*.paid")
    assert not AllowList(["orders.eu", "orders.us"]).covers("orders.*")
    assert AllowList([">"]).covers(">") and not AllowList(["*.>"]).covers(">")


def test_nothing_is_allowed_by_default():
    nobody = Permissions()
    assert not nobody.may_publish("a") and not nobody.may_subscribe("a")


def test_permissions_from_token_scopes():
    permissions = Permissions.from_scopes({"pub": ["orders.>"], "sub": ["orders.eu.*"]})
    assert permissions.may_publish("orders.x") and not permissions.may_subscribe("orders.x")
    assert Permissions.from_scopes({"sub": ["a"]}).may_subscribe("a")
    assert not Permissions.from_scopes({"sub": ["a"]}).may_publish("a")


@pytest.mark.parametrize(
    "scopes",
    [{"pub": "orders.>"}, {"sub": [1]}, {"pub": None}, {"sub": ["a..b"]}, ["pub"]],
)
def test_malformed_scopes_are_a_named_error(scopes):
    with pytest.raises(InvalidScopes):
        Permissions.from_scopes(scopes)


def test_a_malformed_allowed_filter_or_a_bare_string_is_refused_at_once():
    with pytest.raises(InvalidSubject):
        AllowList(["a.>.b"])
    with pytest.raises(TypeError):
        AllowList("orders.>")


# The rule, checked by brute force. Allowed filters name only the tokens a
# and b; the subjects enumerated also use c, a token no filter names, which
# stands for every other token. Lengths up to one past the longest filter
# plus one decide every longer length (see the module's docstring).
TOKENS = ("a", "b", "c")
filter_token = st.sampled_from(["a", "b", "*"])


@st.composite
def filters(draw):
    tokens = draw(st.lists(filter_token, min_size=1, max_size=3))
    if draw(st.booleans()):
        tokens.append(">")
    return ".".join(tokens)


def every_subject_matched_is_allowed(wanted: str, allowed: list[str]) -> bool:
    wanted_tokens = parse_filter(wanted)
    allowed_tokens = [parse_filter(text) for text in allowed]
    longest = max([len(wanted_tokens), *map(len, allowed_tokens)])
    for length in range(1, longest + 2):
        for subject in itertools.product(TOKENS, repeat=length):
            if filter_matches(wanted_tokens, subject) and not any(
                filter_matches(tokens, subject) for tokens in allowed_tokens
            ):
                return False
    return True


@given(wanted=filters(), allowed=st.lists(filters(), max_size=4))
def test_covers_agrees_with_brute_force(wanted, allowed):
    assert AllowList(allowed).covers(wanted) == every_subject_matched_is_allowed(wanted, allowed)
