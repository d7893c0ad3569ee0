"""Answers to exercises/04-reliable-delivery.ipynb: wrong ones the graders must reject (MUTANTS),
and right ones written another way that they must accept (ALTERNATIVES)."""

import bisect
import heapq
import math

from reference.net.node import Node

# --- Task 1: backoff_delay -------------------------------------------------------------------


def waits_one_step_too_long(attempt, *, initial, multiplier, cap, jitter, u):
    ceiling = min(cap, initial * multiplier ** (attempt + 1))
    return ceiling * (1 - jitter * u)


def forgets_the_cap(attempt, *, initial, multiplier, cap, jitter, u):
    try:
        return initial * multiplier**attempt * (1 - jitter * u)
    except OverflowError:
        return float("inf")


def caps_after_the_jitter(attempt, *, initial, multiplier, cap, jitter, u):
    try:
        return min(cap, initial * multiplier**attempt * (1 - jitter * u))
    except OverflowError:
        return cap


def jitter_lengthens_the_wait(attempt, *, initial, multiplier, cap, jitter, u):
    try:
        ceiling = min(cap, initial * multiplier**attempt)
    except OverflowError:
        ceiling = cap
    return ceiling * (1 + jitter * u)


def overflows_on_a_long_outage(attempt, *, initial, multiplier, cap, jitter, u):
    return min(cap, initial * multiplier**attempt) * (1 - jitter * u)


def hard_codes_the_example_schedule(attempt, *, initial, multiplier, cap, jitter, u):
    try:
        ceiling = min(1.0, 0.1 * 2.0**attempt)
    except OverflowError:
        ceiling = 1.0
    return ceiling * (1 - jitter * u)


def caps_without_jitter_on_overflow(attempt, *, initial, multiplier, cap, jitter, u):
    try:
        return min(cap, initial * multiplier**attempt) * (1 - jitter * u)
    except OverflowError:
        return cap  # every client cut off for long retries at the same moment


def clamps_the_exponent(attempt, *, initial, multiplier, cap, jitter, u):
    return min(cap, initial * multiplier ** min(attempt, 30)) * (1 - jitter * u)


def clamps_the_exponent_at_1000(attempt, *, initial, multiplier, cap, jitter, u):
    return min(cap, initial * float(multiplier) ** min(attempt, 1000)) * (1 - jitter * u)


def caps_after_sixty_attempts(attempt, *, initial, multiplier, cap, jitter, u):
    ceiling = cap if attempt > 60 else min(cap, initial * multiplier**attempt)
    return ceiling * (1 - jitter * u)


def jitter_in_seconds(attempt, *, initial, multiplier, cap, jitter, u):
    try:
        ceiling = min(cap, initial * multiplier**attempt)
    except OverflowError:
        ceiling = cap
    return max(0.0, ceiling - jitter * u)


# --- Task 2: InOrderReceiver -----------------------------------------------------------------


class DeliversOnArrival:
    """Deduplicates, but hands messages over in arrival order."""

    def __init__(self, max_buffer=64):
        self.next_expected = 0
        self.seen = set()

    def receive(self, seq, payload):
        if seq in self.seen:
            return []
        self.seen.add(seq)
        while self.next_expected in self.seen:
            self.next_expected += 1
        return [payload]


class BuffersDuplicatesTwice:
    """Keeps early messages in a list, so a duplicate waiting there is delivered twice."""

    def __init__(self, max_buffer=64):
        self.max_buffer = max_buffer
        self.next_expected = 0
        self.early = []

    def receive(self, seq, payload):
        if not self.next_expected <= seq < self.next_expected + self.max_buffer:
            return []
        self.early.append((seq, payload))
        self.early.sort(key=lambda item: item[0])
        delivered = []
        while self.early and self.early[0][0] <= self.next_expected:
            seq_, payload_ = self.early.pop(0)
            delivered.append(payload_)
            self.next_expected = seq_ + 1
        return delivered


class DeliversOneAtATime:
    """Fills the gap but forgets the run of buffered messages behind it."""

    def __init__(self, max_buffer=64):
        self.max_buffer = max_buffer
        self.next_expected = 0
        self.buffer = {}

    def receive(self, seq, payload):
        if not self.next_expected <= seq < self.next_expected + self.max_buffer:
            return []
        self.buffer.setdefault(seq, payload)
        if self.next_expected in self.buffer:
            self.next_expected += 1
            return [self.buffer.pop(self.next_expected - 1)]
        return []


