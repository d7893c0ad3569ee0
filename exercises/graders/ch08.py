"""Graders for exercises/08-capstone.ipynb: edits that converge, a member that edits, and a
rate limit at the broker.

- `resolve_edits` (Task 1) on hand-made lists of `Shown`: no edits, one edit, chains of edits
  by one author and by two (where the later edit has the smaller name and number), concurrent
  edits shown in both orders (sums that differ, sums that tie), an edit of an edit (ignored),
  an edit of a message the list lacks (ignored), and a message that looks like an edit but
  answers nothing; then random causal histories of 2 to 4 members, each shown in several
  random causal orders and cut at random causal prefixes, against `reference_resolve_edits`.
- `EditingMember` (Task 2) on the capstone's simulated chat (reference/capstone/: the relay,
  the members' keys and tokens, the faults drawn from a seed) over several seeds with loss,
  duplication, delays, partitions, crashes and broker restarts, while members post, edit, and
  pairs of members edit the same message at the same moment. A run passes when every edit is
  a post of ``EDIT_PREFIX + text`` answering its target, `check_chat` finds nothing wrong,
  and every member's `texts` are the same and those `reference_resolve_edits` gives for what
  it showed. An edit of a message not shown must raise `UnknownMessage`.
- `TokenBucket` (Task 3) on exact boundaries (times and rates chosen so the arithmetic is
  exact in binary), on a clock that starts far from 0, against the reference on random
  arrivals; then as the broker's rate limit (`RateLimitedRelay`, a relay that drops what a
  member's bucket refuses) in a chat where one member floods: the others' posts all arrive,
  and nobody shows more of the flooder's posts than its bucket let through.
"""

import functools
import random
from collections import Counter

from exercises.grading import Budget, grader
from reference.capstone.campaign import (
    BROKER,
    HEAL_AT,
    HEALED_LINK,
    NAMES,
    QUIET_STEP,
    ROOM,
    SETTLE_LIMIT,
    chat_permissions,
    draw_faults,
    heal_everything,
    is_quiet,
    member_keys,
    schedule_faults,
)
from reference.capstone.chat_checks import Posted, check_chat
from reference.capstone.member import ChatMember, Shown, UnknownMessage
from reference.capstone.relay import Relay
from reference.net.simnet import Simulation
from reference.order.causal import deliverable
from reference.order.clocks import VectorClock

EDIT_PREFIX = "/edit "

# --- Task 1: edits that converge --------------------------------------------------------------


def is_edit(item):
    """An edit is a reply whose text starts with EDIT_PREFIX."""
    return item.reply_to is not None and item.text.startswith(EDIT_PREFIX)


def edit_rank(item):
    """Larger wins: it grows along happens-before (a later edit's clock counts more)."""
    return (sum(item.clock.values()), item.author)


def reference_resolve_edits(shown):
    """The current text of every message that is not an edit, as the task defines it."""
    texts = {item.id: item.text for item in shown if not is_edit(item)}
    winners = {}
    for item in shown:
        if is_edit(item) and item.reply_to in texts:
            best = winners.get(item.reply_to)
            if best is None or edit_rank(item) > edit_rank(best):
                winners[item.reply_to] = item
    for target, edit in winners.items():
        texts[target] = edit.text[len(EDIT_PREFIX) :]
    return texts


def shown_item(author, seq, text, clock, reply_to=None):
    return Shown((author, seq), author, text, reply_to, dict(sorted(clock.items())))


def describe_shown(shown):
    """A list of Shown in a line: [alice#1 'hi' {alice:1}; bob#2 re alice#1 '/edit yo' {...}]"""
    parts = []
    for item in shown:
        clock = ",".join(f"{name}:{count}" for name, count in item.clock.items())
        what = f"{item.author}#{item.id[1]}"
        if item.reply_to is not None:
            what += f" re {item.reply_to[0]}#{item.reply_to[1]}"
        parts.append(f"{what} {item.text!r} {{{clock}}}")
    return "[" + "; ".join(parts) + "]"


