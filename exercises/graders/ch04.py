"""Graders for exercises/04-reliable-delivery.ipynb: backoff, reordering, windows.

The first two tasks are pure functions and classes. They are tried on
hand-picked cases (other schedules than the example's, attempts that
overflow a float, the edges of the buffer on both sides, two receivers at
once, the memory a receiver keeps) and on seeded random batteries compared
with the reference: `Backoff.delay` for the schedule, and `ReliableReceiver`
driven as a plain object for the receiver.

The sliding-window sender is a node, run on the simulator
(`reference.net.simnet`):

- against a receiver that stays silent while the grader plays scripted
  acknowledgements, to see exactly what each one makes the sender do;
- over a perfect link, to see that the window is used and the timeout kept;
- against the workbook's `ReliableReceiver` over a link that loses 40% of
  messages, duplicates 20% and reorders them, for several seeds, windows,
  timeouts and message counts, with two senders at once in one run.

Every run has a budget of messages, events and real seconds, set from what
the reference sender (`SlidingWindowSender` with a fixed timeout) needs on
the same run, so a retransmission storm or a timer of 0 fails in seconds.
Messages are compared by value, so a sender that sends lists passes.
"""

import functools
import random
from dataclasses import dataclass
from types import SimpleNamespace

from exercises.grading import Budget, grader, retained_bytes
from exercises.verdicts import same_value
from reference.delivery.reliable import (
    Backoff,
    ReliableReceiver,
    SlidingWindowSender,
    parse_ack,
    parse_data,
)
from reference.net.links import Clock, Fixed, Link, Uniform
from reference.net.node import Node
from reference.net.simnet import Simulation
from reference.net.trace import Deliver, Duplicate, Send

# --- Task 1 -----------------------------------------------------------------------------------


def random_schedule(rng):
    """Keyword arguments of a random backoff schedule, and an attempt to try it on."""
    initial = rng.choice([0.001, 0.05, 0.1, 0.5, 2.0, rng.uniform(0.001, 3)])
    multiplier = rng.choice([1.0, 1.01, 1.1, 1.5, 2.0, 3.0, 10.0, rng.uniform(1, 4)])
    cap = initial * rng.choice([1, 2, 10, 1000, rng.uniform(1, 100_000)])
    attempt = rng.choice([rng.randrange(10), rng.randrange(200), rng.randrange(5000), 10**4])
    jitter = rng.choice([0.0, 0.5, 1.0, rng.random()])
    return attempt, {"initial": initial, "multiplier": multiplier, "cap": cap, "jitter": jitter}


def expected_delay(attempt, u, *, initial, multiplier, cap, jitter):
    return Backoff(initial, multiplier, cap, jitter).delay(attempt, u)


def call_text(attempt, u, schedule):
    arguments = ", ".join(f"{name}={value!r}" for name, value in schedule.items())
    return f"backoff_delay({attempt}, {arguments}, u={u!r})"


OVERFLOW = (
    "{} ** {} does not fit in a float: catch OverflowError (or stop multiplying once past the "
    "cap) and use the cap, then apply jitter to it as to any other wait."
)
EXAMPLE = (0.1, 2.0, 1.0)  # initial, multiplier and cap of the statement's example

BACKOFF_CASES = [  # (attempt, u, (initial, multiplier, cap), jitter, hint)
    (0, 0.0, EXAMPLE, 0.0, "The first retry waits `initial`."),
    (1, 0.0, EXAMPLE, 0.0, "Attempt n waits initial * multiplier ** n."),
    (3, 0.7, EXAMPLE, 0.0, "With jitter=0, u changes nothing."),
    (10, 0.0, EXAMPLE, 0.0, "Never wait longer than `cap`."),
    (2, 0.5, EXAMPLE, 0.5, "Jitter takes the fraction jitter * u off: 0.4 * (1 - 0.25)."),
    (10, 0.5, EXAMPLE, 0.5, "Cap first, then jitter: otherwise every capped retry waits "
     "exactly `cap` again, and clients that failed together retry together."),
    (3, 0.0, (0.5, 3.0, 30.0), 0.0,
     "Use the initial, multiplier and cap you are given, not the example's."),
    (4, 0.25, (0.5, 3.0, 30.0), 1.0,
     "Use the cap you are given; with jitter=1 (full jitter) the wait is cap * (1 - u)."),
    (100, 0.0, (0.001, 1.1, 100.0), 0.0, "With multiplier 1.1, attempt 100 is still under the "
     "cap (0.001 * 1.1 ** 100 is 13.78): do not clamp the exponent at a fixed number."),
    (10**6, 0.0, (0.25, 1.0, 5.0), 0.0,
     "A multiplier of 1 is a constant wait: every attempt waits `initial`."),
    (5000, 0.0, EXAMPLE, 0.0, OVERFLOW.format(2.0, 5000)),
    (1000, 0.0, (0.1, 3.0, 60.0), 0.0, OVERFLOW.format(3.0, 1000)),
    (5000, 0.5, EXAMPLE, 0.5, OVERFLOW.format(2.0, 5000)),
]  # fmt: skip