class UnboundedBuffer:
    """Right, except that it stores messages however far ahead they are."""

    def __init__(self, max_buffer=64):
        self.next_expected = 0
        self.buffer = {}

    def receive(self, seq, payload):
        if seq < self.next_expected:
            return []
        self.buffer.setdefault(seq, payload)
        delivered = []
        while self.next_expected in self.buffer:
            delivered.append(self.buffer.pop(self.next_expected))
            self.next_expected += 1
        return delivered


class BoundOffByOne(UnboundedBuffer):
    """Checks the bound with > instead of >=."""

    def __init__(self, max_buffer=64):
        super().__init__()
        self.max_buffer = max_buffer

    def receive(self, seq, payload):
        if seq > self.next_expected + self.max_buffer:
            return []
        return super().receive(seq, payload)


class RefusesOneTooEarly(UnboundedBuffer):
    """Refuses seq >= next_expected + max_buffer - 1: with max_buffer=1 nothing is kept."""

    def __init__(self, max_buffer=64):
        super().__init__()
        self.max_buffer = max_buffer

    def receive(self, seq, payload):
        if seq >= self.next_expected + self.max_buffer - 1:
            return []
        return super().receive(seq, payload)


class SharesOneBuffer:
    """Keeps the buffer in a class attribute, so every receiver shares it."""

    buffer = {}  # noqa: RUF012 (the mistake this answer makes)

    def __init__(self, max_buffer=64):
        self.max_buffer = max_buffer
        self.next_expected = 0

    def receive(self, seq, payload):
        if not self.next_expected <= seq < self.next_expected + self.max_buffer:
            return []
        self.buffer.setdefault(seq, payload)
        delivered = []
        while self.next_expected in self.buffer:
            delivered.append(self.buffer.pop(self.next_expected))
            self.next_expected += 1
        return delivered


class KeepsOldDuplicates:
    """Never checks seq < next_expected: late copies pile up in the buffer for ever."""

    def __init__(self, max_buffer=64):
        self.max_buffer = max_buffer
        self.next_expected = 0
        self.buffer = {}

    def receive(self, seq, payload):
        if seq >= self.next_expected + self.max_buffer:
            return []
        self.buffer.setdefault(seq, payload)
        delivered = []
        while self.next_expected in self.buffer:
            delivered.append(self.buffer.pop(self.next_expected))
            self.next_expected += 1
        return delivered


class RemembersEverySeq:
    """Deduplicates with a set of every seq ever seen, which grows without bound."""

    def __init__(self, max_buffer=64):
        self.max_buffer = max_buffer
        self.next_expected = 0
        self.buffer = {}
        self.seen = set()

    def receive(self, seq, payload):
        if seq in self.seen or seq >= self.next_expected + self.max_buffer:
            return []
        self.seen.add(seq)
        self.buffer[seq] = payload
        delivered = []
        while self.next_expected in self.buffer:
            delivered.append(self.buffer.pop(self.next_expected))
            self.next_expected += 1
        return delivered


# --- Task 3: WindowSender --------------------------------------------------------------------


class _Sender(Node):
    """The shape of the answer, with its parts overridable one at a time."""

    def __init__(self, peer, messages, window=8, timeout=0.1):
        self.peer = peer
        self.messages = list(messages)
        self.window = window
        self.timeout = timeout
        self.base = 0
        self.next_to_send = 0
        self.acknowledged = set()

    def on_start(self):
        self.fill_window()

    def on_message(self, src, msg):
        _, next_expected, seq = msg
        for acked in (*range(self.base, min(next_expected, self.next_to_send)), seq):
            if acked < self.next_to_send and acked not in self.acknowledged:
                self.acknowledged.add(acked)
                self.ctx.cancel_timer(("retransmit", acked))
        while self.base in self.acknowledged:
            self.base += 1
        self.fill_window()

    def on_timer(self, name):
        _, seq = name
        if seq not in self.acknowledged:
            self.transmit(seq)

    def fill_window(self):
        end = min(len(self.messages), self.base + self.window)
        while self.next_to_send < end:
            self.transmit(self.next_to_send)
            self.next_to_send += 1

    def transmit(self, seq):
        self.ctx.send(self.peer, ("data", seq, self.messages[seq]))
        self.ctx.set_timer(self.timeout, ("retransmit", seq))