HELLO = shown_item("alice", 1, "hello", {"alice": 1})
LUNCH = shown_item("bob", 1, "lunch at noon?", {"alice": 1, "bob": 1})
BOB_EDITS = shown_item("bob", 2, EDIT_PREFIX + "hello, all", {"alice": 1, "bob": 2}, HELLO.id)
ALICE_AFTER_BOB = shown_item(  # alice saw bob's edit, then edited: hers is later
    "alice", 2, EDIT_PREFIX + "hello everyone", {"alice": 2, "bob": 2}, HELLO.id
)
BOB_BUSY = [
    shown_item("bob", seq, f"bob's #{seq}", {"alice": 1, "bob": seq}) for seq in range(1, 6)
]
BOB_LATE_EDIT = shown_item("bob", 6, EDIT_PREFIX + "hi (bob)", {"alice": 1, "bob": 6}, HELLO.id)
ALICE_FIXES = shown_item("alice", 2, EDIT_PREFIX + "hi (alice)", {"alice": 2, "bob": 6}, HELLO.id)
CAROL_EDITS = shown_item("carol", 1, EDIT_PREFIX + "hi (carol)", {"alice": 1, "carol": 1},
                         HELLO.id)  # fmt: skip
DAVE_EDITS = shown_item("dave", 1, EDIT_PREFIX + "hi (dave)", {"alice": 1, "dave": 1}, HELLO.id)
CAROL_READ_MORE = shown_item(  # carol had also read bob's message: her clock sums to 3
    "carol", 1, EDIT_PREFIX + "hi (carol)", {"alice": 1, "bob": 1, "carol": 1}, HELLO.id
)
EDIT_OF_EDIT = shown_item("carol", 2, EDIT_PREFIX + "edited edit", {"alice": 1, "bob": 2,
                          "carol": 2}, BOB_EDITS.id)  # fmt: skip
OF_UNKNOWN = shown_item("bob", 2, EDIT_PREFIX + "what?", {"alice": 3, "bob": 2}, ("alice", 3))
LOOKS_LIKE_ONE = shown_item("carol", 1, EDIT_PREFIX + "is not an edit", {"alice": 1, "carol": 1})
REPLY = shown_item("carol", 1, "hello alice", {"alice": 1, "carol": 1}, HELLO.id)
EMPTIED = shown_item("bob", 2, EDIT_PREFIX, {"alice": 1, "bob": 2}, HELLO.id)

HAND_CASES = [  # (what it tries, shown, hint)
    ("nothing shown", [], ""),
    ("no edits", [HELLO, LUNCH], "Without edits, every message keeps its own text."),
    ("a reply that is not an edit", [HELLO, REPLY],
     "A reply whose text does not start with EDIT_PREFIX is an ordinary message."),
    ("a message that starts with EDIT_PREFIX but answers nothing", [HELLO, LOOKS_LIKE_ONE],
     "An edit is a reply: a message with reply_to None is an ordinary message, prefix or not."),
    ("one edit", [HELLO, LUNCH, BOB_EDITS],
     "An edit's new text is its text without EDIT_PREFIX; the edit itself is not a message "
     "with a text of its own."),
    ("an edit to the empty text", [HELLO, EMPTIED], "The new text may be empty."),
    ("a chain: bob edits, alice sees it and edits again", [HELLO, BOB_EDITS, ALICE_AFTER_BOB],
     "alice's edit causally follows bob's (her clock counts it): hers wins, whatever the names."),
    ("a chain: bob's 6th message edits, alice (her 2nd) sees it and edits again",
     [HELLO, *BOB_BUSY, BOB_LATE_EDIT, ALICE_FIXES],
     "alice's edit causally follows bob's: it wins, though her seq (2) is smaller than his (6)."),
    ("two concurrent edits, carol's shown first", [HELLO, CAROL_EDITS, DAVE_EDITS],
     "carol's and dave's edits are concurrent with equal sums of their clocks: the larger "
     "author name wins, whichever was shown last."),
    ("two concurrent edits, dave's shown first", [HELLO, DAVE_EDITS, CAROL_EDITS],
     "carol's and dave's edits are concurrent with equal sums of their clocks: the larger "
     "author name wins, whichever was shown last."),
    ("concurrent edits, the larger sum by the smaller name, shown first",
     [HELLO, LUNCH, CAROL_READ_MORE, DAVE_EDITS],
     "Between concurrent edits the larger sum of the clock wins; names only break a tie."),
    ("concurrent edits, the larger sum by the smaller name, shown last",
     [HELLO, LUNCH, DAVE_EDITS, CAROL_READ_MORE],
     "Between concurrent edits the larger sum of the clock wins; names only break a tie."),
    ("an edit of an edit", [HELLO, BOB_EDITS, EDIT_OF_EDIT],
     "An edit whose target is itself an edit is ignored: it changes nothing, and is not in "
     "the result."),
    ("an edit of a message that is not in the list", [HELLO, OF_UNKNOWN],
     "An edit whose target is not in the list is ignored (no entry, no exception)."),
]  # fmt: skip

