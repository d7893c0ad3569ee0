"""Answers to exercises/06-order-and-consistency.ipynb: wrong ones the graders must reject
(MUTANTS), and right ones written another way that they must accept (ALTERNATIVES)."""

from typing import ClassVar

from reference.order.history import UNKNOWN

# --- Task 1: LamportClock ---------------------------------------------------------------------


class Lamport:
    """The right clock, for the mutants to change one method of."""

    def __init__(self, time=0):
        self.time = time

    def tick(self):
        self.time += 1
        return self.time

    def on_send(self):
        return self.tick()

    def on_receive(self, timestamp):
        self.time = max(self.time, timestamp) + 1
        return self.time


class ReceiveTakesTheMinimum(Lamport):
    """min for max: a message from the past drags the clock back."""

    def on_receive(self, timestamp):
        self.time = min(self.time, timestamp) + 1
        return self.time


class SendDoesNotTick(Lamport):
    """Stamps a message with the time of the last event, without counting the send."""

    def on_send(self):
        return self.time


class LamportReceiveThenTick(Lamport):
    """Right, written another way: catch up with the stamp, then count the receive as a tick."""

    def on_receive(self, timestamp):
        self.time = max(self.time, timestamp)
        return self.tick()


class ForgetsThePlusOne(Lamport):
    """Takes the max on receive, but does not count the receive itself."""

    def on_receive(self, timestamp):
        self.time = max(self.time, timestamp)
        return self.time


class TakesTheSum(Lamport):
    """Adds the timestamp to its own time."""

    def on_receive(self, timestamp):
        self.time = self.time + timestamp + 1
        return self.time


class IgnoresTheStamp(Lamport):
    """A receive is just a local event."""

    def on_receive(self, timestamp):
        return self.tick()


class TicksTwiceOnSend(Lamport):
    """Counts the send as two events (ticks, then ticks again in the tick it calls)."""

    def on_send(self):
        self.time += 1
        return self.tick()


class JumpsOnlyWhenBehind(Lamport):
    """Jumps to timestamp + 1 when behind, but does not count the receive when ahead."""

    def on_receive(self, timestamp):
        if timestamp >= self.time:
            self.time = timestamp + 1
        return self.time


class ReturnsWithoutStoring(Lamport):
    """Returns max + 1 on receive, but leaves self.time where it was."""

    def on_receive(self, timestamp):
        return max(self.time, timestamp) + 1


class StartsAtZeroAlways(Lamport):
    """Ignores the start time it is given."""

    def __init__(self, time=0):
        self.time = 0


class LamportWithEvents:
    """Right: keeps every timestamp it gave out, and reads the time from the last."""

    def __init__(self, time=0):
        self.stamps = [time]

    @property
    def time(self):
        return self.stamps[-1]

    def tick(self):
        self.stamps.append(self.time + 1)
        return self.time

    def on_send(self):
        self.stamps.append(self.time + 1)
        return self.time

    def on_receive(self, timestamp):
        self.stamps.append((timestamp if timestamp > self.time else self.time) + 1)
        return self.time


class LamportByMaxOfSuccessors(Lamport):
    """Right: max(time + 1, timestamp + 1) is max(time, timestamp) + 1."""

    def on_receive(self, timestamp):
        self.time = max(self.time + 1, timestamp + 1)
        return self.time


# --- Task 2: VectorClock ----------------------------------------------------------------------


class Vector:
    """The right vector clock, for the mutants to change one method of."""

    def __init__(self, counts=None):
        self.counts = dict(counts or {})

    def compare(self, other):
        nodes = self.counts.keys() | other.counts.keys()
        pairs = [(self.counts.get(n, 0), other.counts.get(n, 0)) for n in nodes]
        smaller = any(a < b for a, b in pairs)
        larger = any(a > b for a, b in pairs)
        if smaller and larger:
            return "concurrent"
        return "before" if smaller else "after" if larger else "equal"

    def merge(self, other):
        for node, count in other.counts.items():
            self.counts[node] = max(self.counts.get(node, 0), count)


class ComparesSums(Vector):
    """Orders vectors by the total number of events they count."""

    def compare(self, other):
        mine, theirs = sum(self.counts.values()), sum(other.counts.values())
        return "before" if mine < theirs else "after" if mine > theirs else "equal"