class NeverRetransmits(_Sender):
    def on_timer(self, name):
        pass


class RetriesOnlyOnce(_Sender):
    def on_timer(self, name):
        _, seq = name
        if seq not in self.acknowledged:
            self.ctx.send(self.peer, ("data", seq, self.messages[seq]))


class IgnoresTheWindow(_Sender):
    def fill_window(self):
        while self.next_to_send < len(self.messages):
            self.transmit(self.next_to_send)
            self.next_to_send += 1


class NeverFallsSilent(_Sender):
    """Keeps every timer running and resends whatever it fires for."""

    def on_timer(self, name):
        self.transmit(name[1])

    def on_message(self, src, msg):
        _, next_expected, seq = msg
        self.acknowledged.update(range(self.base, min(next_expected, self.next_to_send)))
        self.acknowledged.add(seq)
        while self.base in self.acknowledged:
            self.base += 1
        self.fill_window()


class CountsTheCumulativeAckOneTooFar(_Sender):
    """Reads ("ack", n, seq) as "everything up to and including n arrived"."""

    def on_message(self, src, msg):
        _, next_expected, seq = msg
        super().on_message(src, ("ack", min(next_expected + 1, self.next_to_send), seq))


class SlidesPastAHole(_Sender):
    """Moves the window past the newest acknowledged message, not the oldest missing one."""

    def on_message(self, src, msg):
        super().on_message(src, msg)
        self.base = max(self.base, msg[2] + 1)
        self.fill_window()


class StopAndWaitInDisguise(_Sender):
    def fill_window(self):
        if self.next_to_send == self.base and self.next_to_send < len(self.messages):
            self.transmit(self.next_to_send)
            self.next_to_send += 1


class ResendsTheWindowOnEveryAck(_Sender):
    """Resends every unacknowledged message in the window whenever an ack arrives."""

    def on_message(self, src, msg):
        super().on_message(src, msg)
        for seq in range(self.base, self.next_to_send):
            if seq not in self.acknowledged:
                self.transmit(seq)


class TimerIgnoresTheTimeout(_Sender):
    def transmit(self, seq):
        self.ctx.send(self.peer, ("data", seq, self.messages[seq]))
        self.ctx.set_timer(self.timeout / 20, ("retransmit", seq))


class TimeoutOfTheExample(_Sender):
    def transmit(self, seq):
        self.ctx.send(self.peer, ("data", seq, self.messages[seq]))
        self.ctx.set_timer(0.1, ("retransmit", seq))


class ZeroDelayTimer(_Sender):
    def transmit(self, seq):
        self.ctx.send(self.peer, ("data", seq, self.messages[seq]))
        self.ctx.set_timer(0, ("retransmit", seq))


class SlidesBaseWithIf(_Sender):
    """Moves base by at most one message per ack."""

    def on_message(self, src, msg):
        _, next_expected, seq = msg
        for acked in (*range(self.base, min(next_expected, self.next_to_send)), seq):
            if acked < self.next_to_send and acked not in self.acknowledged:
                self.acknowledged.add(acked)
                self.ctx.cancel_timer(("retransmit", acked))
        if self.base in self.acknowledged:
            self.base += 1
        self.fill_window()


class WindowOfEight(_Sender):
    def fill_window(self):
        end = min(len(self.messages), self.base + 8)
        while self.next_to_send < end:
            self.transmit(self.next_to_send)
            self.next_to_send += 1


class SharesTheAcknowledgedSet(_Sender):
    """Keeps the acknowledged set in a class attribute, shared by every sender."""

    acknowledged = set()  # noqa: RUF012 (the mistake this answer makes)

    def __init__(self, peer, messages, window=8, timeout=0.1):
        super().__init__(peer, messages, window, timeout)
        del self.acknowledged  # so that the class attribute shows through


class IgnoresAcksThatAreLists(_Sender):
    """Takes only tuples for acks; over a real network every ack arrives as a list."""

    def on_message(self, src, msg):
        if isinstance(msg, tuple):
            super().on_message(src, msg)


class WindowOneTooSmall(_Sender):
    """Stops filling one short of the window: `base + window - 1`."""

    def fill_window(self):
        end = min(len(self.messages), self.base + self.window - 1)
        while self.next_to_send < end:
            self.transmit(self.next_to_send)
            self.next_to_send += 1