RESOLVE_HINT = (
    "Among the edits of a message, keep those that no other edit of it causally follows "
    "(VectorClock(a.clock).compare(VectorClock(b.clock))), and of those the largest "
    "(sum of the clock, author)."
)


def random_history(rng):
    """Messages of 2-4 members who post, reply and edit, each showing in causal order."""
    members = sorted(rng.sample(NAMES[:6], rng.randint(2, 4)))
    delivered = {name: VectorClock() for name in members}
    known = {name: [] for name in members}
    history = []
    for _ in range(rng.randint(2, 22)):
        author = rng.choice(members)
        for _ in range(rng.randrange(4)):
            ready = [
                item
                for item in history
                if item not in known[author]
                and deliverable(item.author, VectorClock(item.clock), delivered[author])
            ]
            if ready:
                item = rng.choice(ready)
                known[author].append(item)
                delivered[author].increment(item.author)
        clock = delivered[author].copy()
        clock.increment(author)
        plain = [item for item in known[author] if not is_edit(item)][:3]
        pick, target, text = rng.random(), None, f"{author} #{clock[author]}"
        if plain and pick < 0.55:
            target, text = rng.choice(plain).id, EDIT_PREFIX + f"{author}'s edit {clock[author]}"
        elif known[author] and pick < 0.65:
            target = rng.choice(known[author]).id
            text = rng.choice([text, EDIT_PREFIX + "edit of anything"])
        item = shown_item(author, clock[author], text, clock.counts, target)
        history.append(item)
        known[author].append(item)
        delivered[author].increment(author)
    return history


def causal_order(rng, history):
    """`history` in a random order that shows each message after its causal past."""
    left, shown, delivered = list(history), [], VectorClock()
    while left:
        ready = [x for x in left if deliverable(x.author, VectorClock(x.clock), delivered)]
        item = rng.choice(ready)
        left.remove(item)
        shown.append(item)
        delivered.increment(item.author)
    return shown


@grader("Task 1 · resolve_edits")
def check_resolve_edits(cases, resolve_edits):
    for what, shown, hint in HAND_CASES:
        case = f"{what}: resolve_edits({describe_shown(shown)})"
        cases.equal(case, lambda s=shown: resolve_edits(list(s)), reference_resolve_edits(shown),
                    hint=hint or RESOLVE_HINT)  # fmt: skip
    rng = random.Random(808)
    for run in range(60):
        history = random_history(rng)
        for order in range(4):
            shown = causal_order(rng, history)
            if order == 3:
                shown = shown[: rng.randint(1, len(shown))]
            kind = "a causal prefix" if order == 3 else f"causal order {order + 1}"
            case = f"random history {run} (seed 808), {kind}: {describe_shown(shown)}"
            cases.equal(case, lambda s=shown: resolve_edits(list(s)),
                        reference_resolve_edits(shown), hint=RESOLVE_HINT)  # fmt: skip