class SmallerEntryMeansBefore(Vector):
    """Checks for a smaller entry first, so a concurrent pair with one smaller is 'before'."""

    def compare(self, other):
        nodes = self.counts.keys() | other.counts.keys()
        pairs = [(self.counts.get(n, 0), other.counts.get(n, 0)) for n in nodes]
        if any(a < b for a, b in pairs):
            return "before"
        if any(a > b for a, b in pairs):
            return "after"
        return "equal"


class DecidesOnTheFirstDifference(Vector):
    """Walks the nodes in order and lets the first entry that differs decide."""

    def compare(self, other):
        for node in sorted(self.counts.keys() | other.counts.keys()):
            mine, theirs = self.counts.get(node, 0), other.counts.get(node, 0)
            if mine != theirs:
                return "before" if mine < theirs else "after"
        return "equal"


class LooksOnlyAtItsOwnNodes(Vector):
    """Compares over the nodes of self only: a node only the other knows is missed."""

    def compare(self, other):
        pairs = [(count, other.counts.get(n, 0)) for n, count in self.counts.items()]
        smaller = any(a < b for a, b in pairs)
        larger = any(a > b for a, b in pairs)
        if smaller and larger:
            return "concurrent"
        return "before" if smaller else "after" if larger else "equal"


class ZeroIsNotMissing(Vector):
    """Says 'equal' only for equal dicts, so {'a': 1, 'b': 0} and {'a': 1} are not equal."""

    def compare(self, other):
        if self.counts == other.counts:
            return "equal"
        verdict = super().compare(other)
        return "concurrent" if verdict == "equal" else verdict


class MergeTakesTheOthers(Vector):
    """Overwrites its entries with the other's, even the smaller ones."""

    def merge(self, other):
        self.counts.update(other.counts)


class MergeKeepsOnlyCommonNodes(Vector):
    """Takes the maximum only over the nodes both vectors have."""

    def merge(self, other):
        self.counts = {
            node: max(count, other.counts[node])
            for node, count in self.counts.items()
            if node in other.counts
        }


class MergeWithoutMissingEntries(Vector):
    """Looks up the own entry with [], which raises for a node it has not seen."""

    def merge(self, other):
        for node, count in other.counts.items():
            self.counts[node] = max(self.counts[node], count)


class MergeIntoBoth(Vector):
    """Merges into the other vector too, as if merging were symmetric."""

    def merge(self, other):
        super().merge(other)
        other.counts = dict(self.counts)


class VectorOfSets(Vector):
    """Right: compares by the set of nodes at which each is ahead."""

    def compare(self, other):
        nodes = set(self.counts) | set(other.counts)
        ahead = {n for n in nodes if self.counts.get(n, 0) > other.counts.get(n, 0)}
        behind = {n for n in nodes if self.counts.get(n, 0) < other.counts.get(n, 0)}
        return {
            (False, False): "equal",
            (False, True): "before",
            (True, False): "after",
            (True, True): "concurrent",
        }[bool(ahead), bool(behind)]

    def merge(self, other):
        nodes = set(self.counts) | set(other.counts)
        self.counts = {n: max(self.counts.get(n, 0), other.counts.get(n, 0)) for n in nodes}


class VectorByLessOrEqual(Vector):
    """Right: 'a <= b' both ways, as the textbooks define the order."""

    def compare(self, other):
        def at_most(a, b):
            return all(count <= b.counts.get(node, 0) for node, count in a.counts.items())

        mine, theirs = at_most(self, other), at_most(other, self)
        if mine and theirs:
            return "equal"
        return "before" if mine else "after" if theirs else "concurrent"


# --- Task 3: CausalBuffer ---------------------------------------------------------------------