@grader("Task 1 · backoff_delay")
def check_backoff_delay(cases, backoff_delay):
    for attempt, u, (initial, multiplier, cap), jitter, hint in BACKOFF_CASES:
        schedule = {"initial": initial, "multiplier": multiplier, "cap": cap, "jitter": jitter}
        case = call_text(attempt, u, schedule)
        got = cases.call(
            case, lambda a=attempt, u=u, kw=schedule: backoff_delay(a, u=u, **kw), hint=hint
        )
        cases.close(case, got, expected_delay(attempt, u, **schedule), hint=hint)

    rng = random.Random(4)
    for run in range(300):
        attempt, schedule = random_schedule(rng)
        u = rng.random()
        case = f"random schedule {run}: {call_text(attempt, u, schedule)}"
        got = cases.call(case, lambda a=attempt, u=u, kw=schedule: backoff_delay(a, u=u, **kw))
        cases.close(
            case,
            got,
            expected_delay(attempt, u, **schedule),
            hint="The ceiling is min(cap, initial * multiplier ** attempt), overflow or not; "
            "the wait is ceiling * (1 - jitter * u).",
        )


# --- Task 2 -----------------------------------------------------------------------------------


class ReferenceInOrder:
    """The workbook's `ReliableReceiver`, driven as a plain InOrderReceiver (the oracle)."""

    def __init__(self, max_buffer=64):
        self.node = ReliableReceiver(max_buffer=max_buffer)
        self.node.ctx = SimpleNamespace(
            storage={}, send=lambda dst, msg: None, note=lambda text: None
        )
        self.delivered = self.node.ctx.storage.setdefault("delivered", [])

    def receive(self, seq, payload):
        before = len(self.delivered)
        self.node.on_message("peer", ("data", seq, payload))
        return self.delivered[before:]

    @property
    def next_expected(self):
        return self.node.ctx.storage.get("receiver/peer", {"next_expected": 0})["next_expected"]


def feed(receiver_class, arrivals, **kwargs):
    """Feed (seq, payload) pairs; return what each call delivered and next_expected."""
    receiver = receiver_class(**kwargs)
    delivered = [receiver.receive(seq, payload) for seq, payload in arrivals]
    return delivered, receiver.next_expected


def random_arrivals(rng, count, spread):
    """Each of `count` messages arrives 0 to 3 times, out of order by up to `spread` places."""
    copies = [
        (seq + rng.uniform(0, spread), seq)
        for seq in range(count)
        for _ in range(rng.choice((0, 1, 1, 1, 2, 3)))
    ]
    return [(seq, f"p{seq}") for _, seq in sorted(copies)]


def first_divergence(receiver_class, arrivals, max_buffer):
    """The first arrival after which the answer and the reference differ, or None."""
    answer, reference = receiver_class(max_buffer=max_buffer), ReferenceInOrder(max_buffer)
    for step, (seq, payload) in enumerate(arrivals):
        got = (answer.receive(seq, payload), answer.next_expected)
        expected = (reference.receive(seq, payload), reference.next_expected)
        if not same_value(expected, got):
            return step, got, expected
    return None


def memory_held(receiver_class, deliveries, late_copies, max_buffer):
    """What a receiver holds after `deliveries` in order, then a late copy of each old one."""
    receiver = receiver_class(max_buffer=max_buffer)
    for seq in range(deliveries):
        receiver.receive(seq, bytes(100) + seq.to_bytes(4, "big"))
    for seq in range(late_copies):
        receiver.receive(seq, bytes(100) + seq.to_bytes(4, "big"))
    return retained_bytes(receiver)


MEMORY_LIMIT = 64 * 1024  # a receiver with an empty buffer of 16 holds a few KB