# --- Task 2: a member that edits ---------------------------------------------------------------


class ReferenceEditingMember(ChatMember):
    """The grader's own editing member: what the budget of a run is measured on."""

    def edit(self, message_id, text):
        return self.post(EDIT_PREFIX + text, reply_to=message_id)

    @property
    def texts(self):
        return reference_resolve_edits(self.shown)


class ChatScript:
    """What the grader makes the members do in one run (post, edit), and what they posted."""

    def __init__(self, sim, rng):
        self.sim, self.rng = sim, rng
        self.posted = []  # Posted, as check_chat wants them
        self.edits = []  # (author, returned id, target, new text)

    def post(self, author):
        if not self.sim.is_up(author):
            return
        member = self.sim.node(author)
        seen = frozenset(item.id for item in member.shown)
        plain = sorted(item.id for item in member.shown if not is_edit(item))
        reply_to = self.rng.choice(plain) if plain and self.rng.random() < 0.3 else None
        text = f"{author} says #{len(self.posted) + 1}"
        self.posted.append(Posted(member.post(text, reply_to=reply_to), text, reply_to, seen))

    def edit(self, *authors):
        """Each of `authors` (those up) edits the same message, at the same moment."""
        members = [self.sim.node(name) for name in authors if self.sim.is_up(name)]
        if not members:
            return
        common = set.intersection(*({i.id for i in m.shown if not is_edit(i)} for m in members))
        if not common:
            return
        target = self.rng.choice(sorted(common))
        for member in members:
            seen = frozenset(item.id for item in member.shown)
            text = f"{member.name}'s version #{len(self.edits) + 1}"
            message_id = member.edit(target, text)
            self.edits.append((member.name, message_id, target, text))
            if message_id is not None:
                self.posted.append(Posted(message_id, EDIT_PREFIX + text, target, seen))


def editing_simulation(EditingMember, seed, members):
    """The capstone's world with `EditingMember`s, faults drawn from `seed`, and a script."""
    names = NAMES[:members]
    rng = random.Random(f"exercise 08 edits {seed}")
    faults = draw_faults(rng, names, None)
    sim = Simulation(seed, link=faults.link)
    permissions = {name: chat_permissions(ROOM, name) for name in names}
    sim.add_node(BROKER, functools.partial(Relay, permissions=permissions))
    private, public = member_keys(names)
    for name in names:
        member = functools.partial(EditingMember, name, ROOM, names, private[name], public)
        sim.add_node(name, member)
    schedule_faults(sim, faults)
    script = ChatScript(sim, rng)
    for _ in range(8):
        sim.call_at(rng.uniform(0.5, HEAL_AT), script.post, rng.choice(names))
    for _ in range(4):
        sim.call_at(rng.uniform(2.0, HEAL_AT), script.edit, rng.choice(names))
    for _ in range(3):
        sim.call_at(rng.uniform(2.0, HEAL_AT), script.edit, *rng.sample(names, 2))
    sim.call_at(HEAL_AT, heal_everything, sim, names)
    return sim, names, script


def run_to_quiet(run_simulation, sim, names):
    """Run past the heal until the chat is quiet (as the campaign does)."""
    run_simulation(HEAL_AT)
    while sim.now < HEAL_AT + SETTLE_LIMIT and not is_quiet(sim, names):
        run_simulation(sim.now + QUIET_STEP)


@functools.cache
def reference_sends(seed, members):
    sim, names, _ = editing_simulation(ReferenceEditingMember, seed, members)
    run_to_quiet(lambda until: sim.run(until=until), sim, names)
    return sum(1 for event in sim.trace.events if event.kind == "send")


EDIT_RUNS = [(1, 3), (2, 3), (5, 3), (8, 4), (13, 3), (21, 4)]  # (seed, members)

EDIT_HINT = (
    "edit(message_id, text) is self.post(EDIT_PREFIX + text, reply_to=message_id): a reply, "
    "so causal order keeps it after its target, signed and delivered like any post."
)
TEXTS_HINT = (
    "texts is resolve_edits(self.shown), from what was shown and not from the order it was "
    "shown in (and resolve_edits must pass Task 1's check)."
)


