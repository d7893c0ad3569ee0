"""Graders for exercises/06-order-and-consistency.ipynb: clocks, causal delivery, Raft's vote,
a register model.

The reference modules of chapter 06 (reference/order/) serve as oracles, and
where an answer is a piece of a larger algorithm the grader runs it in place:

- `LamportClock` against the reference clock, on scripted exchanges between
  several clocks at once (each started at its own time), then on random ones;
- `VectorClock.compare` and `.merge` on the cases a shortcut gets wrong
  (sums, one equal entry, a node missing from one vector, explicit zeros), then
  on random pairs, checking that `merge` changes only its own vector;
- `CausalBuffer` on fixed scenarios (a reply that overtakes its question, a
  hold-back queue that must be scanned again after each delivery, equal and
  unhashable payloads), then on random permutations of causally related
  messages: after each arrival, the messages delivered so far must be exactly
  those whose causes have all arrived, each once, in an order the delivery
  condition (`reference.order.causal.deliverable`) allows;
- `grant_vote` on a table of cases and random ones against
  `reference.order.raft_log.grant_vote`, then inside a Raft server
  (`reference.order.kv.KVNode`) on the simulator, over several seeds with
  partitions, crashes, loss and duplication, with `RaftMonitor` checking
  election safety, log matching and leader completeness after every event,
  and that a leader is elected once the network heals;
- `register_step` on single steps against `RegisterModel`, then as the model of
  the linearizability checker (`check_operations`) on classic histories that
  must be accepted or rejected, and on random ones, against the reference's
  verdict.
"""

import copy
import functools
import math
import random

from exercises.grading import grader
from exercises.verdicts import same_value
from reference.net.links import Link, Uniform
from reference.order.causal import deliverable
from reference.order.clocks import LamportClock as ReferenceLamport
from reference.order.clocks import VectorClock as ReferenceVector
from reference.order.history import UNKNOWN, Operation, timed_out
from reference.order.kv import KVNode
from reference.order.linearizability import check_operations
from reference.order.models import Model, RegisterModel
from reference.order.raft_invariants import RaftMonitor, RaftSafetyViolation, stable_leader
from reference.order.raft_log import grant_vote as reference_grant_vote
from reference.order.raft_scenarios import add_client, kv_cluster, schedule_faults

# --- Task 1: LamportClock ---------------------------------------------------------------------

RECEIVE_HINT = (
    "On receiving timestamp t the clock jumps past both what it has seen and what the message "
    "says: time = max(time, t) + 1, stored and returned."
)
LAMPORT_HINTS = {
    "tick": "A local event counts one: time += 1, and return the new time.",
    "on_send": "A send is one event: tick once, and return that time (it goes on the message).",
    "on_receive": RECEIVE_HINT,
}


def run_lamport_script(clock_class, starts, script):
    """Apply (clock, method, argument) steps to clocks made at `starts`; what each returned.

    An argument ("sent", k) is the timestamp returned by step k, as a message carries it.
    """
    clocks = [clock_class(start) for start in starts]
    results = []
    for index, method, argument in script:
        if method == "on_receive":
            stamp = results[argument] if isinstance(argument, int) else argument[1]
            results.append(clocks[index].on_receive(stamp))
        else:
            results.append(getattr(clocks[index], method)())
    return results, [clock.time for clock in clocks]


LAMPORT_SCRIPTS = [  # (label, starts, script)
    ("one clock: tick, tick", [0], [(0, "tick", None), (0, "tick", None)]),
    ("one clock: a send", [0], [(0, "on_send", None)]),
    ("a clock started at 7 ticks", [7], [(0, "tick", None), (0, "on_send", None)]),
    ("receive a later timestamp (10) on a clock at 2", [2], [(0, "on_receive", ("t", 10))]),
    ("receive an earlier timestamp (3) on a clock at 20", [20], [(0, "on_receive", ("t", 3))]),
    ("receive the same timestamp (5) as the clock's", [5], [(0, "on_receive", ("t", 5))]),
    ("receive timestamp 0 on a fresh clock", [0], [(0, "on_receive", ("t", 0))]),
    (
        "two clocks exchange messages (steps refer to the stamps sent)",
        [0, 0],
        [(0, "tick", None), (0, "on_send", None), (1, "on_receive", 1), (1, "on_send", None),
         (0, "on_receive", 3), (0, "tick", None)],
    ),
    (
        "three clocks at 0, 4 and 9: a message from the slow one is received by the fast one",
        [0, 4, 9],
        [(0, "on_send", None), (2, "on_receive", 0), (1, "on_send", None), (0, "on_receive", 2),
         (2, "on_send", None), (1, "on_receive", 4)],
    ),
]  # fmt: skip


