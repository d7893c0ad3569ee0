"""How fast is the exhaustive search, what does state hashing buy, and what random testing misses.

Run: .venv/bin/python bench/explore.py

1. The exhaustive mode (reference/debug/search.py) over Raft's election
   (reference/debug/raft_election.py, 3 servers, terms up to 3, losses
   allowed) with the correct vote rule, so nothing stops the search early:
   states explored per wall second, with state hashing (each distinct
   state once) and without (every path of the tree), at the same bound.
   Hashing explores fewer states, each dearer (it is remembered and looked
   up), so compare the states needed for a verdict, not only the rate.
2. The planted bug (`forgetful_vote`, two leaders in one term): how many of
   SEEDS random runs on the simulator (5% loss, 1-3 ms links) expose it,
   and how many states the search needs to find its shortest path.
3. The shrinker (reference/debug/shrink.py) on the two planted bugs of
   reference/debug/planted.py, over SHRINK_SEEDS failing seeds each: faults
   and trace events before and after, replays needed, wall seconds. The
   shrink factor is events before / events after; `shrink_factor` is the
   smallest over every seed of both bugs (the worst case, not the mean).

Every timing is the best of REPEATS runs. The last line is JSON:
`search_states_per_s` (with hashing), `search_states_per_s_no_hashing`,
`search_states` and `search_states_no_hashing` (states for the verdict),
`random_seeds_exposing` of `random_seeds`, `search_states_to_bug`,
`shrink_factor` (the worst seed) and `shrink_factor_median`.
"""

from __future__ import annotations

import json
import time

from reference.debug import faults, planted, shrink
from reference.debug.raft_election import (
    ElectionNode,
    ForgetfulElectionNode,
    cluster,
    election_invariant,
    simulate,
)
from reference.debug.search import search

HASHED_DEPTH = 8
PLAIN_DEPTH = 6  # without hashing the tree grows about 10x a step: keep it to seconds
SEEDS = 1_000
REPEATS = 3
SHRINK_SEEDS = 4  # failing seeds per planted bug


SHRINK_CASES = {  # name: (run of a seed, how to rebuild its nodes, the property it breaks)
    "ch04 forgetful receiver": (
        planted.transfer_run,
        planted.build_transfer(),
        planted.exactly_once_in_order,
    ),
    "ch06 log-blind vote rule": (
        planted.raft_run,
        planted.build_raft(),
        planted.committed_entries_agree,
    ),
}


def shrink_figures() -> dict:
    print("The shrinker on the planted bugs (the first failing seeds of each)")
    print(f"{'bug':<26}{'seed':>5}{'faults':>14}{'events':>16}{'factor':>8}{'replays':>9}{'s':>7}")
    factors = []
    for name, (run, build, fails) in SHRINK_CASES.items():
        seeds = (seed for seed in range(1_000) if fails(run(seed)))
        for seed in [next(seeds) for _ in range(SHRINK_SEEDS)]:
            start = time.perf_counter()
            result = shrink.shrink(build, faults.record(run(seed)), fails)
            seconds = time.perf_counter() - start
            before, after = result.before, result.after
            factors.append(result.factor)
            print(
                f"{name:<26}{seed:>5}{before.faults:>7} → {after.faults:<4}"
                f"{before.events:>8} → {after.events:<5}{result.factor:>8.1f}"
                f"{result.trials:>9}{seconds:>7.2f}"
            )
    factors.sort()
    print()
    return {
        "shrink_factor": round(factors[0], 1),
        "shrink_factor_median": round(factors[len(factors) // 2], 1),
    }


def timed_search(depth: int, hashing: bool):
    best, result = float("inf"), None
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = search(cluster(ElectionNode), election_invariant(), depth=depth, hashing=hashing)
        best = min(best, time.perf_counter() - started)
    return result, best


def main() -> None:
    print("Exhaustive search of Raft's election: 3 servers, terms up to 3, any losses,")
    print("the correct vote rule (no violation, so every state within the bound is explored)")
    print(
        f"{'hashing':<10}{'depth':>6}{'states':>12}{'transitions':>14}{'seconds':>10}{'states/s':>11}"
    )
    rates = {}
    for hashing, depth in ((True, HASHED_DEPTH), (False, PLAIN_DEPTH), (True, PLAIN_DEPTH)):
        result, seconds = timed_search(depth, hashing)
        assert not result.found, result.summary()
        rate = result.states / seconds
        rates[hashing, depth] = (rate, result.states)
        word = "yes" if hashing else "no"
        print(
            f"{word:<10}{depth:>6}{result.states:>12,}{result.transitions:>14,}"
            f"{seconds:>10.2f}{rate:>11,.0f}"
        )
    saved = rates[False, PLAIN_DEPTH][1] / rates[True, PLAIN_DEPTH][1]
    print(
        f"at depth {PLAIN_DEPTH}, hashing explores {saved:.0f}x fewer states for the same verdict"
    )

    print()
    exposed = [seed for seed in range(SEEDS) if simulate(seed, ForgetfulElectionNode)]
    found = search(cluster(ForgetfulElectionNode), election_invariant(), depth=8, shortest=True)
    print("The planted bug (a vote rule that forgets the vote given in this term):")
    print(f"random testing: {len(exposed)} of {SEEDS:,} seeds expose it (first: {exposed[:5]})")
    print(f"search: {found.summary()}")
    print()
    result = {
        "search_states_per_s": round(rates[True, HASHED_DEPTH][0]),
        "search_states_per_s_no_hashing": round(rates[False, PLAIN_DEPTH][0]),
        "search_states": rates[True, PLAIN_DEPTH][1],
        "search_states_no_hashing": rates[False, PLAIN_DEPTH][1],
        "random_seeds_exposing": len(exposed),
        "random_seeds": SEEDS,
        "search_states_to_bug": found.states,
        **shrink_figures(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