def edit_problem(script, sim):
    """What is wrong with the edits the members made, or None."""
    for author, message_id, target, text in script.edits:
        what = f"{author}.edit({target}, {text!r})"
        if not (isinstance(message_id, tuple | list) and len(message_id) == 2):
            return f"{what} returned {message_id!r}, not the id (author, seq) of the edit"
        mine = [item for item in sim.node(author).shown if item.id == tuple(message_id)]
        if not mine:
            return f"{what} returned {message_id!r}, which {author} never showed"
        if (mine[0].reply_to, mine[0].text) != (target, EDIT_PREFIX + text):
            return (
                f"{what} posted {mine[0].text!r} in reply to {mine[0].reply_to}, not "
                f"{EDIT_PREFIX + text!r} in reply to {target}"
            )
    return None


@grader("Task 2 · EditingMember")
def check_editing_member(cases, EditingMember):
    for seed, members in EDIT_RUNS:
        case = f"seed {seed}, {members} members, faults drawn from the seed"
        sim, names, script = cases.call(case, lambda s=seed, m=members:
                                        editing_simulation(EditingMember, s, m))  # fmt: skip
        usual = reference_sends(seed, members)
        budget = Budget(sends=2 * usual + 500, events=40 * usual + 20_000, task="in this run",
                        usual=f"the reference sends {usual:,}")  # fmt: skip
        if seed == EDIT_RUNS[0][0]:
            cases.run_simulation(case, sim, until=3.0, budget=budget)
            for unknown in (("nobody", 1), ("bob", 99)):
                cases.raises(f"{case}: alice.edit({unknown}, 'x'), a message she has not shown",
                             lambda u=unknown, s=sim: s.node("alice").edit(u, "x"), UnknownMessage,
                             hint="Refuse an unknown target with UnknownMessage: post() "
                             "raises it for a reply to a message not shown.")  # fmt: skip
        cases.call(case, lambda s=sim, n=names, b=budget, c=case: run_to_quiet(
            lambda until: cases.run_simulation(c, s, until=until, budget=b, hint=EDIT_HINT),
            s, n))  # fmt: skip
        problem = edit_problem(script, sim)
        cases.true(f"{case}: each edit is a post that replies to its target", problem is None,
                   problem, hint=EDIT_HINT)  # fmt: skip
        shown = {name: sim.node(name).shown for name in names}
        verdict = check_chat(script.posted, shown, seed=seed)
        cases.true(f"{case}: check_chat", verdict.ok, str(verdict), hint=EDIT_HINT)
        texts = {}
        for name in names:
            texts[name] = cases.call(f"{case}: {name}.texts", lambda n=name, s=sim: s.node(n).texts,
                                     hint=TEXTS_HINT)  # fmt: skip
            expected = reference_resolve_edits(shown[name])
            cases.same(f"{case}: {name}.texts, for what {name} showed", texts[name], expected,
                       hint=TEXTS_HINT)  # fmt: skip
        for name in names[1:]:
            cases.same(f"{case}: {name}.texts equal {names[0]}.texts", texts[name],
                       texts[names[0]], hint=TEXTS_HINT)  # fmt: skip
        concurrent = Counter(target for _, _, target, _ in script.edits)
        cases.true(f"{case}: the run edited some message twice", max(concurrent.values()) > 1,
                   f"the grader's script made only {len(script.edits)} edits")  # fmt: skip


# --- Task 3: a rate limit at the broker -------------------------------------------------------