def random_lamport_script(rng, clocks):
    script, sent = [], []
    for _ in range(rng.randint(4, 25)):
        index = rng.randrange(clocks)
        kind = rng.choice(["tick", "on_send", "on_send", "on_receive", "on_receive"])
        if kind == "on_receive" and sent:
            script.append((index, "on_receive", rng.choice(sent)))
        else:
            kind = "on_send" if kind == "on_receive" else kind
            if kind == "on_send":
                sent.append(len(script))
            script.append((index, kind, None))
    return script


def lamport_hint(clock_class, starts, script):
    """The hint for the first step whose result differs from the reference's."""
    for length in range(1, len(script) + 1):
        try:
            got = run_lamport_script(clock_class, starts, script[:length])
        except Exception:
            return LAMPORT_HINTS[script[length - 1][1]]
        if not same_value(run_lamport_script(ReferenceLamport, starts, script[:length]), got):
            return LAMPORT_HINTS[script[length - 1][1]]
    return ""


@grader("Task 1 · LamportClock")
def check_lamport_clock(cases, LamportClock):
    cases.equal(
        "a new clock starts at 0 (LamportClock().time)",
        lambda: LamportClock().time,
        0,
        hint="Keep the counter in self.time; it starts at the `time` you are given (0).",
    )
    rng = random.Random(6)
    scripted = [(label, starts, script) for label, starts, script in LAMPORT_SCRIPTS]
    for run in range(150):
        starts = [rng.choice([0, 0, 3, 50]) for _ in range(rng.randint(2, 4))]
        scripted.append((f"random exchange {run}", starts, random_lamport_script(rng, len(starts))))
    for label, starts, script in scripted:
        readable = ", ".join(
            f"c{index}.{method}({'' if argument is None else describe_stamp(argument)})"
            for index, method, argument in script
        )
        case = f"{label}: clocks started at {starts}; {readable}"
        case += " (each step's return value, then every clock's time)"
        got = cases.call(case, lambda s=starts, sc=script: run_lamport_script(LamportClock, s, sc))
        expected = run_lamport_script(ReferenceLamport, starts, script)
        right = same_value(expected, got)
        hint = "" if right else lamport_hint(LamportClock, starts, script)
        cases.same(case, got, expected, hint=hint)


def describe_stamp(argument):
    return f"stamp of step {argument}" if isinstance(argument, int) else str(argument[1])


# --- Task 2: VectorClock ----------------------------------------------------------------------

COMPARE_CASES = [  # (a, b, hint)
    ({}, {}, "Two empty vectors count the same events: equal."),
    ({"a": 1}, {"a": 1}, "Every entry the same: equal."),
    ({"a": 1, "b": 0}, {"a": 1}, "An entry of 0 and a missing entry are the same thing."),
    ({"a": 1}, {}, "A node missing from a vector counts 0 there: {'a': 1} is after {}."),
    ({}, {"b": 2}, "A node missing from a vector counts 0 there: {} is before {'b': 2}."),
    ({"a": 1}, {"a": 2}, "One entry smaller, none larger: before."),
    ({"a": 3, "b": 1}, {"a": 2, "b": 1}, "One entry larger, none smaller: after."),
    ({"a": 1, "b": 2}, {"a": 1, "b": 3}, "Equal entries do not decide anything: before."),
    ({"a": 1}, {"a": 1, "b": 1}, "Look at the nodes of both vectors, not only the first's."),
    ({"a": 1, "b": 1}, {"a": 1}, "Look at the nodes of both vectors, not only the first's."),
    ({"a": 1}, {"b": 1}, "Each vector knows an event the other does not: concurrent."),
    ({"a": 2, "b": 1}, {"a": 1, "b": 2}, "Equal sums say nothing: this is concurrent."),
    ({"a": 5}, {"a": 1, "b": 1}, "A larger sum does not mean after: b's event is unknown to a."),
    ({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 3, "c": 2}, "One entry equal, one smaller, one "
     "larger: concurrent, not before."),
    ({"a": 1, "b": 1}, {"a": 1, "c": 1}, "One entry equal, and each knows one the other does "
     "not: concurrent."),
    ({"x": 2, "y": 0}, {"y": 1}, "Concurrent: x is larger in the first, y in the second."),
]  # fmt: skip

