"""Queue-group policies: one member per message, chosen as each policy says."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from reference.routing.queue_groups import (
    LeastOutstanding,
    RandomChoice,
    RoundRobin,
    make_policy,
)

MEMBERS = ["w1", "w2", "w3"]


def test_round_robin_takes_members_in_turn_per_group():
    policy = RoundRobin()
    assert [policy.choose("g", MEMBERS) for _ in range(6)] == MEMBERS * 2
    assert policy.choose("other", MEMBERS) == "w1"  # its own counter


def test_random_choice_is_reproducible_from_its_seed_and_roughly_even():
    policy_a, policy_b = RandomChoice(random.Random(7)), RandomChoice(random.Random(7))
    picks = [policy_a.choose("g", MEMBERS) for _ in range(3000)]
    assert picks == [policy_b.choose("g", MEMBERS) for _ in range(3000)]
    assert all(900 < count < 1100 for count in Counter(picks).values()), Counter(picks)


def test_least_outstanding_avoids_the_busy_member_and_shares_ties_in_turn():
    outstanding = {"w1": 5, "w2": 0, "w3": 0}
    policy = LeastOutstanding(outstanding.__getitem__)
    assert [policy.choose("g", MEMBERS) for _ in range(4)] == ["w2", "w2", "w3", "w2"]
    outstanding["w2"] = 9
    assert policy.choose("g", MEMBERS) == "w3"


def test_make_policy_by_name():
    rng = random.Random(0)
    assert isinstance(make_policy("random", rng=rng, outstanding=len), RandomChoice)
    assert type(make_policy("round_robin", rng=rng, outstanding=len)) is RoundRobin
    assert isinstance(make_policy("least_outstanding", rng=rng, outstanding=len), LeastOutstanding)
    with pytest.raises(ValueError, match="unknown queue policy 'fastest'"):
        make_policy("fastest", rng=rng, outstanding=len)