class ReferenceBucket:
    """Tokens at the time of the last call; refilled on each call, capped at `burst`."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = float(burst), None

    def allow(self, now):
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


T0 = 1000.0  # buckets are never started at 0

BUCKET_SCRIPTS = [  # (rate, burst, times, what it tries); times exact in binary
    (1, 3, [T0, T0, T0, T0], "a burst of 3, then a refusal"),
    (4, 2, [T0, T0, T0, T0 + 0.25, T0 + 0.25], "refused, then one token after exactly 1/rate"),
    (4, 2, [T0, T0, T0 + 0.1875, T0 + 0.25], "not yet at 3/4 of 1/rate; yes at 1/rate"),
    (2, 1, [T0, T0 + 0.25, T0 + 0.5, T0 + 0.75, T0 + 1.0], "a burst of one: every 1/rate"),
    (1, 3, [T0, T0, T0, T0 + 1000, T0 + 1000, T0 + 1000, T0 + 1000],
     "a long idle fills the bucket to burst, no more"),
    (0.5, 2, [T0, T0, T0 + 1.0, T0 + 2.0, T0 + 2.0], "rate 0.5: a token every 2 s"),
    (0.25, 1, [T0, T0 + 3.75, T0 + 4.0, T0 + 4.0], "rate 0.25: a token every 4 s"),
    (2.5, 2, [T0, T0, T0 + 0.375, T0 + 0.4375], "rate 2.5: a token after 0.4 s"),
    (8, 4, [T0 + k / 16 for k in range(12)], "16 asks a second at rate 8, burst 4"),
    (1, 1, [T0, T0 + 0.5, T0 + 1.0, T0 + 1.5, T0 + 2.5], "a refusal costs nothing"),
    (3, 5, [5e6, 5e6, 5e6 + 0.5, 5e6 + 0.5, 5e6 + 0.5], "a clock that reads 5,000,000 s"),
]  # fmt: skip

BUCKET_HINT = (
    "Start full (burst tokens). On each call add (now - time of the last call) * rate, at most "
    "up to burst; allow and take one token if at least 1 is there."
)


def bucket_hint(rate, burst, times, got):
    reference = ReferenceBucket(rate, burst)
    for index, now in enumerate(times):
        tokens = reference.tokens if reference.updated is None else min(
            burst, reference.tokens + (now - reference.updated) * rate)  # fmt: skip
        want = reference.allow(now)
        if index < len(got) and got[index] != want:
            if index == 0:
                return "A new bucket is full: its first call is allowed."
            return (
                f"At now={now:g} the bucket holds {tokens:g} token(s) (burst {burst}, rate "
                f"{rate}): "
                f"{'allow' if want else 'refuse'}. {BUCKET_HINT}"
            )
    return BUCKET_HINT


def run_bucket(TokenBucket, rate, burst, times):
    bucket = TokenBucket(rate, burst)
    return [bucket.allow(now) for now in times]


def random_bucket_script(rng):
    rate = rng.choice([0.25, 0.5, 1, 2, 4, 8, 16])
    burst = rng.choice([1, 2, 3, 5, 10])
    now = rng.choice([0.0, T0, 86_400.0, 12_345.5])
    times = []
    for _ in range(rng.randint(1, 40)):
        now += rng.choice([0, 0, 1, 2, 4, 8, 64, 1024]) / 64
        times.append(now)
    return rate, burst, times


class RateLimitedRelay(Relay):
    """A relay that gives each member a bucket and drops each publish that its bucket refuses."""

    def __init__(self, make_bucket, **options):
        super().__init__(**options)
        self.make_bucket = make_bucket
        self.buckets = {}
        self.limited = Counter()  # member -> publishes dropped

    def on_message(self, src, msg):
        if isinstance(msg, list | tuple) and len(msg) == 3 and msg[0] == "pub":
            bucket = self.buckets.get(src)
            if bucket is None:
                bucket = self.buckets[src] = self.make_bucket()
            if not bucket.allow(self.ctx.now()):
                self.limited[src] += 1
                return
        super().on_message(src, msg)


FLOOD = {"rate": 8, "burst": 16, "posts": 200, "from": 1.0, "every": 0.01, "until": 20.0}
FLOODER = "carol"


def flood_simulation(TokenBucket, seed):
    names = NAMES[:4]
    rng = random.Random(f"exercise 08 flood {seed}")
    sim = Simulation(seed, link=HEALED_LINK)
    permissions = {name: chat_permissions(ROOM, name) for name in names}
    bucket = functools.partial(TokenBucket, FLOOD["rate"], FLOOD["burst"])
    sim.add_node(BROKER, functools.partial(RateLimitedRelay, bucket, permissions=permissions))
    private, public = member_keys(names)
    for name in names:
        sim.add_node(name, functools.partial(ChatMember, name, ROOM, names, private[name], public))
    script = ChatScript(sim, rng)
    for number in range(FLOOD["posts"]):
        sim.call_at(FLOOD["from"] + number * FLOOD["every"], script.post, FLOODER)
    for _ in range(12):
        sim.call_at(rng.uniform(0.5, 10.0), script.post, rng.choice(["alice", "bob", "dave"]))
    return sim, names, script


@grader("Task 3 · TokenBucket")
def check_token_bucket(cases, TokenBucket):
    scripts = list(BUCKET_SCRIPTS)
    rng = random.Random(2_008)
    scripts += [(*random_bucket_script(rng), "random asks") for _ in range(150)]
    for rate, burst, times, what in scripts:
        case = f"TokenBucket({rate}, {burst}), allow(now) at now = {times} ({what})"
        got = cases.call(case, lambda r=rate, b=burst, t=times: run_bucket(TokenBucket, r, b, t))
        expected = run_bucket(ReferenceBucket, rate, burst, times)
        cases.same(case, got, expected, hint=bucket_hint(rate, burst, times, got))
    case = "two buckets at once, TokenBucket(1, 2) and TokenBucket(1, 1)"
    pair = cases.call(case, lambda: (TokenBucket(1, 2), TokenBucket(1, 1)))
    asks = [(0, T0), (1, T0), (0, T0), (1, T0), (0, T0), (1, T0 + 1), (0, T0 + 1)]
    cases.equal(
        f"{case}: asking first, second, first... at {[t for _, t in asks]}",
        lambda: [pair[which].allow(now) for which, now in asks],
        [True, True, True, False, False, True, True],
        hint="Each bucket has its own tokens: keep them on self, not on the class.",
    )
    rate, burst = FLOOD["rate"], FLOOD["burst"]
    for seed in (1, 2):
        case = (
            f"seed {seed}: the broker gives each member a TokenBucket({rate}, {burst}); "
            f"{FLOODER} posts {FLOOD['posts']} messages, one every {FLOOD['every']} s"
        )
        sim, names, script = cases.call(case, lambda s=seed: flood_simulation(TokenBucket, s))
        budget = Budget(sends=40_000, events=100_000, task="in this run",
                        usual="the reference sends about 16,000")  # fmt: skip
        cases.run_simulation(case, sim, until=FLOOD["until"], budget=budget, hint=BUCKET_HINT)
        relay = sim.node(BROKER)
        cases.true(f"{case}: the broker refused some of {FLOODER}'s publishes",
                   relay.limited[FLOODER] > 0, f"it let all of {FLOODER}'s publishes through",
                   hint=BUCKET_HINT)  # fmt: skip
        honest = [post for post in script.posted if post.author != FLOODER]
        shown = {n: [i for i in sim.node(n).shown if i.author != FLOODER] for n in names}
        verdict = check_chat(honest, shown, seed=seed)
        cases.true(f"{case}: the others' posts all arrive (check_chat)", verdict.ok,
                   str(verdict), hint=BUCKET_HINT)  # fmt: skip
        let_through = burst + rate * (FLOOD["until"] - FLOOD["from"])
        for name in names:
            if name == FLOODER:
                continue
            count = sum(1 for item in sim.node(name).shown if item.author == FLOODER)
            cases.true(f"{case}: {name} shows at most burst + rate * time of {FLOODER}'s posts",
                       count <= let_through, f"{name} shows {count} of them, over "
                       f"{let_through:g}", hint=BUCKET_HINT)  # fmt: skip