MERGE_CASES = [  # (a, b, hint)
    ({}, {}, "Merging two empty vectors gives an empty one."),
    ({"a": 1}, {}, "Merging an empty vector changes nothing."),
    ({}, {"b": 2}, "A node only the other vector knows is added."),
    ({"a": 3}, {"a": 1}, "Entry-wise maximum: keep your own larger entry."),
    ({"a": 1}, {"a": 3}, "Entry-wise maximum: take the other's larger entry."),
    ({"a": 3, "b": 1}, {"a": 1, "b": 2, "c": 4}, "Entry-wise maximum, over the nodes of both."),
    ({"a": 2, "b": 0}, {"b": 0, "c": 0}, "Zeros stay zeros (kept or left out, either is fine)."),
]

VECTOR_HINT = "Compare entry by entry over the nodes of both vectors, a missing node counting 0."


def normalized(counts):
    """A vector's counts without its zero entries: how two vectors are compared."""
    return {node: count for node, count in counts.items() if count != 0}


def reference_compare(a, b):
    return ReferenceVector(a).compare(ReferenceVector(b)).value


def reference_merge(a, b):
    merged = ReferenceVector(a)
    merged.merge(ReferenceVector(b))
    return merged.as_dict()


def merge_outcome(VectorClock, a, b):
    """(a's counts after a.merge(b), b's counts after it), without zeros; checks the types."""
    mine, theirs = VectorClock(copy.deepcopy(a)), VectorClock(copy.deepcopy(b))
    returned = mine.merge(theirs)
    if returned is not None and returned is not mine:
        raise TypeError(f"merge changes the vector in place and returns None, got {returned!r}")
    if not isinstance(mine.counts, dict):
        raise TypeError(f"self.counts must stay a dict, got {mine.counts!r}")
    return {"merged": normalized(mine.counts), "other": normalized(theirs.counts)}


def random_vector(rng, nodes):
    return {node: rng.choice([0, 1, 1, 2, 3]) for node in nodes if rng.random() < 0.7}


def random_pair(rng):
    nodes = rng.sample(["a", "b", "c", "d"], rng.randint(1, 4))
    a = random_vector(rng, nodes)
    b = dict(a) if rng.random() < 0.5 else random_vector(rng, nodes)
    for node in rng.sample(
        nodes, rng.randint(0, min(2, len(nodes)))
    ):  # b a little later or earlier than a
        b[node] = b.get(node, 0) + rng.choice([-1, 1, 1])
    return a, {node: count for node, count in b.items() if count >= 0}


@grader("Task 2 · VectorClock compare and merge")
def check_vector_clock(cases, VectorClock):
    for a, b, hint in COMPARE_CASES:
        cases.equal(
            f"VectorClock({a}).compare(VectorClock({b}))",
            lambda a=a, b=b: VectorClock(dict(a)).compare(VectorClock(dict(b))),
            reference_compare(a, b),
            hint=hint,
        )
    for a, b, hint in MERGE_CASES:
        cases.equal(
            f"VectorClock({a}).merge(VectorClock({b})): the merged counts, and the other's",
            lambda a=a, b=b: merge_outcome(VectorClock, a, b),
            {"merged": reference_merge(a, b), "other": normalized(b)},
            hint=hint + " merge changes only self.counts, never the other vector's.",
        )
    unchanged = ({"a": 2, "b": 1}, {"a": 1, "b": 3})
    cases.equal(
        f"compare leaves both vectors as they were ({unchanged[0]} and {unchanged[1]})",
        lambda: compared_counts(VectorClock, *unchanged),
        [normalized(unchanged[0]), normalized(unchanged[1])],
        hint="compare only looks: it changes neither vector.",
    )
    rng = random.Random(7)
    for run in range(300):
        a, b = random_pair(rng)
        cases.equal(
            f"random pair {run}: VectorClock({a}).compare(VectorClock({b}))",
            lambda a=a, b=b: VectorClock(dict(a)).compare(VectorClock(dict(b))),
            reference_compare(a, b),
            hint=VECTOR_HINT,
        )
        cases.equal(
            f"random pair {run}: VectorClock({a}).merge(VectorClock({b}))",
            lambda a=a, b=b: merge_outcome(VectorClock, a, b),
            {"merged": reference_merge(a, b), "other": normalized(b)},
            hint="Entry-wise maximum over the nodes of both vectors, stored in self.counts.",
        )


def compared_counts(VectorClock, a, b):
    mine, theirs = VectorClock(dict(a)), VectorClock(dict(b))
    mine.compare(theirs)
    return [normalized(mine.counts), normalized(theirs.counts)]


# --- Task 3: CausalBuffer ---------------------------------------------------------------------