class ResendsEveryUnackedOnATimeout(_Sender):
    """Any timer resends everything unacknowledged: a retransmission storm under loss."""

    def on_timer(self, name):
        for seq in range(self.base, self.next_to_send):
            if seq not in self.acknowledged:
                self.transmit(seq)


MUTANTS = {
    "check_backoff_delay": [
        waits_one_step_too_long,
        forgets_the_cap,
        caps_after_the_jitter,
        jitter_lengthens_the_wait,
        overflows_on_a_long_outage,
        hard_codes_the_example_schedule,
        caps_without_jitter_on_overflow,
        clamps_the_exponent,
        clamps_the_exponent_at_1000,
        caps_after_sixty_attempts,
        jitter_in_seconds,
    ],
    "check_in_order_receiver": [
        DeliversOnArrival,
        BuffersDuplicatesTwice,
        DeliversOneAtATime,
        UnboundedBuffer,
        BoundOffByOne,
        RefusesOneTooEarly,
        SharesOneBuffer,
        KeepsOldDuplicates,
        RemembersEverySeq,
    ],
    "check_window_sender": [
        NeverRetransmits,
        RetriesOnlyOnce,
        IgnoresTheWindow,
        NeverFallsSilent,
        CountsTheCumulativeAckOneTooFar,
        SlidesPastAHole,
        StopAndWaitInDisguise,
        ResendsTheWindowOnEveryAck,
        TimerIgnoresTheTimeout,
        TimeoutOfTheExample,
        ZeroDelayTimer,
        SlidesBaseWithIf,
        WindowOfEight,
        SharesTheAcknowledgedSet,
        IgnoresAcksThatAreLists,
        WindowOneTooSmall,
        ResendsEveryUnackedOnATimeout,
    ],
}


# --- Right answers, written another way -------------------------------------------------------


def multiplies_until_the_cap(attempt, *, initial, multiplier, cap, jitter, u):
    ceiling = initial
    for _ in range(attempt):
        if ceiling >= cap:
            break
        ceiling *= multiplier
    return min(cap, ceiling) * (1 - jitter * u)


def compares_logarithms(attempt, *, initial, multiplier, cap, jitter, u):
    past_the_cap = attempt * math.log(multiplier) >= math.log(cap / initial)
    ceiling = cap if past_the_cap else min(cap, initial * multiplier**attempt)
    return ceiling * (1 - jitter * u)


class SortedEarlyMessages:
    """Keeps early messages in a sorted list of (seq, payload)."""

    def __init__(self, max_buffer=64):
        self.max_buffer = max_buffer
        self.next_expected = 0
        self.early = []

    def receive(self, seq, payload):
        if not self.next_expected <= seq < self.next_expected + self.max_buffer:
            return []
        place = bisect.bisect_left(self.early, seq, key=lambda item: item[0])
        if place == len(self.early) or self.early[place][0] != seq:
            self.early.insert(place, (seq, payload))
        delivered = []
        while self.early and self.early[0][0] == self.next_expected:
            delivered.append(self.early.pop(0)[1])
            self.next_expected += 1
        return delivered


class RingOfSlots:
    """A fixed ring of max_buffer slots: seq goes in slot seq % max_buffer."""

    EMPTY = object()

    def __init__(self, max_buffer=64):
        self.slots = [self.EMPTY] * max_buffer
        self.next_expected = 0

    def receive(self, seq, payload):
        if not self.next_expected <= seq < self.next_expected + len(self.slots):
            return []
        if self.slots[seq % len(self.slots)] is self.EMPTY:
            self.slots[seq % len(self.slots)] = payload
        delivered = []
        while self.slots[self.next_expected % len(self.slots)] is not self.EMPTY:
            slot = self.next_expected % len(self.slots)
            delivered.append(self.slots[slot])
            self.slots[slot] = self.EMPTY
            self.next_expected += 1
        return delivered


class EarlyMessagesInAHeap:
    def __init__(self, max_buffer=64):
        self.max_buffer = max_buffer
        self.next_expected = 0
        self.heap = []
        self.waiting = set()

    def receive(self, seq, payload):
        if seq in self.waiting or not 0 <= seq - self.next_expected < self.max_buffer:
            return []
        heapq.heappush(self.heap, (seq, payload))
        self.waiting.add(seq)
        delivered = []
        while self.heap and self.heap[0][0] == self.next_expected:
            delivered.append(heapq.heappop(self.heap)[1])
            self.waiting.discard(self.next_expected)
            self.next_expected += 1
        return delivered