@grader("Task 2 · InOrderReceiver")
def check_in_order_receiver(cases, InOrderReceiver):
    cases.equal(
        "a new receiver expects message 0",
        lambda: InOrderReceiver().next_expected,
        0,
        hint="Set next_expected = 0 in __init__.",
    )
    hand_picked = [
        ("messages 0, 1, 2 in order", [(0, "a"), (1, "b"), (2, "c")], {},
         ([["a"], ["b"], ["c"]], 3),
         "Each in-order message is delivered at once, and next_expected moves on."),
        ("messages 2, 0, 1", [(2, "c"), (0, "a"), (1, "b")], {},
         ([[], ["a"], ["b", "c"]], 3),
         "Keep early messages in a buffer; when the gap fills, deliver the whole run."),
        ("message 0 three times", [(0, "a"), (0, "a"), (0, "a")], {},
         ([["a"], [], []], 1),
         "A message below next_expected was delivered already: deliver nothing."),
        ("message 1 twice before message 0", [(1, "b"), (1, "b"), (0, "a")], {},
         ([[], [], ["a", "b"]], 2),
         "A duplicate can arrive while its first copy waits in the buffer: keep one."),
        ("max_buffer=4: message 3 (just inside), 4 (just outside), then 0, 1, 2",
         [(3, "d"), (4, "e"), (0, "a"), (1, "b"), (2, "c")], {"max_buffer": 4},
         ([[], [], ["a"], ["b"], ["c", "d"]], 4),
         "Store seq < next_expected + max_buffer; refuse seq >= next_expected + max_buffer "
         "(it will be sent again)."),
        ("max_buffer=4: message 4 first, then 0 to 3, then 4 again",
         [(4, "e"), (0, "a"), (1, "b"), (2, "c"), (3, "d"), (4, "e")], {"max_buffer": 4},
         ([[], ["a"], ["b"], ["c"], ["d"], ["e"]], 5),
         "Refuse (do not store) seq >= next_expected + max_buffer: it will be sent again."),
        ("max_buffer=1: message 1, then 0, then 1 again",
         [(1, "b"), (0, "a"), (1, "b")], {"max_buffer": 1},
         ([[], ["a"], ["b"]], 2),
         "With max_buffer=1 the only message that may be stored is next_expected itself."),
        ("the default max_buffer of 64: message 63 kept, message 64 refused",
         [(64, "far"), (63, "edge"), *((n, n) for n in range(63))], {},
         ([[], [], [0], *([n] for n in range(1, 62)), [62, "edge"]], 64),
         "The default is max_buffer=64: seq 63 fits, seq 64 does not."),
    ]  # fmt: skip
    for case, arrivals, kwargs, expected, hint in hand_picked:
        cases.equal(
            case, lambda a=arrivals, kw=kwargs: feed(InOrderReceiver, a, **kw), expected, hint=hint
        )

    cases.equal(
        "two receivers fed at the same time keep their own state",
        lambda: two_receivers_interleaved(InOrderReceiver),
        ((["a"], ["b"], ["c"]), (["x"], [], ["y", "z"])),
        hint="Create the buffer in __init__ (self.buffer = ...), not as a class attribute.",
    )

    rng = random.Random(40)
    arrivals = [(seq, f"p{seq}") for seq in range(200) for _ in range(rng.choice((1, 1, 2, 3)))]
    rng.shuffle(arrivals)
    delivered = cases.call(
        "200 messages, shuffled, many duplicated, max_buffer=1000",
        lambda: feed(InOrderReceiver, arrivals, max_buffer=1000),
    )
    cases.same(
        "200 messages, shuffled, many duplicated, max_buffer=1000",
        ([payload for batch in delivered[0] for payload in batch], delivered[1]),
        ([f"p{seq}" for seq in range(200)], 200),
        hint="Every message exactly once, in order, whatever order the copies arrive in.",
    )
    for run in range(30):
        max_buffer = rng.choice([1, 2, 3, 5, 8, 64])
        arrivals = random_arrivals(rng, rng.randint(1, 40), spread=rng.choice([1, 4, 12]))
        case = f"random arrivals {run}, max_buffer={max_buffer}"
        divergence = cases.call(
            case, lambda a=arrivals, m=max_buffer: first_divergence(InOrderReceiver, a, m)
        )
        step, got, expected = divergence or (0, None, None)
        cases.true(
            case,
            divergence is None,
            f"after receiving {arrivals[: step + 1]}, the last call gave (delivered, "
            f"next_expected) = {got!r}; expected {expected!r}",
            hint="Deliver a message once and in order, buffer only seq < next_expected + "
            "max_buffer, and ignore seq < next_expected.",
        )

    held = cases.call(
        "100,000 messages delivered in order",
        lambda: memory_held(InOrderReceiver, 100_000, 0, max_buffer=16),
    )
    cases.true(
        "memory does not grow with the messages delivered",
        held <= MEMORY_LIMIT,
        f"after 100,000 messages delivered in order, the receiver holds {held:,} bytes",
        hint="Keep only next_expected and the early messages: a set of every seq seen grows "
        "for ever.",
    )
    held = cases.call(
        "20,000 messages delivered in order, then a late copy of each",
        lambda: memory_held(InOrderReceiver, 20_000, 20_000, max_buffer=16),
    )
    cases.true(
        "old duplicates are not kept",
        held <= MEMORY_LIMIT,
        f"after 20,000 messages delivered and a late copy of each, the receiver holds "
        f"{held:,} bytes; with nothing waiting in its buffer of 16 it needs a few KB",
        hint="Ignore a message below next_expected: it was delivered already, so keeping its "
        "copy only fills memory.",
    )