class Buffer:
    """The right buffer, its condition a method for the mutants to change."""

    def __init__(self):
        self.delivered = {}
        self.held = []

    def receive(self, sender, stamp, payload):
        self.held.append((sender, stamp, payload))
        out, progress = [], True
        while progress:
            progress = False
            for message in list(self.held):
                if self.ready(message[0], message[1]):
                    self.held.remove(message)
                    self.delivered[message[0]] = self.delivered.get(message[0], 0) + 1
                    out.append(message[2])
                    progress = True
        return out

    def ready(self, sender, stamp):
        if stamp.get(sender, 0) != self.delivered.get(sender, 0) + 1:
            return False
        return all(c <= self.delivered.get(n, 0) for n, c in stamp.items() if n != sender)


class DeliversOnArrival(Buffer):
    """No hold-back queue at all."""

    def receive(self, sender, stamp, payload):
        return [payload]


class FifoOnly(Buffer):
    """Holds a message only until its sender's earlier ones are delivered."""

    def ready(self, sender, stamp):
        return stamp.get(sender, 0) == self.delivered.get(sender, 0) + 1


class NeverRescans(Buffer):
    """Looks through the queue once per arrival, not again after each delivery."""

    def receive(self, sender, stamp, payload):
        self.held.append((sender, stamp, payload))
        out = []
        for message in list(self.held):
            if self.ready(message[0], message[1]):
                self.held.remove(message)
                self.delivered[message[0]] = self.delivered.get(message[0], 0) + 1
                out.append(message[2])
        return out


class StrictForOthers(Buffer):
    """Off by one: asks V[k] < delivered[k] for the others, so a reply waits for ever."""

    def ready(self, sender, stamp):
        if stamp.get(sender, 0) != self.delivered.get(sender, 0) + 1:
            return False
        return all(c < self.delivered.get(n, 0) for n, c in stamp.items() if n != sender and c)


class OneAheadForOthers(Buffer):
    """Off by one: lets V[k] be delivered[k] + 1, so a reply may overtake its question."""

    def ready(self, sender, stamp):
        if stamp.get(sender, 0) != self.delivered.get(sender, 0) + 1:
            return False
        return all(c <= self.delivered.get(n, 0) + 1 for n, c in stamp.items() if n != sender)


class AnyLaterFromTheSender(Buffer):
    """Asks V[sender] > delivered[sender] instead of == + 1: a sender's third message may
    overtake its first."""

    def receive(self, sender, stamp, payload):
        self.held.append((sender, stamp, payload))
        out, progress = [], True
        while progress:
            progress = False
            for message in list(self.held):
                if self.ready(message[0], message[1]):
                    self.held.remove(message)
                    self.delivered[message[0]] = message[1][message[0]]
                    out.append(message[2])
                    progress = True
        return out

    def ready(self, sender, stamp):
        if stamp.get(sender, 0) <= self.delivered.get(sender, 0):
            return False
        return all(c <= self.delivered.get(n, 0) for n, c in stamp.items() if n != sender)


class HeldByPayload(Buffer):
    """Keeps the queue as a dict keyed by payload: equal (or unhashable) payloads break it."""

    def __init__(self):
        self.delivered, self.held = {}, {}

    def receive(self, sender, stamp, payload):
        self.held[repr(payload)] = (sender, stamp, payload)
        out, progress = [], True
        while progress:
            progress = False
            for key, message in list(self.held.items()):
                if self.ready(message[0], message[1]):
                    del self.held[key]
                    self.delivered[message[0]] = self.delivered.get(message[0], 0) + 1
                    out.append(message[2])
                    progress = True
        return out


class SharedQueue(Buffer):
    """The queue and the vector live on the class, so two buffers share them."""

    delivered: ClassVar[dict] = {}
    held: ClassVar[list] = []

    def __init__(self):
        pass


class BufferPerSender:
    """Right: one queue per sender, keyed by sequence number, and a recursive drain."""

    def __init__(self):
        self.delivered = {}
        self.waiting = {}  # sender -> {sequence number: (stamp, payload)}

    def receive(self, sender, stamp, payload):
        self.waiting.setdefault(sender, {})[stamp.get(sender, 0)] = (stamp, payload)
        return self.drain()

    def drain(self):
        for sender, queue in self.waiting.items():
            next_number = self.delivered.get(sender, 0) + 1
            if next_number in queue:
                stamp, payload = queue[next_number]
                others = (n for n in stamp if n != sender)
                if all(stamp[n] <= self.delivered.get(n, 0) for n in others):
                    del queue[next_number]
                    self.delivered[sender] = next_number
                    return [payload, *self.drain()]
        return []