def causal_messages(rng, senders, sends):
    """Messages (sender, stamp, payload) as members that broadcast causally would send them.

    Each member delivers, between its own sends, some of the others' messages that the
    delivery condition allows; a stamp is the sender's vector with its own entry counting
    the message. Payloads are "<sender>#<n>".
    """
    vectors = {sender: {} for sender in senders}
    messages = []
    for _ in range(sends):
        sender = rng.choice(senders)
        mine = vectors[sender]
        ready = [m for m in messages if m[0] != sender and deliverable_now(m, mine)]
        while ready and rng.random() < 0.6:
            other, stamp, _ = rng.choice(ready)
            mine[other] = stamp[other]
            ready = [m for m in messages if m[0] != sender and deliverable_now(m, mine)]
        stamp = dict(mine)
        stamp[sender] = stamp.get(sender, 0) + 1
        mine[sender] = stamp[sender]
        messages.append((sender, stamp, f"{sender}#{stamp[sender]}"))
    return messages


def deliverable_now(message, delivered):
    sender, stamp, _ = message
    return deliverable(sender, ReferenceVector(stamp), ReferenceVector(delivered))


def expected_closure(arrived):
    """The indexes of the arrived messages whose causes have all arrived: what must be out."""
    delivered, out = {}, set()
    progress = True
    while progress:
        progress = False
        for index, message in arrived:
            if index not in out and deliverable_now(message, delivered):
                out.add(index)
                delivered[message[0]] = message[1][message[0]]
                progress = True
    return out


def play_arrivals(buffer_class, messages, order):
    """Give the messages to a new buffer in `order`; the list returned for each arrival."""
    buffer = buffer_class()
    return [
        list(buffer.receive(messages[i][0], copy.deepcopy(messages[i][1]), messages[i][2]))
        for i in order
    ]


def arrivals_problem(messages, order, returned):
    """What is wrong with the lists the buffer returned, or None. Payloads are unique."""
    by_payload = {repr(payload): index for index, (_, _, payload) in enumerate(messages)}
    delivered, seen, arrived = {}, set(), []
    for step, (index, got) in enumerate(zip(order, returned, strict=True)):
        arrived.append((index, messages[index]))
        what = f"after arrival {step + 1} ({describe_message(messages[index])})"
        for payload in got:
            out = by_payload.get(repr(payload))
            if out is None:
                return f"{what} it returned {payload!r}, which no message carried", ""
            if out in seen:
                return f"{what} it delivered {payload!r} a second time", DUPLICATE_HINT
            if out not in dict(arrived):
                return f"{what} it delivered {payload!r}, which has not arrived", ""
            if not deliverable_now(messages[out], delivered):
                return (
                    f"{what} it delivered {payload!r} before its causes: it has delivered "
                    f"{delivered_counts(delivered)} and the message's stamp is "
                    f"{messages[out][1]}",
                    CAUSE_HINT,
                )
            seen.add(out)
            delivered[messages[out][0]] = messages[out][1][messages[out][0]]
        missing = expected_closure(arrived) - seen
        if missing:
            late = messages[min(missing)]
            return (
                f"{what} it still holds {late[2]!r} (stamp {late[1]}), though it has delivered "
                f"{delivered_counts(delivered)}: every message it causally depends on is there",
                RESCAN_HINT,
            )
    return None


def describe_message(message):
    sender, stamp, payload = message
    return f"from {sender} with stamp {stamp}: {payload!r}"


def delivered_counts(delivered):
    return dict(sorted(delivered.items())) or "nothing yet"


DUPLICATE_HINT = "Remove a message from the hold-back queue when you deliver it."
CAUSE_HINT = (
    "Deliver a message from s with stamp V only when V[s] == delivered[s] + 1 (the next from "
    "s) and V[k] <= delivered[k] for every other k (you have seen all s had seen)."
)
RESCAN_HINT = (
    "Every message this one depends on is delivered, so it can go out: check the condition "
    "(V[sender] == delivered[sender] + 1, and V[k] <= delivered[k] for the others), and after "
    "each delivery scan the hold-back queue again until a whole pass delivers nothing (one "
    "delivery can make several held messages deliverable, anywhere in the queue)."
)

QUESTION = ("alice", {"alice": 1}, "I lost my keys")
ANSWER = ("bob", {"alice": 1, "bob": 1}, "found them!")


def chain(senders):
    """Each sender's message answers the one before: a causal chain across senders."""
    messages, vector = [], {}
    for sender in senders:
        vector = {**vector, sender: vector.get(sender, 0) + 1}
        messages.append((sender, dict(vector), f"{sender}#{vector[sender]}"))
    return messages


