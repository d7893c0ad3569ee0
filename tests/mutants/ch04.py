"""Plausible wrong answers to exercises/04-reliable-delivery.ipynb."""

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


MUTANTS = {
    "check_backoff_delay": [
        waits_one_step_too_long,
        forgets_the_cap,
        caps_after_the_jitter,
        jitter_lengthens_the_wait,
        overflows_on_a_long_outage,
    ],
    "check_in_order_receiver": [
        DeliversOnArrival,
        BuffersDuplicatesTwice,
        DeliversOneAtATime,
        UnboundedBuffer,
        BoundOffByOne,
    ],
    "check_window_sender": [
        NeverRetransmits,
        RetriesOnlyOnce,
        IgnoresTheWindow,
        NeverFallsSilent,
        CountsTheCumulativeAckOneTooFar,
        SlidesPastAHole,
        StopAndWaitInDisguise,
    ],
}