class BufferWithIndexes(Buffer):
    """Right: restarts the scan from the front after each delivery, by index."""

    def receive(self, sender, stamp, payload):
        self.held.append((sender, stamp, payload))
        out, index = [], 0
        while index < len(self.held):
            held_sender, held_stamp, held_payload = self.held[index]
            if self.ready(held_sender, held_stamp):
                del self.held[index]
                self.delivered[held_sender] = held_stamp[held_sender]
                out.append(held_payload)
                index = 0
            else:
                index += 1
        return out


# --- Task 4: grant_vote -----------------------------------------------------------------------


def no_log_check(
    *, current_term, voted_for, last_log_term, last_log_index, candidate, candidate_term,
    candidate_last_term, candidate_last_index,
):  # fmt: skip
    """Terms and one vote per term, but any log will do."""
    if candidate_term < current_term:
        return False
    return not (candidate_term == current_term and voted_for not in (None, candidate))


def compares_lengths_only(
    *, current_term, voted_for, last_log_term, last_log_index, candidate, candidate_term,
    candidate_last_term, candidate_last_index,
):  # fmt: skip
    """A longer log is more up to date, whatever its last term."""
    if candidate_term < current_term:
        return False
    if candidate_term == current_term and voted_for not in (None, candidate):
        return False
    return candidate_last_index >= last_log_index


def votes_twice(
    *, current_term, voted_for, last_log_term, last_log_index, candidate, candidate_term,
    candidate_last_term, candidate_last_index,
):  # fmt: skip
    """Forgets that it already voted in this term."""
    if candidate_term < current_term:
        return False
    if candidate_last_term != last_log_term:
        return candidate_last_term > last_log_term
    return candidate_last_index >= last_log_index


def accepts_lower_terms(
    *, current_term, voted_for, last_log_term, last_log_index, candidate, candidate_term,
    candidate_last_term, candidate_last_index,
):  # fmt: skip
    """Never looks at the candidate's term."""
    if voted_for not in (None, candidate) and candidate_term <= current_term:
        return False
    if candidate_last_term != last_log_term:
        return candidate_last_term > last_log_term
    return candidate_last_index >= last_log_index


def keeps_the_old_vote_in_a_new_term(
    *, current_term, voted_for, last_log_term, last_log_index, candidate, candidate_term,
    candidate_last_term, candidate_last_index,
):  # fmt: skip
    """Refuses anyone but voted_for even when the candidate starts a later term."""
    if candidate_term < current_term or voted_for not in (None, candidate):
        return False
    if candidate_last_term != last_log_term:
        return candidate_last_term > last_log_term
    return candidate_last_index >= last_log_index


def strictly_more_up_to_date(
    *, current_term, voted_for, last_log_term, last_log_index, candidate, candidate_term,
    candidate_last_term, candidate_last_index,
):  # fmt: skip
    """Asks for a strictly better log, so equal logs never elect anyone."""
    if candidate_term < current_term:
        return False
    if candidate_term == current_term and voted_for not in (None, candidate):
        return False
    return (candidate_last_term, candidate_last_index) > (last_log_term, last_log_index)


def refuses_the_same_candidate_again(
    *, current_term, voted_for, last_log_term, last_log_index, candidate, candidate_term,
    candidate_last_term, candidate_last_index,
):  # fmt: skip
    """Refuses a second request from the candidate it voted for (a lost reply is never redone)."""
    if candidate_term < current_term:
        return False
    if candidate_term == current_term and voted_for is not None:
        return False
    if candidate_last_term != last_log_term:
        return candidate_last_term > last_log_term
    return candidate_last_index >= last_log_index


def vote_by_tuples(
    *, current_term, voted_for, last_log_term, last_log_index, candidate, candidate_term,
    candidate_last_term, candidate_last_index,
):  # fmt: skip
    """Right: (term, index) pairs compare the way section 5.4.1 says."""
    fresh_term = candidate_term > current_term
    free = voted_for is None or voted_for == candidate
    term_ok = fresh_term or (candidate_term == current_term and free)
    return term_ok and (candidate_last_term, candidate_last_index) >= (
        last_log_term,
        last_log_index,
    )