def two_receivers_interleaved(receiver_class):
    first, second = receiver_class(), receiver_class()
    one = (first.receive(0, "a"), first.receive(1, "b"))
    two = (second.receive(0, "x"), second.receive(2, "z"))
    return (*one, first.receive(2, "c")), (*two, second.receive(1, "y"))


# --- Task 3 -----------------------------------------------------------------------------------


HEAVY_LOSS = Link(loss=0.4, duplicate=0.2, delay=Uniform(0.005, 0.03))
PERFECT = Link(delay=Fixed(0.06))  # a round trip of 0.12 s, nothing lost


@dataclass(frozen=True)
class Transfer:
    """One sender sending `count` messages to one receiver."""

    count: int
    window: int
    timeout: float
    sender: str = "sender"
    receiver: str = "receiver"
    prefix: str = "m"

    @property
    def messages(self):
        return [f"{self.prefix}{n}" for n in range(self.count)]

    def label(self):
        return f"{self.count} messages, window={self.window}, timeout={self.timeout:g}"


def reference_sender(peer, messages, *, window, timeout):
    """The workbook's sender with a fixed timeout, as the yardstick for budgets."""
    return SlidingWindowSender(
        peer, messages, window=window, backoff=Backoff(timeout, 1.0, timeout, 0.0)
    )


def simulate(sender_class, transfers, seed, link, clock=Clock(), receiver_class=ReliableReceiver):
    """A simulation of `transfers`, each from a `sender_class` to a `receiver_class`."""
    sim = Simulation(seed, link=link)
    for transfer in transfers:
        factory = functools.partial(
            sender_class,
            transfer.receiver,
            transfer.messages,
            window=transfer.window,
            timeout=transfer.timeout,
        )
        sim.add_node(transfer.sender, factory, clock=clock)
        sim.add_node(transfer.receiver, receiver_class)
    return sim


@dataclass
class Outcome:
    """What the trace of one run says about one sender."""

    delivered: list
    data_sends: list  # (time, seq) of every data message the sender sent
    not_data: object  # the first message the sender sent that is not ("data", seq, payload)
    window_violation: tuple | None  # (time, seq, acknowledged below) of the first one
    done_at: float | None  # when the sender learned that everything arrived
    sends_after_done: int
    acknowledged_below: int  # the highest next_expected that reached the sender


def outcome(sim, transfer):
    """Read the trace of `sim` for what `transfer`'s sender did and learned."""
    acks, acked_below = {}, 0
    data_sends, not_data, violation, done_at, late = [], None, None, None, 0
    for event in sim.trace.events:
        if isinstance(event, Send) and event.src == transfer.receiver:
            acks[event.msg_id] = parse_ack(event.msg)
        elif isinstance(event, Duplicate) and event.src == transfer.receiver:
            acks[event.msg_id] = acks[event.copy_of]
        elif isinstance(event, Deliver) and event.dst == transfer.sender and acks.get(event.msg_id):
            acked_below = max(acked_below, acks[event.msg_id][0])
            if done_at is None and acked_below >= transfer.count:
                done_at = event.time
        elif isinstance(event, Send) and event.src == transfer.sender:
            late += done_at is not None
            data = parse_data(event.msg)
            if data is None:
                not_data = event.msg if not_data is None else not_data
                continue
            data_sends.append((event.time, data[0]))
            if violation is None and data[0] >= acked_below + transfer.window:
                violation = (event.time, data[0], acked_below)
    delivered = sim.storage(transfer.receiver).get("delivered", [])
    return Outcome(delivered, data_sends, not_data, violation, done_at, late, acked_below)


