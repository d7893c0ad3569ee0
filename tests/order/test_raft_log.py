"""The Raft log's rules, one pure function at a time: votes, appends, commits."""

from __future__ import annotations

import pytest

from reference.order.raft_log import (
    append_entries,
    commit_index_for,
    grant_vote,
    is_up_to_date,
    last_term,
    term_at,
)

LOG = [(1, "a"), (1, "b"), (2, "c")]


def test_terms_by_index_count_from_one_and_index_zero_has_term_zero():
    assert [term_at(LOG, index) for index in range(4)] == [0, 1, 1, 2]
    assert last_term(LOG) == 2 and last_term([]) == 0


@pytest.mark.parametrize(
    "candidate, own, expected",
    [
        ((3, 1), (2, 9), True),  # a later last term wins, however short
        ((2, 9), (3, 1), False),
        ((2, 5), (2, 5), True),  # the same log is up to date
        ((2, 6), (2, 5), True),
        ((2, 4), (2, 5), False),  # same last term, shorter
        ((0, 0), (0, 0), True),
    ],
)
def test_is_up_to_date_compares_last_terms_then_lengths(candidate, own, expected):
    assert is_up_to_date(*candidate, *own) is expected


def vote(**changes):
    request = {
        "current_term": 3,
        "voted_for": None,
        "last_log_term": 2,
        "last_log_index": 5,
        "candidate": "b",
        "candidate_term": 3,
        "candidate_last_term": 2,
        "candidate_last_index": 5,
    }
    return grant_vote(**{**request, **changes})


def test_a_vote_goes_to_a_candidate_with_a_log_as_good_in_the_current_term():
    assert vote() is True


def test_a_vote_for_the_same_candidate_is_given_again():
    assert vote(voted_for="b") is True


def test_no_second_vote_in_a_term():
    assert vote(voted_for="c") is False


def test_a_later_term_is_a_fresh_election_even_after_voting():
    assert vote(voted_for="c", candidate_term=4) is True


def test_no_vote_for_a_candidate_from_an_earlier_term():
    assert vote(candidate_term=2) is False


@pytest.mark.parametrize(
    "last", [{"candidate_last_term": 1, "candidate_last_index": 9}, {"candidate_last_index": 4}]
)
def test_no_vote_for_a_candidate_whose_log_is_behind(last):
    assert vote(**last) is False
    assert vote(candidate_term=7, **last) is False


def test_append_to_an_empty_log():
    log = []
    assert append_entries(log, 0, 0, [(1, "a")]) is True
    assert log == [(1, "a")]


@pytest.mark.parametrize("prev_index, prev_term", [(4, 2), (3, 1), (2, 2)])
def test_the_consistency_check_refuses_and_leaves_the_log_alone(prev_index, prev_term):
    log = list(LOG)
    assert append_entries(log, prev_index, prev_term, [(3, "x")]) is False
    assert log == LOG


def test_a_conflicting_entry_and_all_after_it_are_replaced():
    log = [*LOG, (2, "d")]
    assert append_entries(log, 2, 1, [(3, "x")]) is True
    assert log == [(1, "a"), (1, "b"), (3, "x")]


def test_entries_already_there_are_kept_and_the_rest_appended():
    log = list(LOG)
    assert append_entries(log, 1, 1, [(1, "b"), (2, "c"), (2, "d")]) is True
    assert log == [*LOG, (2, "d")]


def test_a_late_shorter_append_does_not_truncate_newer_entries():
    log = [*LOG, (2, "d")]
    assert append_entries(log, 1, 1, [(1, "b")]) is True  # an old, delayed copy
    assert log == [*LOG, (2, "d")]
    assert append_entries(log, 4, 2, []) is True  # a heartbeat
    assert len(log) == 4


def test_a_majority_commits_a_current_term_entry():
    assert commit_index_for(LOG, [3, 3, 0], current_term=2, commit_index=0) == 3
    assert commit_index_for(LOG, [3, 2, 1], current_term=2, commit_index=0) == 0  # index 2: term 1
    assert commit_index_for(LOG, [3, 0, 0], current_term=2, commit_index=0) == 0


def test_figure_8_an_old_term_entry_on_a_majority_is_not_committed_by_counting():
    log = [(1, "a"), (2, "b"), (4, "c")]  # the leader of term 4 still carries b from term 2
    assert commit_index_for(log, [3, 2, 2, 1, 1], current_term=4, commit_index=1) == 1
    assert commit_index_for(log, [3, 3, 3, 1, 1], current_term=4, commit_index=1) == 3


def test_an_even_cluster_needs_more_than_half():
    assert commit_index_for(LOG, [3, 3, 0, 0], current_term=2, commit_index=0) == 0
    assert commit_index_for(LOG, [3, 3, 3, 0], current_term=2, commit_index=0) == 3


def test_the_commit_index_never_moves_back():
    assert commit_index_for(LOG, [1, 1, 1], current_term=2, commit_index=3) == 3
