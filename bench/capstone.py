"""How fast is the chat end to end, as real processes? And how many fault runs per second?

Run: .venv/bin/python bench/capstone.py

1. End to end, as processes on loopback: the secure broker
   (`python -m reference.capstone broker`) and 3, then 10, members
   (`... member --json`) in one room, started by
   reference/capstone/process_runs.py. Each post travels: the author's
   terminal, its member (sign, save its storage to SQLite), mutual TLS to
   the broker, fan-out, TLS to each member (verify the signature, causal
   order, save), its terminal. Two workloads, once all are ready:
   *paced*, PACED_POSTS posts one at a time, the next once every member
   has shown the last (latency without queueing); and *burst*, BURST_POSTS
   posts written to the members' inputs all at once (throughput, and the
   queueing it costs). The figures: posts shown by every member per
   second, and the latency of each (post, other member) delivery, from
   the moment the author's "posted" line is read to the moment the
   member's "shown" line is: p50 and p99. This process reads both lines,
   so its own reading is in the figures; on 2 cores the broker and 10
   members share the CPU with it.
2. The fault campaign on the simulator (reference/capstone/campaign.py,
   `run_campaign`): CAMPAIGN_SEEDS runs of the chat under loss,
   duplication, partitions, crashes, broker restarts and tampering, each
   checked; runs per wall second (the best of REPEATS).

The last line is JSON: `chat_msgs_per_s_10_members` (the burst, 10
members) and `campaign_runs_per_s`, with the 3-member figure and every
latency alongside.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time

import trio

from reference.capstone.campaign import NAMES, run_campaign
from reference.capstone.process_runs import MemberProcess, open_chat

PACED_POSTS = 30  # one at a time
BURST_POSTS = {3: 150, 10: 200}  # all at once, shared among the members
CHAT_DEADLINE = 120.0  # seconds: a run that takes longer is broken, not slow
CAMPAIGN_SEEDS = range(40)
REPEATS = 3


def run_campaign_once() -> int:
    """One campaign over CAMPAIGN_SEEDS; how many runs passed the checker."""
    return sum(verdict.ok for verdict in run_campaign(CAMPAIGN_SEEDS))


async def chat_figures(members: int) -> dict:
    rooms = {name: "bench" for name in NAMES[:members]}
    with tempfile.TemporaryDirectory() as directory, trio.fail_after(CHAT_DEADLINE):
        async with open_chat(directory, rooms) as chat:
            paced = await paced_posts(list(chat.members.values()), PACED_POSTS)
            burst = await burst_of_posts(list(chat.members.values()), BURST_POSTS[members])
    return {"paced": paced, "burst": burst}


async def paced_posts(members: list[MemberProcess], posts: int) -> dict:
    """One post at a time, the next once everyone has shown it: latency without queueing."""
    mark = _mark(members)
    for number in range(posts):
        await members[number % len(members)].post(f"paced {number}")
        for member in members:
            await member.wait_until(lambda m=member, n=number: len(_shown_since(m, mark)) > n)
    return _figures(members, mark, posts)


async def burst_of_posts(members: list[MemberProcess], posts: int) -> dict:
    """Every post written at once, shared among the members: throughput, and queueing."""
    mark = _mark(members)
    for number in range(posts):
        author = members[number % len(members)]
        await author.process.stdin.send_all(f"burst {number}\n".encode())
    for member in members:
        await member.wait_until(lambda m=member: len(_shown_since(m, mark)) >= posts)
    return _figures(members, mark, posts)


def _mark(members: list[MemberProcess]) -> dict[str, tuple[int, float]]:
    return {member.name: (len(member.events), trio.current_time()) for member in members}


def _shown_since(member: MemberProcess, mark: dict) -> list[tuple[float, dict]]:
    start = mark[member.name][0]
    read = zip(member.read_at[start:], member.events[start:], strict=True)
    return [(at, event) for at, event in read if event["event"] == "shown"]


def _figures(members: list[MemberProcess], mark: dict, posts: int) -> dict:
    """Posts shown everywhere per second since `mark`, and (post, member) latencies."""
    posted_at = {}
    for member in members:
        start = mark[member.name][0]
        for at, event in zip(member.read_at[start:], member.events[start:], strict=True):
            if event["event"] == "posted":
                posted_at[tuple(event["id"])] = at
    latencies = [
        at - posted_at[tuple(event["id"])]
        for member in members
        for at, event in _shown_since(member, mark)
        if event["author"] != member.name
    ]
    started = min(at for _, at in mark.values())
    elapsed = max(member.read_at[-1] for member in members) - started
    percentiles = statistics.quantiles(latencies, n=100)
    return {
        "posts": posts,
        "seconds": elapsed,
        "posts_per_s": posts / elapsed,
        "p50_ms": percentiles[49] * 1000,
        "p99_ms": percentiles[98] * 1000,
    }


def main() -> None:
    print("The chat as processes on loopback: mutual TLS, tokens, signed posts, SQLite per member")
    header = f"{'members':<9}{'posts':<15}{'seconds':>9}{'posts/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
    print(header)
    chats = {}
    for members in (3, 10):
        chats[members] = trio.run(chat_figures, members)
        for kind in ("paced", "burst"):
            figures = chats[members][kind]
            posts = f"{figures['posts']} {kind}"
            print(
                f"{members:<9}{posts:<15}{figures['seconds']:>9.2f}{figures['posts_per_s']:>9.1f}"
                f"{figures['p50_ms']:>9.1f}{figures['p99_ms']:>9.1f}"
            )
    print()
    best, passed = float("inf"), 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        passed = run_campaign_once()
        best = min(best, time.perf_counter() - started)
    runs = len(CAMPAIGN_SEEDS)
    print(
        f"Fault campaign on the simulator: {runs} seeded runs in {best:.2f} s (best of {REPEATS}),"
    )
    print(f"{passed} of {runs} passed the checker: {runs / best:.1f} runs per wall second")
    print()
    result = {
        "chat_msgs_per_s_10_members": round(chats[10]["burst"]["posts_per_s"], 1),
        "chat_msgs_per_s_3_members": round(chats[3]["burst"]["posts_per_s"], 1),
    }
    for members in (3, 10):
        for kind in ("paced", "burst"):
            for figure in ("p50_ms", "p99_ms"):
                key = f"chat_{kind}_{figure}_{members}_members"
                result[key] = round(chats[members][kind][figure], 1)
    result |= {
        "campaign_runs_per_s": round(runs / best, 2),
        "campaign_runs_passed": f"{passed}/{runs}",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