def yardstick(transfers, seed, link, senders):
    """What the reference sender sends, and how many events it takes, on the same run."""
    sim = simulate(reference_sender, transfers, seed, link)
    events = sim.run(until=600.0)
    sends = sum(1 for event in sim.trace if event.kind == "send" and event.src in senders)
    return sends, events


def run_budget(transfers, seed, link):
    senders = tuple(transfer.sender for transfer in transfers)
    needs, events = yardstick(transfers, seed, link, senders)
    count = sum(transfer.count for transfer in transfers)
    loss = f"at {link.loss:.0%} loss" if link.loss else "on a perfect link"
    return Budget(
        sends=3 * needs + 40,
        events=20 * events + 2000,
        wall_seconds=5.0,
        senders=senders,
        task=f"for {count}",
        usual=f"a correct sender needs about {needs:,} {loss}",
    )


STORM_HINT = (
    "Resend a message only when its own timer goes off (and set that timer to `timeout`, never "
    "0), not every unacknowledged message on every acknowledgement."
)


def judge_transfer(cases, case, sim, transfer):
    """The checks every run against the real receiver must pass."""
    result = outcome(sim, transfer)
    cases.true(
        f"{case}: the sender sends data messages",
        result.not_data is None,
        f"the sender sent {result.not_data!r}, which is not ('data', seq, payload)",
        hint="Send ('data', seq, messages[seq]) and nothing else.",
    )
    cases.same(
        f"{case}: every message delivered, once, in order",
        result.delivered,
        transfer.messages,
        hint=delivery_hint(result, transfer),
    )
    time, seq, below = result.window_violation or (0, 0, 0)
    cases.true(
        f"{case}: the window is respected",
        result.window_violation is None,
        f"at t={time:.3f} s message {seq} was sent while only messages below {below} were "
        f"acknowledged, and the window is {transfer.window}",
        hint=f"Send seq only while seq < base + window, with the window you are given (here "
        f"{transfer.window}), where base is the oldest message not yet acknowledged.",
    )
    cases.true(
        f"{case}: the sender falls silent when it is done",
        result.done_at is not None and result.sends_after_done == 0,
        f"it sent {result.sends_after_done} more messages after everything was acknowledged"
        if result.done_at is not None
        else "the sender never learned that everything arrived",
        hint="Cancel a message's timer when it is acknowledged, and on a timer, resend "
        "only messages that are still unacknowledged.",
    )


def delivery_hint(result, transfer):
    """A hint about the oldest message the receiver is missing, from what the sender did."""
    missing = next(
        (
            n
            for n, payload in enumerate(transfer.messages)
            if result.delivered[n : n + 1] != [payload]
        ),
        transfer.count,
    )
    if missing == transfer.count:
        return "The receiver got more than the messages: send each one as ('data', seq, payload)."
    stuck = result.acknowledged_below
    if missing >= stuck + transfer.window:
        missing = stuck  # the window was full: the sender waited on this one
    sent = [time for time, seq in result.data_sends if seq == missing]
    if not sent:
        return (
            f"Message {missing} was never sent: each time base slides forward, send every "
            "message that now fits in the window, until all of them are sent."
        )
    return (
        f"Message {missing} was sent {len(sent)} times, the last at t={sent[-1]:.3f} s, then "
        "never again though it was not acknowledged: every message needs a timer that resends "
        "it until it is acknowledged, set again each time it is resent."
    )


class SilentReceiver(Node):
    """Receives and says nothing: the grader sends the acknowledgements itself."""


SCRIPT = [  # (time, acknowledgement the grader sends the sender at that time)
    (0.1, ("ack", 0, 2)),
    (0.15, ("ack", 0, 1)),
    (0.2, ("ack", 3, 0)),
    (0.3, ("ack", 3, 0)),
    (3.0, ("ack", 7, 6)),
    (3.1, ("ack", 10, 9)),
]