CAUSAL_SCENARIOS = [  # (label, messages, arrival order, what each arrival returns, hint)
    ("the question, then its answer", [QUESTION, ANSWER], [0, 1],
     [["I lost my keys"], ["found them!"]], "A message whose causes are delivered goes out "
     "at once."),
    ("the answer overtakes the question", [QUESTION, ANSWER], [1, 0],
     [[], ["I lost my keys", "found them!"]], CAUSE_HINT),
    ("three messages from one sender, last first", chain(["a", "a", "a"]), [2, 1, 0],
     [[], [], ["a#1", "a#2", "a#3"]], "A sender's messages go out in the order it sent them."),
    ("a chain a -> b -> c arrives backwards", chain(["a", "b", "c"]), [2, 1, 0],
     [[], [], ["a#1", "b#1", "c#1"]], CAUSE_HINT),
    ("two concurrent messages, each delivered on arrival",
     [("a", {"a": 1}, "a#1"), ("b", {"b": 1}, "b#1")], [1, 0], [["b#1"], ["a#1"]],
     "Concurrent messages wait for nothing: deliver each as it arrives."),
    ("c#1 answers both a#1 and b#1",
     [("a", {"a": 1}, "a#1"), ("b", {"b": 1}, "b#1"), ("c", {"a": 1, "b": 1, "c": 1}, "c#1")],
     [2, 0, 1], [[], ["a#1"], ["b#1", "c#1"]], CAUSE_HINT),
    ("held: b#1 (waits for a#2), then a#2 (waits for a#1); then a#1 arrives",
     [("a", {"a": 1}, "a#1"), ("a", {"a": 2}, "a#2"), ("b", {"a": 2, "b": 1}, "b#1")],
     [2, 1, 0], [[], [], ["a#1", "a#2", "b#1"]], RESCAN_HINT),
    ("stamps with explicit zero entries",
     [("a", {"a": 1, "b": 0}, "a#1"), ("b", {"a": 1, "b": 1, "c": 0}, "b#1")], [1, 0],
     [[], ["a#1", "b#1"]], "An entry of 0 and a missing entry are the same."),
]  # fmt: skip

SAME_PAYLOADS = (  # two messages that carry equal (and unhashable) payloads
    [("a", {"a": 1}, ["ok"]), ("b", {"a": 1, "b": 1}, ["ok"]), ("b", {"a": 1, "b": 2}, ["ok"])],
    [2, 1, 0],
    [[], [], [["ok"], ["ok"], ["ok"]]],
)


@grader("Task 3 · CausalBuffer")
def check_causal_buffer(cases, CausalBuffer):
    for label, messages, order, expected, hint in CAUSAL_SCENARIOS:
        arrivals = "; ".join(describe_message(messages[i]) for i in order)
        case = f"{label} (arrivals: {arrivals})"
        got = cases.call(case, lambda m=messages, o=order: play_arrivals(CausalBuffer, m, o))
        if not same_value(expected, got):  # the hint that matches what went wrong
            hint = (arrivals_problem(messages, order, got) or ("", hint))[1] or hint
        cases.same(case, got, expected, hint=hint)
    messages, order, expected = SAME_PAYLOADS
    cases.equal(
        "three messages carrying equal payloads that are lists (['ok']), last first",
        lambda: play_arrivals(CausalBuffer, messages, order),
        expected,
        hint="Payloads may be equal, or unhashable: hold whole messages, and never look a "
        "message up by its payload.",
    )
    cases.equal(
        "two buffers at once keep their own hold-back queues and vectors",
        lambda: two_buffers(CausalBuffer),
        [[], ["x#1"], ["I lost my keys", "found them!"]],
        hint="Create the buffer's state in __init__ (self.held = []), not on the class.",
    )
    rng = random.Random(8)
    for run in range(120):
        senders = ["a", "b", "c", "d"][: rng.randint(2, 4)]
        messages = causal_messages(rng, senders, rng.randint(3, 9))
        order = rng.sample(range(len(messages)), len(messages))
        case = f"random run {run}: {len(messages)} messages from {senders}, arriving " + (
            "; ".join(describe_message(messages[i]) for i in order)
        )
        returned = cases.call(case, lambda m=messages, o=order: play_arrivals(CausalBuffer, m, o))
        problem, hint = arrivals_problem(messages, order, returned) or (None, "")
        cases.true(case, problem is None, problem, hint=hint)


def two_buffers(CausalBuffer):
    one, two = CausalBuffer(), CausalBuffer()
    return [
        list(one.receive(*copy.deepcopy(ANSWER))),
        list(two.receive("x", {"x": 1}, "x#1")),
        list(one.receive(*copy.deepcopy(QUESTION))),
    ]