def vote_with_kwargs(**request):
    """Right: reads the request as a dict."""
    if request["candidate_term"] < request["current_term"]:
        return False
    same_term = request["candidate_term"] == request["current_term"]
    if same_term and request["voted_for"] not in (None, request["candidate"]):
        return False
    theirs = (request["candidate_last_term"], request["candidate_last_index"])
    return theirs >= (request["last_log_term"], request["last_log_index"])


# --- Task 5: register_step --------------------------------------------------------------------


def reads_always_ok(state, input, output):
    """Never compares a read's output with the state."""
    if input[0] == "write":
        return output is UNKNOWN or output is None, input[1]
    return True, state


def write_changes_nothing(state, input, output):
    """A write is accepted, but the state stays what it was."""
    if input[0] == "write":
        return output is UNKNOWN or output is None, state
    return output is UNKNOWN or output == state, state


def refuses_unknown(state, input, output):
    """Compares UNKNOWN like any output, so a timed-out call can never be explained."""
    if input[0] == "write":
        return output is None, input[1]
    return output == state, state


def timed_out_write_has_no_effect(state, input, output):
    """Accepts a timed-out write but does not apply it."""
    if input[0] == "write":
        return output is UNKNOWN or output is None, state if output is UNKNOWN else input[1]
    return output is UNKNOWN or output == state, state


def read_adopts_what_it_saw(state, input, output):
    """Trusts a read: whatever it returned becomes the state."""
    if input[0] == "write":
        return output is UNKNOWN or output is None, input[1]
    return True, state if output is UNKNOWN else output


def step_with_match(state, input, output):
    """Right: a match statement, and the result as a list."""
    match input:
        case ("write", value):
            return [output is UNKNOWN or output is None, value]
        case ("read",):
            return [output is UNKNOWN or output == state, state]
    raise ValueError(f"not a register operation: {input!r}")


def step_by_expected_output(state, input, output):
    """Right: work out what the call returns on this state, then compare."""
    expected, new_state = (None, input[1]) if input[0] == "write" else (state, state)
    return (True if output is UNKNOWN else output == expected), new_state


MUTANTS = {
    "check_lamport_clock": [
        ForgetsThePlusOne,
        TakesTheSum,
        IgnoresTheStamp,
        TicksTwiceOnSend,
        JumpsOnlyWhenBehind,
        ReturnsWithoutStoring,
        StartsAtZeroAlways,
        ReceiveTakesTheMinimum,
        SendDoesNotTick,
    ],
    "check_vector_clock": [
        ComparesSums,
        SmallerEntryMeansBefore,
        DecidesOnTheFirstDifference,
        LooksOnlyAtItsOwnNodes,
        ZeroIsNotMissing,
        MergeTakesTheOthers,
        MergeKeepsOnlyCommonNodes,
        MergeWithoutMissingEntries,
        MergeIntoBoth,
    ],
    "check_causal_buffer": [
        DeliversOnArrival,
        FifoOnly,
        NeverRescans,
        StrictForOthers,
        OneAheadForOthers,
        AnyLaterFromTheSender,
        HeldByPayload,
        SharedQueue,
    ],
    "check_grant_vote": [
        no_log_check,
        compares_lengths_only,
        votes_twice,
        accepts_lower_terms,
        keeps_the_old_vote_in_a_new_term,
        strictly_more_up_to_date,
        refuses_the_same_candidate_again,
    ],
    "check_register_step": [
        reads_always_ok,
        write_changes_nothing,
        refuses_unknown,
        timed_out_write_has_no_effect,
        read_adopts_what_it_saw,
    ],
}

ALTERNATIVES = {
    "check_lamport_clock": [LamportWithEvents, LamportByMaxOfSuccessors, LamportReceiveThenTick],
    "check_vector_clock": [VectorOfSets, VectorByLessOrEqual],
    "check_causal_buffer": [BufferPerSender, BufferWithIndexes],
    "check_grant_vote": [vote_by_tuples, vote_with_kwargs],
    "check_register_step": [step_with_match, step_by_expected_output],
}