class SendsLists(_Sender):
    """Sends ["data", seq, payload]: a list is as good a message as a tuple."""

    def transmit(self, seq):
        self.ctx.send(self.peer, ["data", seq, self.messages[seq]])
        self.ctx.set_timer(self.timeout, ("retransmit", seq))


class CountsUnacknowledged(_Sender):
    """Keeps the unacknowledged sequence numbers instead of the acknowledged ones."""

    def on_start(self):
        self.unacked = set()
        super().on_start()

    def on_message(self, src, msg):
        _, next_expected, seq = msg
        for acked in (*range(self.base, min(next_expected, self.next_to_send)), seq):
            if acked in self.unacked:
                self.unacked.discard(acked)
                self.ctx.cancel_timer(("retransmit", acked))
        while self.base < self.next_to_send and self.base not in self.unacked:
            self.base += 1
        self.fill_window()

    def on_timer(self, name):
        _, seq = name
        if seq in self.unacked:
            self.transmit(seq)

    def transmit(self, seq):
        self.unacked.add(seq)
        super().transmit(seq)


class GoBackN(Node):
    """One timer, for the oldest unacknowledged message; when it fires, resend the window."""

    def __init__(self, peer, messages, window=8, timeout=0.1):
        self.peer, self.messages = peer, list(messages)
        self.window, self.timeout = window, timeout
        self.base = self.next_to_send = 0

    def on_start(self):
        self.fill_window()

    def on_message(self, src, msg):
        kind, next_expected, _ = msg
        if kind != "ack" or next_expected <= self.base:
            return
        self.ctx.cancel_timer(("retransmit", self.base))
        self.base = min(next_expected, self.next_to_send)
        if self.base < self.next_to_send:
            self.ctx.set_timer(self.timeout, ("retransmit", self.base))
        self.fill_window()

    def on_timer(self, name):
        for seq in range(self.base, self.next_to_send):
            self.ctx.send(self.peer, ("data", seq, self.messages[seq]))
        self.ctx.set_timer(self.timeout, ("retransmit", self.base))

    def fill_window(self):
        while self.next_to_send < min(len(self.messages), self.base + self.window):
            if self.next_to_send == self.base:
                self.ctx.set_timer(self.timeout, ("retransmit", self.base))
            self.ctx.send(self.peer, ("data", self.next_to_send, self.messages[self.next_to_send]))
            self.next_to_send += 1


class UnacknowledgedInADict(Node):
    """Keeps the messages in flight in a dict by seq; base is the smallest key, or next_to_send."""

    def __init__(self, peer, messages, window=8, timeout=0.1):
        self.peer, self.messages = peer, list(messages)
        self.window, self.timeout = window, timeout
        self.in_flight = {}
        self.next_to_send = 0

    @property
    def base(self):
        return min(self.in_flight, default=self.next_to_send)

    def on_start(self):
        self.fill_window()

    def on_message(self, src, msg):
        _, next_expected, seq = msg
        for acked in [*(s for s in self.in_flight if s < next_expected), seq]:
            if self.in_flight.pop(acked, None) is not None:
                self.ctx.cancel_timer(("retransmit", acked))
        self.fill_window()

    def on_timer(self, name):
        seq = name[1]
        if seq in self.in_flight:
            self.send_data(seq)

    def fill_window(self):
        while (
            self.next_to_send < len(self.messages) and self.next_to_send < self.base + self.window
        ):
            self.in_flight[self.next_to_send] = self.messages[self.next_to_send]
            self.send_data(self.next_to_send)
            self.next_to_send += 1

    def send_data(self, seq):
        self.ctx.send(self.peer, ("data", seq, self.in_flight[seq]))
        self.ctx.set_timer(self.timeout, ("retransmit", seq))


ALTERNATIVES = {
    "check_backoff_delay": [multiplies_until_the_cap, compares_logarithms],
    "check_in_order_receiver": [SortedEarlyMessages, RingOfSlots, EarlyMessagesInAHeap],
    "check_window_sender": [SendsLists, GoBackN, UnacknowledgedInADict, CountsUnacknowledged],
}