# --- Task 4: grant_vote -----------------------------------------------------------------------

Vote = functools.partial(dict, candidate="s2")

VOTE_CASES = [  # (arguments, hint)
    (Vote(current_term=1, voted_for=None, last_log_term=0, last_log_index=0,
          candidate_term=1, candidate_last_term=0, candidate_last_index=0),
     "Nobody voted for yet, same term, logs both empty: grant the vote."),
    (Vote(current_term=2, voted_for="s3", last_log_term=1, last_log_index=3,
          candidate_term=2, candidate_last_term=1, candidate_last_index=3),
     "One vote per term: this server already voted for s3 in term 2."),
    (Vote(current_term=2, voted_for="s2", last_log_term=1, last_log_index=3,
          candidate_term=2, candidate_last_term=1, candidate_last_index=3),
     "Asked again by the candidate it voted for (the reply was lost): say yes again."),
    (Vote(current_term=2, voted_for="s3", last_log_term=1, last_log_index=3,
          candidate_term=3, candidate_last_term=1, candidate_last_index=3),
     "A later term is a new election: the vote given in term 2 does not count in term 3."),
    (Vote(current_term=5, voted_for=None, last_log_term=1, last_log_index=1,
          candidate_term=4, candidate_last_term=1, candidate_last_index=1),
     "A candidate from an earlier term is refused, whatever its log."),
    (Vote(current_term=5, voted_for=None, last_log_term=1, last_log_index=1,
          candidate_term=4, candidate_last_term=4, candidate_last_index=9),
     "A candidate from an earlier term is refused, even with a better log."),
    (Vote(current_term=3, voted_for=None, last_log_term=3, last_log_index=4,
          candidate_term=3, candidate_last_term=2, candidate_last_index=9),
     "The last entries' terms decide first: the candidate's last term 2 is behind our 3, "
     "however long its log."),
    (Vote(current_term=3, voted_for=None, last_log_term=2, last_log_index=9,
          candidate_term=4, candidate_last_term=3, candidate_last_index=1),
     "A later last term wins even with a shorter log."),
    (Vote(current_term=3, voted_for=None, last_log_term=2, last_log_index=5,
          candidate_term=4, candidate_last_term=2, candidate_last_index=4),
     "Same last term: the longer log is more up to date, and the candidate's is shorter."),
    (Vote(current_term=3, voted_for=None, last_log_term=2, last_log_index=5,
          candidate_term=4, candidate_last_term=2, candidate_last_index=5),
     "Same last term, same length: 'at least as up to date' includes equal."),
    (Vote(current_term=3, voted_for=None, last_log_term=2, last_log_index=5,
          candidate_term=4, candidate_last_term=2, candidate_last_index=7),
     "Same last term and a longer log: grant."),
    (Vote(current_term=7, voted_for=None, last_log_term=6, last_log_index=2,
          candidate_term=9, candidate_last_term=0, candidate_last_index=0),
     "A later term alone does not earn the vote: the candidate's log (empty) is behind."),
    (Vote(current_term=4, voted_for="s2", last_log_term=4, last_log_index=6,
          candidate_term=4, candidate_last_term=3, candidate_last_index=8),
     "Even the candidate voted for must have a log at least as up to date."),
]  # fmt: skip


def describe_vote(arguments):
    return ", ".join(f"{name}={value!r}" for name, value in arguments.items())


def random_vote(rng):
    current = rng.randint(0, 5)
    own_index = rng.randint(0, 6)
    own_last = rng.randint(1, current) if own_index and current else 0
    cand_index = rng.randint(0, 6)
    cand_term = max(0, current + rng.choice([-1, 0, 0, 1, 2]))
    return dict(
        current_term=current,
        voted_for=rng.choice([None, None, "s2", "s3"]),
        last_log_term=own_last,
        last_log_index=own_index,
        candidate="s2",
        candidate_term=cand_term,
        candidate_last_term=rng.randint(1, max(1, cand_term)) if cand_index else 0,
        candidate_last_index=cand_index,
    )


def voter_with(rule):
    """A Raft key-value server whose votes follow `rule` (RaftNode's `vote_rule`, swapped)."""

    def checked_rule(**arguments):
        granted = rule(**arguments)
        if type(granted) is not bool:
            raise TypeError(f"grant_vote must return True or False, got {granted!r}")
        return granted

    return type("Voter", (KVNode,), {"vote_rule": staticmethod(checked_rule)})


RAFT_RUNS = [(3, seed) for seed in range(8)] + [(5, seed) for seed in (100, 101)]
HEAL_AT, LEADER_WITHIN = 4.0, 2.0


