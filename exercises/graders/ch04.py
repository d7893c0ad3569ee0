"""Graders for exercises/04-reliable-delivery.ipynb: backoff, reordering, windows.

The first two tasks are pure functions and classes, tried case by case.
The sliding-window sender is a node: it is run on the simulator
(`reference.net.simnet`) against the workbook's `ReliableReceiver`, over a link
that loses 40% of messages, duplicates 20% and reorders them, for several
seeds, and judged by what the trace shows.
"""

import functools
import math
import random

from exercises.grading import grader, short
from reference.delivery.reliable import ReliableReceiver, parse_ack, parse_data
from reference.net.links import Link, Uniform
from reference.net.simnet import Simulation
from reference.net.trace import Deliver, Duplicate, Send

HEAVY_LOSS = Link(loss=0.4, duplicate=0.2, delay=Uniform(0.005, 0.03))
SEEDS = (1, 2, 3, 4, 5)
WINDOW = 8
MESSAGES = [f"m{n}" for n in range(50)]


# --- Task 1 -------------------------------------------------------------------------------


@grader("Task 1 · backoff_delay")
def check_backoff_delay(cases, backoff_delay):
    def delay(attempt, jitter=0.0, u=0.0, initial=0.1, multiplier=2.0, cap=1.0):
        return backoff_delay(
            attempt, initial=initial, multiplier=multiplier, cap=cap, jitter=jitter, u=u
        )

    def close(case, got, expected, hint):
        cases.true(
            case,
            isinstance(got, int | float) and math.isclose(got, expected, rel_tol=1e-9),
            f"expected {expected!r}, got {short(got)}",
            hint=hint,
        )

    got = cases.call("attempt 0, no jitter", lambda: delay(0))
    close("attempt 0, no jitter", got, 0.1, "The first retry waits `initial`.")
    got = [cases.call("attempts 1 to 3, no jitter", lambda n=n: delay(n)) for n in (1, 2, 3)]
    cases.true(
        "attempts 1 to 3, no jitter",
        all(math.isclose(g, e) for g, e in zip(got, (0.2, 0.4, 0.8), strict=True)),
        f"expected [0.2, 0.4, 0.8], got {short(got)}",
        hint="Attempt n waits initial * multiplier ** n (attempt 0 waits `initial`).",
    )
    got = cases.call("attempt 10 with a cap of 1 s", lambda: delay(10))
    close("attempt 10 with a cap of 1 s", got, 1.0, "Never wait longer than `cap`.")
    got = cases.call(
        "attempt 5000",
        lambda: delay(5000),
        hint="2.0 ** 5000 overflows a float: cap the exponent, or catch OverflowError.",
    )
    close("attempt 5000", got, 1.0, "A huge attempt number waits exactly `cap`.")
    got = cases.call("attempt 2, jitter 0.5, u = 0.5", lambda: delay(2, jitter=0.5, u=0.5))
    close(
        "attempt 2, jitter 0.5, u = 0.5",
        got,
        0.3,
        "Jitter takes the fraction jitter * u off the ceiling: 0.4 * (1 - 0.25).",
    )
    got = cases.call("attempt 10, jitter 0.5, u = 0.5", lambda: delay(10, jitter=0.5, u=0.5))
    close(
        "attempt 10, jitter 0.5, u = 0.5",
        got,
        0.75,
        "Cap first, then jitter: otherwise every capped retry waits exactly `cap` again, "
        "and clients that failed together retry together.",
    )

    def first_out_of_range():
        rng = random.Random(4)
        for _ in range(200):
            attempt, jitter, u = rng.randrange(12), rng.random(), rng.random()
            got = delay(attempt, jitter, u)
            ceiling = min(1.0, 0.1 * 2.0**attempt)
            if not ceiling * (1 - jitter) - 1e-12 <= got <= ceiling + 1e-12:
                return attempt, jitter, u, got, ceiling
        return None

    bad = cases.call("200 random attempts and draws", first_out_of_range)
    attempt, jitter, u, got, ceiling = bad or (0, 0.0, 0.0, 0.0, 0.0)
    cases.true(
        "200 random attempts and draws",
        bad is None,
        f"attempt {attempt}, jitter {jitter:.3f}, u = {u:.3f}: expected a delay between "
        f"{ceiling * (1 - jitter):.4f} and {ceiling:.4f}, got {short(got)}",
        hint="Jitter only shortens the wait, never lengthens it past the ceiling.",
    )


# --- Task 2 -------------------------------------------------------------------------------


def _feed(receiver_class, arrivals, **kwargs):
    """Feed (seq, payload) pairs; return what each call delivered and next_expected."""
    receiver = receiver_class(**kwargs)
    delivered = [receiver.receive(seq, payload) for seq, payload in arrivals]
    return delivered, receiver.next_expected