SCRIPT_STEPS = [  # (from, to, data messages sent in between, what the acks said, hint)
    (0.05, 0.19, [], "acks for 1 and 2 while 0 is missing", "Acknowledging 1 and 2 does not "
     "move base while 0 is missing: the window still starts at 0, and 4 does not fit yet."),
    (0.19, 0.25, [4, 5, 6], "('ack', 3, 0): everything below 3 arrived",
     "Mark everything below next_expected acknowledged and slide base over every acknowledged "
     "message (a while loop, not an if): base becomes 3, and 4, 5, 6 now fit in the window."),
    (0.25, 1.99, [], "a duplicate ack, then silence shorter than the timeout",
     "A duplicate acknowledgement changes nothing, and nothing is resent before `timeout` "
     "(here 2 s) has passed since it was sent: set each timer to the timeout you are given."),
    (3.0, 3.09, [7, 8, 9], "('ack', 7, 6): everything below 7 arrived",
     "Slide base over everything acknowledged, then send what fits: 7, 8 and 9."),
    (3.15, 20.0, [], "('ack', 10, 9): everything arrived",
     "When every message is acknowledged, cancel the timers and send nothing more."),
]  # fmt: skip


def play_script(WindowSender, acks_as_lists=False):
    """The transfer, and a simulation that plays SCRIPT to the sender when it runs."""
    transfer = Transfer(count=10, window=4, timeout=2.0)
    link, clock = Link(delay=Fixed(0.01)), Clock(offset=500.0)
    sim = simulate(WindowSender, [transfer], 0, link, clock, receiver_class=SilentReceiver)
    for at, ack in SCRIPT:
        ack = list(ack) if acks_as_lists else ack
        sim.call_at(at, lambda ack=ack: sim.node("receiver").ctx.send("sender", ack))
    return transfer, sim


def first_early_resend(result, timeout):
    """(seq, sent at, resent at) of the first message resent sooner than `timeout`, or None."""
    last_sent = {}
    for time, seq in result.data_sends:
        if seq in last_sent and time - last_sent[seq] < timeout - 1e-9:
            return seq, last_sent[seq], time
        last_sent[seq] = time
    return None


def sends_between(result, start, end):
    return [seq for time, seq in result.data_sends if start < time <= end]


def scripted_run(cases, WindowSender, acks_as_lists):
    case = "acknowledgements played by hand: 10 messages, window=4, timeout=2"
    if acks_as_lists:
        case += ", every ack a list"
    transfer, sim = cases.call(case, lambda: play_script(WindowSender, acks_as_lists))
    budget = Budget(sends=200, events=20_000, senders=("sender",), task="for 10")
    cases.run_simulation(case, sim, until=20.0, budget=budget, hint=STORM_HINT)
    return outcome(sim, transfer)


@grader("Task 3 · WindowSender")
def check_window_sender(cases, WindowSender):
    check_start_up(cases, WindowSender)
    check_scripted_acks(cases, WindowSender)
    check_perfect_link(cases, WindowSender)
    check_heavy_loss(cases, WindowSender)


def check_start_up(cases, WindowSender):
    for count, window in [(50, 8), (10, 3), (3, 8), (0, 4)]:
        transfer = Transfer(count=count, window=window, timeout=0.5)
        case = f"start-up: {transfer.label()}"
        sim = cases.call(case, lambda t=transfer: simulate(WindowSender, [t], 0, PERFECT))
        budget = run_budget([transfer], 0, PERFECT)
        cases.run_simulation(case, sim, until=0.0, budget=budget, hint=STORM_HINT)
        first = [e.msg for e in sim.trace.events if isinstance(e, Send) and e.src == "sender"]
        expected = [("data", n, transfer.messages[n]) for n in range(min(count, window))]
        cases.same(
            f"{case}: on_start fills the window",
            first,
            expected,
            hint=f"In on_start, send ('data', seq, messages[seq]) for every seq below "
            f"min(window, len(messages)): here {len(expected)} of them.",
        )