def raft_run_problem(rule, servers, seed):
    """Run a stormy cluster whose servers vote by `rule`: what went wrong, or None."""
    link = Link(loss=0.1, duplicate=0.1, delay=Uniform(0.002, 0.03))
    sim, names = kv_cluster(seed, servers, link=link, node=voter_with(rule))
    operations = [("put", "x", n) if n % 3 else ("get", "x") for n in range(200)]
    add_client(sim, "k", names, operations=operations)
    schedule_faults(sim, names, ["k"], random.Random(seed), start=0.2, end=HEAL_AT)
    monitor = RaftMonitor(sim, names)
    try:
        while sim.run(until=HEAL_AT + LEADER_WITHIN, max_events=1):
            monitor.check()
            if sim.now > HEAL_AT and stable_leader(sim, names) is not None:
                return None
    except RaftSafetyViolation as violation:
        return str(violation)
    return f"no leader elected within {LEADER_WITHIN:g} s after the network healed at {HEAL_AT:g} s"


@grader("Task 4 · grant_vote")
def check_grant_vote(cases, grant_vote):
    for arguments, hint in VOTE_CASES:
        cases.equal(
            f"grant_vote({describe_vote(arguments)})",
            lambda a=arguments: grant_vote(**a),
            reference_grant_vote(**arguments),
            hint=hint,
        )
    rng = random.Random(9)
    for run in range(300):
        arguments = random_vote(rng)
        cases.equal(
            f"random case {run}: grant_vote({describe_vote(arguments)})",
            lambda a=arguments: grant_vote(**a),
            reference_grant_vote(**arguments),
            hint="Refuse an earlier term; refuse a second candidate in the same term (a later "
            "term starts afresh); then grant exactly when the candidate's log is at least as "
            "up to date: later last term, or the same last term and at least as long.",
        )
    for servers, seed in RAFT_RUNS:
        case = (
            f"{servers} Raft servers voting by your rule, seed {seed}: partitions, crashes, 10% "
            "loss and duplication until t=4 s; election safety, log matching and leader "
            "completeness after every event, and a leader after the heal"
        )
        problem = cases.call(case, lambda s=servers, sd=seed: raft_run_problem(grant_vote, s, sd))
        cases.true(case, problem is None, problem, hint=raft_hint(problem))


def raft_hint(problem):
    if problem is None:
        return ""
    if "two leaders" in problem:
        return "Two leaders in a term means two majorities: give at most one vote per term."
    if "no leader" in problem:
        return "Votes are refused that should be granted, so no candidate wins a majority."
    return (
        "A leader without a committed entry was elected: grant a vote only to a candidate "
        "whose log is at least as up to date as yours."
    )


# --- Task 5: register_step --------------------------------------------------------------------


class LearnerRegister(Model):
    """A register model whose step is the learner's, starting at `initial`."""

    def __init__(self, step, initial):
        self._step, self.initial = step, initial

    def init(self):
        return self.initial

    def step(self, state, input, output):
        result = self._step(state, input, output)
        ok, _ = result
        if type(ok) is not bool:
            raise TypeError(f"ok must be True or False, got {ok!r} (from {result!r})")
        return result


STEP_CASES = [  # (state, input, output, hint)
    (0, ("read",), 0, "A read that returns the register's value is right; the state stays."),
    (0, ("read",), 1, "A read that returns another value than the register's is wrong."),
    ("x", ("read",), "x", "The register may hold any value: compare the read's output with it."),
    (None, ("read",), None, "A read of a register holding None returns None."),
    (None, ("read",), 0, "None is not 0: compare with ==, and None == 0 is False."),
    (0, ("write", 5), None, "A write returns None, and the register then holds its value."),
    (5, ("write", 5), None, "Writing the value it already holds is fine too."),
    (0, ("write", 5), UNKNOWN, "A write that timed out (output UNKNOWN) is ok: it may have "
     "taken effect, and the checker assumes it does when it places it."),
    (3, ("read",), UNKNOWN, "A read that timed out (output UNKNOWN) is ok, and changes nothing."),
]  # fmt: skip


def step_result(register_step, state, input, output):
    ok, new_state = register_step(state, input, output)
    return [ok, new_state]


def reference_step(state, input, output):
    ok, new_state = RegisterModel().step(state, input, output)
    return [ok, new_state]


def op(client, input, call, output, ret):
    return Operation(client, input, call, output, ret)


W, R = ("write",), ("read",)