@grader("Task 2 · InOrderReceiver")
def check_in_order_receiver(cases, InOrderReceiver):
    cases.equal(
        "a new receiver expects message 0",
        lambda: InOrderReceiver().next_expected,
        0,
        hint="Set next_expected = 0 in __init__.",
    )
    cases.equal(
        "messages 0, 1, 2 in order",
        lambda: _feed(InOrderReceiver, [(0, "a"), (1, "b"), (2, "c")]),
        ([["a"], ["b"], ["c"]], 3),
        hint="Each in-order message is delivered at once, and next_expected moves on.",
    )
    cases.equal(
        "messages 2, 0, 1",
        lambda: _feed(InOrderReceiver, [(2, "c"), (0, "a"), (1, "b")]),
        ([[], ["a"], ["b", "c"]], 3),
        hint="Keep early messages in a buffer; when the gap fills, deliver the whole run.",
    )
    cases.equal(
        "message 0 three times",
        lambda: _feed(InOrderReceiver, [(0, "a"), (0, "a"), (0, "a")]),
        ([["a"], [], []], 1),
        hint="A message below next_expected was delivered already: deliver nothing.",
    )
    cases.equal(
        "message 1 twice before message 0",
        lambda: _feed(InOrderReceiver, [(1, "b"), (1, "b"), (0, "a")]),
        ([[], [], ["a", "b"]], 2),
        hint="A duplicate can arrive while its first copy waits in the buffer: keep one.",
    )
    cases.equal(
        "message 4 with a buffer of 4, then 0 to 3, then 4 again",
        lambda: _feed(
            InOrderReceiver,
            [(4, "e"), (0, "a"), (1, "b"), (2, "c"), (3, "d"), (4, "e")],
            max_buffer=4,
        ),
        ([[], ["a"], ["b"], ["c"], ["d"], ["e"]], 5),
        hint="Refuse (do not store) seq >= next_expected + max_buffer: it will be sent again.",
    )
    rng = random.Random(40)
    arrivals = [(seq, f"p{seq}") for seq in range(200) for _ in range(rng.choice((1, 1, 2, 3)))]
    rng.shuffle(arrivals)

    def shuffled_run():
        delivered, next_expected = _feed(InOrderReceiver, arrivals, max_buffer=1000)
        return [payload for batch in delivered for payload in batch], next_expected

    cases.equal(
        "200 messages, shuffled, many duplicated",
        shuffled_run,
        ([f"p{seq}" for seq in range(200)], 200),
        hint="Every message exactly once, in order, whatever order the copies arrive in.",
    )


# --- Task 3 -------------------------------------------------------------------------------


def _run_transfer(sender_class, seed):
    sim = Simulation(seed, link=HEAVY_LOSS)
    sim.add_node("sender", functools.partial(sender_class, "receiver", MESSAGES, window=WINDOW))
    sim.add_node("receiver", ReliableReceiver)
    sim.run(until=600.0, max_events=300_000)
    return sim


def _window_violation(sim):
    """The first data message sent beyond the window the sender knew about, or None."""
    acks, acked_below = {}, 0
    for event in sim.trace:
        if isinstance(event, Send) and event.src == "receiver":
            acks[event.msg_id] = parse_ack(event.msg)
        elif isinstance(event, Duplicate) and event.src == "receiver":
            acks[event.msg_id] = acks[event.copy_of]
        elif isinstance(event, Deliver) and event.dst == "sender" and acks.get(event.msg_id):
            acked_below = max(acked_below, acks[event.msg_id][0])
        elif isinstance(event, Send):
            data = parse_data(event.msg)
            if data is not None and data[0] >= acked_below + WINDOW:
                return event.time, data[0], acked_below
    return None


def _sends_after_done(sim):
    """When the sender learned that everything arrived, and how much it sent after that."""
    acks, done_at, late = {}, None, 0
    for event in sim.trace:
        if isinstance(event, Send) and event.src == "receiver":
            acks[event.msg_id] = parse_ack(event.msg)
        elif isinstance(event, Duplicate) and event.src == "receiver":
            acks[event.msg_id] = acks[event.copy_of]
        elif isinstance(event, Send) and done_at is not None:
            late += 1
        elif isinstance(event, Deliver) and event.dst == "sender" and done_at is None:
            ack = acks.get(event.msg_id)
            done_at = event.time if ack and ack[0] >= len(MESSAGES) else None
    return done_at, late


@grader("Task 3 · WindowSender")
def check_window_sender(cases, WindowSender):
    first = cases.call(
        "start-up on a perfect link",
        lambda: _first_sends(WindowSender),
        hint="on_start should fill the window: send messages 0 to window-1 at once.",
    )
    cases.true(
        "start-up on a perfect link",
        first == [("data", n, MESSAGES[n]) for n in range(WINDOW)],
        f"expected data messages 0 to {WINDOW - 1} at time 0, got {short(first)}",
        hint="Send ('data', seq, payload) for every seq in the first window, in on_start.",
    )
    for seed in SEEDS:
        case = f"50 messages, 40% loss, 20% duplicates, reordering (seed {seed})"
        sim = cases.call(case, lambda s=seed: _run_transfer(WindowSender, s))
        delivered = sim.storage("receiver").get("delivered", [])
        cases.true(
            case,
            delivered == MESSAGES,
            f"the receiver delivered {len(delivered)} messages: {short(delivered)}",
            hint="Every message needs a timer that resends it until it is acknowledged; "
            "set the timer again each time you resend.",
        )
        violation = _window_violation(sim)
        cases.true(
            f"the window is respected (seed {seed})",
            violation is None,
            "at t={:.3f} message {} was sent while only messages below {} were acknowledged".format(
                *(violation or (0, 0, 0))
            ),
            hint="Send seq only if seq < base + window, where base is the oldest message "
            "not yet acknowledged.",
        )
        done_at, late = _sends_after_done(sim)
        cases.true(
            f"the sender goes quiet when it is done (seed {seed})",
            done_at is not None and late == 0,
            f"it sent {late} more messages after everything was acknowledged"
            if done_at is not None
            else "the sender never learned that everything arrived",
            hint="Cancel a message's timer when it is acknowledged, and on a timer, resend "
            "only messages that are still unacknowledged.",
        )


def _first_sends(sender_class):
    sim = Simulation(0, link=Link())
    sim.add_node("sender", functools.partial(sender_class, "receiver", MESSAGES, window=WINDOW))
    sim.add_node("receiver", ReliableReceiver)
    sim.run(until=0.0)
    return [e.msg for e in sim.trace if isinstance(e, Send) and e.src == "sender"]