def check_scripted_acks(cases, WindowSender):
    result = scripted_run(cases, WindowSender, acks_as_lists=False)
    early = first_early_resend(result, 2.0)
    cases.true(
        "acknowledgements played by hand: nothing is resent before its timeout",
        early is None,
        "message {} was sent at t={:.3f} s and again at t={:.3f} s, before the timeout of "
        "2 s".format(*(early or (0, 0, 0))),
        hint="Set each retransmission timer to `timeout`, the value you are given (here 2 s), "
        "and resend a message only when its own timer goes off.",
    )
    cases.same(
        "acknowledgements played by hand: at start", sends_between(result, -1, 0), [0, 1, 2, 3]
    )
    for start, end, expected, acks, hint in SCRIPT_STEPS:
        cases.same(
            f"acknowledgements played by hand, {acks}: data sent from t={start:g} to {end:g} s",
            sends_between(result, start, end),
            expected,
            hint=hint,
        )
    resent = sends_between(result, 1.99, 3.0)
    cases.true(
        "acknowledgements played by hand: message 3, unacknowledged, is resent after 2 s",
        3 in resent and min(time for time, seq in result.data_sends if time > 1.99) <= 2.25,
        f"from t=1.99 to 3 s it sent {resent}",
        hint="When a message's timer goes off and it is still unacknowledged, send it again.",
    )
    again = scripted_run(cases, WindowSender, acks_as_lists=False)
    cases.same(
        "acknowledgements played by hand, again: the same run",
        rounded(again.data_sends),
        rounded(result.data_sends),
        hint="Keep all state on self, made in __init__: state on the class or the module is "
        "shared by every sender. And draw randomness from ctx.random, never from `random`.",
    )
    as_lists = scripted_run(cases, WindowSender, acks_as_lists=True)
    cases.same(
        "acknowledgements played by hand, every ack a list: the same data sent",
        rounded(as_lists.data_sends),
        rounded(result.data_sends),
        hint="Over a real network a tuple arrives as a list: unpack an ack "
        "(kind, next_expected, seq = msg) instead of comparing it with a tuple.",
    )


def rounded(data_sends):
    return [(round(time, 6), seq) for time, seq in data_sends]


def check_perfect_link(cases, WindowSender):
    transfer = Transfer(count=24, window=4, timeout=1.0)
    case = "a perfect link with a round trip of 0.12 s: 24 messages, window=4, timeout=1"
    sim = cases.call(case, lambda: simulate(WindowSender, [transfer], 0, PERFECT))
    budget = run_budget([transfer], 0, PERFECT)
    cases.run_simulation(case, sim, until=60.0, budget=budget, hint=STORM_HINT)
    judge_transfer(cases, case, sim, transfer)
    result = outcome(sim, transfer)
    cases.true(
        f"{case}: no message is sent twice",
        len(result.data_sends) == transfer.count,
        f"it sent {len(result.data_sends)} data messages for {transfer.count}, though none was "
        "lost and every ack came back within 0.12 s",
        hint="Set each retransmission timer to `timeout` (here 1 s), the value you are given.",
    )
    cases.true(
        f"{case}: the window is used",
        result.done_at is not None and result.done_at <= 0.12 * 6 + 0.01,
        f"everything was acknowledged at t={result.done_at} s; six round trips of 4 messages "
        "each take 0.72 s",
        hint="Keep the window full: send a new message as soon as one is acknowledged.",
    )


HEAVY_LOSS_RUNS = [  # (seed, the transfers of one run, the senders' clock)
    (1, [Transfer(50, 8, 0.1)], Clock()),
    (2, [Transfer(50, 8, 0.1)], Clock(offset=1000.0)),
    (3, [Transfer(30, 3, 0.25)], Clock()),
    (4, [Transfer(12, 1, 0.1)], Clock()),
    (5, [Transfer(20, 64, 0.15)], Clock()),
    (
        6,
        [Transfer(25, 5, 0.1, "sender-a", "receiver-a", "a"),
         Transfer(25, 2, 0.2, "sender-b", "receiver-b", "b")],
        Clock(),
    ),
]  # fmt: skip


def check_heavy_loss(cases, WindowSender):
    for seed, transfers, clock in HEAVY_LOSS_RUNS:
        label = " and ".join(transfer.label() for transfer in transfers)
        case = f"40% loss, 20% duplicates, reordering (seed {seed}): {label}"
        sim = cases.call(
            case, lambda t=transfers, s=seed, c=clock: simulate(WindowSender, t, s, HEAVY_LOSS, c)
        )
        budget = run_budget(transfers, seed, HEAVY_LOSS)
        cases.run_simulation(case, sim, until=600.0, budget=budget, hint=STORM_HINT)
        for transfer in transfers:
            judge_transfer(cases, f"{case}, {transfer.sender}", sim, transfer)
