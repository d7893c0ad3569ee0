"""The rules of the Raft log, as pure functions a learner can read one at a time.

Theory of operation
-------------------
Raft (Ongaro & Ousterhout, 2014) keeps a *log* on every server: a list of
entries ``(term, command)``, where `term` is the term of the leader that
first wrote the entry. Indexes count from 1, as in the paper: entry `i` is
``log[i - 1]``, and index 0 stands for "before the first entry", whose term
is 0. Everything that makes the replicated log safe is one of four rules,
each a function here, with no I/O, no clock and no randomness:

`is_up_to_date` (section 5.4.1)
    which of two logs is more up to date: the one whose last entry has the
    later term, or, with equal last terms, the longer one.

`grant_vote` (sections 5.2 and 5.4.1)
    a server votes for a candidate only if the candidate's term is not
    behind, it has not voted for someone else in that term, and the
    candidate's log is at least as up to date as its own. A candidate
    needs a majority of votes, and any two majorities share a server, so
    the winner's log holds every committed entry (*leader completeness*).

`append_entries` (section 5.3)
    the follower's side of replication. The leader sends the entries after
    index `prev_index` together with the term of the entry at
    `prev_index`; the follower accepts only if its own log has that entry
    (the *consistency check*). By induction, two logs that share an entry
    (same index, same term) are identical up to it: the *log-matching*
    property. Where a new entry conflicts with an existing one (same index,
    different term), the existing one and everything after it are deleted
    and the leader's entries take their place. An entry that is already
    there is kept: a delayed, duplicated or reordered message must not
    truncate entries the follower has since appended.

`commit_index_for` (sections 5.3 and 5.4.2)
    the leader's commit rule: an index is committed once a majority of
    servers hold it, *but only if its entry is from the leader's current
    term*. Figure 8 of the paper shows why: an entry from an earlier term
    stored on a majority can still be overwritten by a later leader, so
    it is committed only indirectly, when an entry of the current term
    after it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Entry = tuple[int, Any]
"""One log entry: the term it was written in, and the command."""


def term_at(log: Sequence[Entry], index: int) -> int:
    """The term of entry `index` (1-based); 0 for index 0, before the first entry."""
    return log[index - 1][0] if index > 0 else 0


def last_term(log: Sequence[Entry]) -> int:
    """The term of the last entry, 0 for an empty log."""
    return log[-1][0] if log else 0


def is_up_to_date(
    candidate_last_term: int, candidate_last_index: int, own_last_term: int, own_last_index: int
) -> bool:
    """Is the candidate's log at least as up to date as ours? (section 5.4.1)"""
    if candidate_last_term != own_last_term:
        return candidate_last_term > own_last_term
    return candidate_last_index >= own_last_index


def grant_vote(
    *,
    current_term: int,
    voted_for: str | None,
    last_log_term: int,
    last_log_index: int,
    candidate: str,
    candidate_term: int,
    candidate_last_term: int,
    candidate_last_index: int,
) -> bool:
    """Should a server in `current_term`, which voted for `voted_for` (None: nobody)
    and whose log ends at (`last_log_term`, `last_log_index`), vote for `candidate`?

    A candidate from a later term starts a new term, in which nobody has voted yet.
    Asking again for the vote already given is answered yes again (the reply may
    have been lost).
    """
    if candidate_term < current_term:
        return False
    if candidate_term == current_term and voted_for not in (None, candidate):
        return False
    return is_up_to_date(candidate_last_term, candidate_last_index, last_log_term, last_log_index)


def append_entries(
    log: list[Entry], prev_index: int, prev_term: int, entries: Sequence[Entry]
) -> bool:
    """The follower's rule: add `entries` after `prev_index`, changing `log` in place.

    Returns False, leaving `log` as it was, when `log` has no entry at
    `prev_index` with term `prev_term` (the leader then retries further back).
    Otherwise deletes the first conflicting entry and all that follow it,
    appends what is new, and returns True.
    """
    if prev_index > len(log) or term_at(log, prev_index) != prev_term:
        return False
    for offset, entry in enumerate(entries):
        index = prev_index + 1 + offset
        if index <= len(log) and log[index - 1][0] == entry[0]:
            continue  # already there (a duplicate or a delayed copy): keep it
        del log[index - 1 :]  # a conflict, or the end of the log: the leader's entries win
        log.extend(entries[offset:])
        break
    return True


def commit_index_for(
    log: Sequence[Entry], match_indexes: Sequence[int], current_term: int, commit_index: int
) -> int:
    """The leader's new commit index (Figure 8: only current-term entries count).

    `match_indexes` holds, for every server including the leader itself, the
    highest index known to be stored there. The highest index stored on a
    majority is committed if its entry is from `current_term`; entries before it
    are then committed too. Otherwise the commit index stays where it was.
    """
    majority = len(match_indexes) // 2 + 1
    on_a_majority = sorted(match_indexes, reverse=True)[majority - 1]
    if on_a_majority > commit_index and term_at(log, on_a_majority) == current_term:
        return on_a_majority
    return commit_index