HISTORIES = [  # (label, initial value, history)
    ("write 1, then read 1", 0, [op("A", (*W, 1), 0, None, 1), op("B", R, 2, 1, 3)]),
    ("a stale read: write 1 completes, then a read returns 0", 0,
     [op("A", (*W, 1), 0, None, 1), op("B", R, 2, 0, 3)]),
    ("write 2 then read 2 (a write that changes nothing makes this fail)", 0,
     [op("A", (*W, 2), 0, None, 1), op("B", R, 2, 2, 3)]),
    ("a read during a write may see the old value, and a later one the new", 0,
     [op("A", (*W, 1), 0, None, 10), op("B", R, 1, 0, 2), op("C", R, 3, 1, 4)]),
    ("new then old: reads during a write see 1, then 0", 0,
     [op("A", (*W, 1), 0, None, 10), op("B", R, 1, 1, 2), op("C", R, 3, 0, 4)]),
    ("a timed-out write that took effect: read 1 long after", 0,
     [timed_out("A", (*W, 1), 0), op("B", R, 5, 1, 6)]),
    ("a timed-out write that had not taken effect yet, then did", 0,
     [timed_out("A", (*W, 1), 0), op("B", R, 5, 0, 6), op("C", R, 7, 1, 8)]),
    ("a timed-out write: 1 then 0 is impossible", 0,
     [timed_out("A", (*W, 1), 0), op("B", R, 5, 1, 6), op("C", R, 7, 0, 8)]),
    ("a timed-out read among writes", None,
     [op("A", (*W, "x"), 0, None, 1), timed_out("B", R, 2), op("C", R, 3, "x", 4)]),
    ("two concurrent writes, read 2 then 1", 0,
     [op("A", (*W, 1), 0, None, 5), op("B", (*W, 2), 0, None, 5), op("C", R, 6, 2, 7),
      op("D", R, 8, 1, 9)]),
    ("two concurrent writes, reads during them see 2 then 1", 0,
     [op("A", (*W, 1), 0, None, 5), op("B", (*W, 2), 0, None, 5), op("C", R, 1, 2, 2),
      op("D", R, 3, 1, 4)]),
    ("a read of the initial value 'start'", "start", [op("A", R, 0, "start", 1)]),
    ("a read of a value nobody wrote", 0, [op("A", (*W, 1), 0, None, 1), op("B", R, 2, 7, 3)]),
]  # fmt: skip


def random_history(rng):
    operations, t = [], 0.0
    for client in range(rng.randint(2, 4)):
        t = rng.uniform(0, 3)
        for _ in range(rng.randint(1, 3)):
            call = t + rng.uniform(0, 1)
            ret = call + rng.uniform(0.1, 3)
            t = ret
            if rng.random() < 0.5:
                input, output = (*W, rng.randint(1, 3)), None
            else:
                input, output = R, rng.randint(0, 3)
            if rng.random() < 0.15:
                operations.append(timed_out(client, input, call))
                break
            operations.append(op(client, input, call, output, ret))
    return operations


def verdict(model, history):
    return check_operations(model, history).linearizable


def describe_history(history):
    shown = []
    for item in history:
        end = "never returned" if item.ret == math.inf else f"→ {item.output!r} at {item.ret:g}"
        shown.append(f"{item.client}: {item.input} at {item.call:g} {end}")
    return "; ".join(shown)


@grader("Task 5 · register_step")
def check_register_step(cases, register_step):
    for state, input, output, hint in STEP_CASES:
        cases.equal(
            f"register_step({state!r}, {input!r}, {output!r}) (ok, new_state)",
            lambda s=state, i=input, o=output: step_result(register_step, s, i, o),
            reference_step(state, input, output),
            hint=hint,
        )
    for label, initial, history in HISTORIES:
        expected = verdict(RegisterModel(initial), history)
        cases.equal(
            f"{label}: linearizable? (register starts at {initial!r}; {describe_history(history)})",
            lambda i=initial, h=history: verdict(LearnerRegister(register_step, i), h),
            expected,
            hint=history_hint(expected),
        )
    rng = random.Random(10)
    for run in range(150):
        history = random_history(rng)
        expected = verdict(RegisterModel(0), history)
        cases.equal(
            f"random history {run}: linearizable? (starts at 0; {describe_history(history)})",
            lambda h=history: verdict(LearnerRegister(register_step, 0), h),
            expected,
            hint=history_hint(expected),
        )


def history_hint(expected):
    if expected:
        return (
            "The checker found no order your model accepts, yet one exists: a read is right "
            "when it returns the state; a write makes its value the state; a timed-out call "
            "(UNKNOWN) is always ok and a write still changes the state."
        )
    return (
        "Your model accepted an order that a register cannot produce: a read is ok only when "
        "its output equals the state."
    )
