"""Answers to exercises/05-routing.ipynb: wrong ones the graders must reject (MUTANTS), and right
ones written another way that they must accept (ALTERNATIVES)."""

import fnmatch
import random
import re

from reference.net.node import Node

# --- Task 1: matches --------------------------------------------------------------------------


def _validate(filter, subject):
    filter_tokens, subject_tokens = filter.split("."), subject.split(".")
    if "" in filter_tokens or "" in subject_tokens:
        raise ValueError("empty token")
    if ">" in filter_tokens[:-1]:
        raise ValueError("'>' not last")
    if {"*", ">"} & set(subject_tokens):
        raise ValueError("wildcard in a subject")
    return filter_tokens, subject_tokens


def _walk(filter_tokens, subject_tokens, tail_matches_nothing=False):
    for position, token in enumerate(filter_tokens):
        if token == ">":
            return tail_matches_nothing or len(subject_tokens) > position
        if position >= len(subject_tokens):
            return False
        if token not in ("*", subject_tokens[position]):
            return False
    return len(subject_tokens) == len(filter_tokens)


def tail_matches_zero_tokens(filter, subject):
    """Lets 'foo.>' match 'foo'."""
    return _walk(*_validate(filter, subject), tail_matches_nothing=True)


def uses_fnmatch(filter, subject):
    """'*' becomes fnmatch's star, which crosses dots and lives inside tokens."""
    _validate(filter, subject)
    return fnmatch.fnmatchcase(subject, filter.replace(">", "*"))


def matches_a_prefix(filter, subject):
    """Stops when the filter runs out, so 'foo' matches 'foo.bar'."""
    filter_tokens, subject_tokens = _validate(filter, subject)
    if len(subject_tokens) < len(filter_tokens) and filter_tokens[-1] != ">":
        return False
    for token, word in zip(filter_tokens, subject_tokens, strict=False):
        if token == ">":
            return True
        if token not in ("*", word):
            return False
    return len(subject_tokens) >= len(filter_tokens)


def star_takes_the_rest_at_the_end(filter, subject):
    """A last '*' is read like '>': 'foo.*' matches 'foo.bar.baz'."""
    filter_tokens, subject_tokens = _validate(filter, subject)
    if filter_tokens[-1] == "*":
        filter_tokens = [*filter_tokens[:-1], ">"]
    return _walk(filter_tokens, subject_tokens)


def regex_without_token_bounds(filter, subject):
    """A regex built on the whole string: '*' is any run of non-dots, even inside a token."""
    _validate(filter, subject)
    pattern = re.escape(filter).replace(r"\*", "[^.]*").replace(">", ".+")
    return re.fullmatch(pattern, subject) is not None


def never_validates(filter, subject):
    """Matches correctly but accepts 'foo.>.bar', empty tokens and wildcards in subjects."""
    return _walk(filter.split("."), subject.split("."))


def allows_gt_anywhere(filter, subject):
    """Checks empty tokens and subjects, but lets '>' stand in the middle of a filter."""
    filter_tokens, subject_tokens = filter.split("."), subject.split(".")
    if "" in filter_tokens or "" in subject_tokens or {"*", ">"} & set(subject_tokens):
        raise ValueError("invalid")
    return _walk(filter_tokens, subject_tokens)


def ignores_case(filter, subject):
    return _walk(*_validate(filter.lower(), subject.lower()))


# --- Task 2: QueueGroup -----------------------------------------------------------------------


class _Group:
    """The shape of the answer, with its parts overridable one at a time."""

    def __init__(self):
        self.outstanding = {}
        self.last_picked = {}
        self.picks = 0

    def join(self, member):
        if member not in self.outstanding:
            self.outstanding[member] = 0

    def leave(self, member):
        self.outstanding.pop(member, None)
        self.last_picked.pop(member, None)

    def pick(self):
        if not self.outstanding:
            raise LookupError("empty")
        member = min(self.outstanding, key=self.order)
        self.outstanding[member] += 1
        self.picks += 1
        self.last_picked[member] = self.picks
        return member

    def order(self, member):
        return self.outstanding[member], self.last_picked.get(member, -1)

    def done(self, member):
        if self.outstanding.get(member, 0) > 0:
            self.outstanding[member] -= 1


class AlwaysTheFirst(_Group):
    def pick(self):
        member = super().pick()
        first = next(iter(self.outstanding))
        self.outstanding[member] -= 1
        self.outstanding[first] += 1
        return first


class TiesToTheFirstJoined(_Group):
    """Fewest outstanding, ties broken by join order: one member gets all the idle-time work."""

    def order(self, member):
        return self.outstanding[member]


class TiesToTheLeastOftenPicked(_Group):
    def __init__(self):
        super().__init__()
        self.times_picked = {}

    def pick(self):
        member = super().pick()
        self.times_picked[member] = self.times_picked.get(member, 0) + 1
        return member

    def leave(self, member):
        super().leave(member)
        self.times_picked.pop(member, None)

    def order(self, member):
        return self.outstanding[member], self.times_picked.get(member, 0)


class PlainRoundRobin(_Group):
    """Rotates through the members whatever they have outstanding."""

    def order(self, member):
        return self.last_picked.get(member, -1)


class RotationOffByOne:
    """Round robin over a list, starting one place too far."""

    def __init__(self):
        self.members = []
        self.next = 1

    def join(self, member):
        if member not in self.members:
            self.members.append(member)

    def leave(self, member):
        if member in self.members:
            self.members.remove(member)

    def pick(self):
        if not self.members:
            raise LookupError("empty")
        member = self.members[self.next % len(self.members)]
        self.next += 1
        return member

    def done(self, member):
        pass


class ForgetsToForgetLeavers(_Group):
    """Leaving drops the count but not the place in the order, so leavers are still picked."""

    def leave(self, member):
        if member in self.outstanding:
            self.outstanding[member] = 0


class RejoinKeepsItsPast(_Group):
    def leave(self, member):
        self.outstanding.pop(member, None)


class CountsGoNegative(_Group):
    def done(self, member):
        if member in self.outstanding:
            self.outstanding[member] -= 1


class LateAckRaises(_Group):
    def done(self, member):
        self.outstanding[member] = max(0, self.outstanding[member] - 1)


class SharesOneTable(_Group):
    outstanding = {}  # noqa: RUF012 (the mistake this answer makes)
    last_picked = {}  # noqa: RUF012

    def __init__(self):
        self.picks = 0


class EmptyGroupGivesNone(_Group):
    def pick(self):
        return super().pick() if self.outstanding else None


# --- Task 3: update_routes --------------------------------------------------------------------


def _update(me, table, neighbour, their_vector, link_cost, infinity=16, **mistakes):
    """The rule, with one of its parts left out by name."""
    routes = dict(table)
    if not mistakes.get("keeps_routes_it_lost"):
        for dest, (_, next_hop) in table.items():
            if next_hop == neighbour and dest not in their_vector:
                routes[dest] = (infinity, neighbour)
    for dest, their_cost in their_vector.items():
        if dest == me and not mistakes.get("routes_to_itself"):
            continue
        offered = their_cost if mistakes.get("forgets_link_cost") else link_cost + their_cost
        if not mistakes.get("no_cap"):
            offered = min(offered, mistakes.get("cap", infinity))
        if dest in routes:
            cost, next_hop = routes[dest]
            same_hop = next_hop == neighbour and not mistakes.get("only_improvements")
            better = offered <= cost if mistakes.get("switches_on_ties") else offered < cost
            if same_hop or better:
                routes[dest] = (offered, neighbour)
        elif offered < infinity or mistakes.get("adds_unreachable"):
            routes[dest] = (offered, neighbour)
    return routes, routes != table


def only_accepts_improvements(me, table, neighbour, their_vector, link_cost, infinity=16):
    """Misses the rule that news from your next hop is believed even when it is worse."""
    return _update(me, table, neighbour, their_vector, link_cost, infinity, only_improvements=1)


def forgets_the_link_cost(me, table, neighbour, their_vector, link_cost, infinity=16):
    return _update(me, table, neighbour, their_vector, link_cost, infinity, forgets_link_cost=1)


def no_cap_at_infinity(me, table, neighbour, their_vector, link_cost, infinity=16):
    return _update(me, table, neighbour, their_vector, link_cost, infinity, no_cap=1)


def caps_at_sixteen(me, table, neighbour, their_vector, link_cost, infinity=16):
    return _update(me, table, neighbour, their_vector, link_cost, 16)


def installs_a_route_to_itself(me, table, neighbour, their_vector, link_cost, infinity=16):
    return _update(me, table, neighbour, their_vector, link_cost, infinity, routes_to_itself=1)


def switches_on_ties(me, table, neighbour, their_vector, link_cost, infinity=16):
    return _update(me, table, neighbour, their_vector, link_cost, infinity, switches_on_ties=1)


def adds_unreachable_routes(me, table, neighbour, their_vector, link_cost, infinity=16):
    return _update(me, table, neighbour, their_vector, link_cost, infinity, adds_unreachable=1)


def keeps_routes_it_lost(me, table, neighbour, their_vector, link_cost, infinity=16):
    """Ignores a destination its next hop stopped listing."""
    return _update(me, table, neighbour, their_vector, link_cost, infinity, keeps_routes_it_lost=1)


def changes_the_table_in_place(me, table, neighbour, their_vector, link_cost, infinity=16):
    before = dict(table)
    routes, _ = _update(me, table, neighbour, their_vector, link_cost, infinity)
    table.update(routes)
    return table, table != before


def always_changed(me, table, neighbour, their_vector, link_cost, infinity=16):
    routes, _ = _update(me, table, neighbour, their_vector, link_cost, infinity)
    return routes, True


def changed_if_any_offer(me, table, neighbour, their_vector, link_cost, infinity=16):
    """Reports a change whenever the neighbour advertised anything."""
    routes, _ = _update(me, table, neighbour, their_vector, link_cost, infinity)
    return routes, bool(their_vector)


# --- Task 4: GossipNode -----------------------------------------------------------------------


class _Gossip(Node):
    """The shape of the answer: push new messages to a few peers, and anti-entropy."""

    def __init__(self, peers, period=0.5):
        self.peers = list(peers)
        self.period = period

    def on_start(self):
        self.delivered = self.ctx.storage.setdefault("delivered", [])
        self.known = set(self.delivered)
        self.ctx.set_timer(self.period, "anti-entropy")

    def on_message(self, src, msg):
        kind, body = msg
        if kind == "broadcast":
            self.learn([body])
        elif kind == "gossip":
            self.learn(body)
        elif kind == "have":
            self.learn(body)
            missing = [m for m in self.delivered if m not in set(body)]
            if missing:
                self.ctx.send(src, ("gossip", missing))

    def on_timer(self, name):
        self.anti_entropy()
        self.ctx.set_timer(self.period, "anti-entropy")

    def anti_entropy(self):
        self.ctx.send(self.ctx.random.choice(self.peers), ("have", list(self.delivered)))

    def learn(self, messages):
        new = [m for m in messages if m not in self.known]
        self.known.update(new)
        self.delivered.extend(new)
        if new:
            self.push(new)

    def push(self, new):
        for peer in self.ctx.random.sample(self.peers, min(3, len(self.peers))):
            self.ctx.send(peer, ("gossip", new))


class OneShotPush(_Gossip):
    """Pushes each new message once, to every peer, and never repairs."""

    def on_timer(self, name):
        pass

    def push(self, new):
        for peer in self.peers:
            self.ctx.send(peer, ("gossip", new))


class RumourToAFewPeers(_Gossip):
    """Push gossip without anti-entropy: what a partition swallows is gone."""

    def on_start(self):
        self.delivered = self.ctx.storage.setdefault("delivered", [])
        self.known = set(self.delivered)


class ForgetsToRearmTheTimer(_Gossip):
    def on_timer(self, name):
        self.anti_entropy()


class RearmsOnlyWhenItLearns(_Gossip):
    """Anti-entropy only while news keeps coming: it stops in a quiet partition."""

    def on_timer(self, name):
        self.anti_entropy()

    def learn(self, messages):
        if any(m not in self.known for m in messages):
            self.ctx.set_timer(self.period, "anti-entropy")
        super().learn(messages)


class FloodsEveryPeriod(_Gossip):
    """Sends everything it knows to every peer, every period."""

    def anti_entropy(self):
        for peer in self.peers:
            self.ctx.send(peer, ("gossip", list(self.delivered)))


class EveryTenMilliseconds(_Gossip):
    def on_timer(self, name):
        self.anti_entropy()
        self.ctx.set_timer(0.01, "anti-entropy")


class PeriodOfTheExample(_Gossip):
    """Ignores the period it is given and uses 0.05 s."""

    def on_start(self):
        super().on_start()
        self.ctx.set_timer(0.05, "anti-entropy")

    def on_timer(self, name):
        self.anti_entropy()
        self.ctx.set_timer(0.05, "anti-entropy")


class DeliversEveryCopy(_Gossip):
    def learn(self, messages):
        self.delivered.extend(messages)
        super().learn(messages)


class IgnoresDigests(_Gossip):
    """Sends its anti-entropy messages, but has no handler for the ones it receives."""

    def on_message(self, src, msg):
        if msg[0] != "have":
            super().on_message(src, msg)


class UsesTheGlobalRandom(_Gossip):
    def anti_entropy(self):
        self.ctx.send(random.choice(self.peers), ("have", list(self.delivered)))


class SharesWhatItKnows(_Gossip):
    """Keeps the set of known messages on the class: every node in the process shares it."""

    known = set()  # noqa: RUF012 (the mistake this answer makes)

    def on_start(self):
        self.delivered = self.ctx.storage.setdefault("delivered", [])
        self.ctx.set_timer(self.period, "anti-entropy")


class IgnoresRequestsAsLists(_Gossip):
    def on_message(self, src, msg):
        if msg[0] != "broadcast" or isinstance(msg, tuple):
            super().on_message(src, msg)


MUTANTS = {
    "check_matches": [
        tail_matches_zero_tokens,
        uses_fnmatch,
        matches_a_prefix,
        star_takes_the_rest_at_the_end,
        regex_without_token_bounds,
        never_validates,
        allows_gt_anywhere,
        ignores_case,
    ],
    "check_queue_group": [
        AlwaysTheFirst,
        TiesToTheFirstJoined,
        TiesToTheLeastOftenPicked,
        PlainRoundRobin,
        RotationOffByOne,
        ForgetsToForgetLeavers,
        RejoinKeepsItsPast,
        CountsGoNegative,
        LateAckRaises,
        SharesOneTable,
        EmptyGroupGivesNone,
    ],
    "check_update_routes": [
        only_accepts_improvements,
        forgets_the_link_cost,
        no_cap_at_infinity,
        caps_at_sixteen,
        installs_a_route_to_itself,
        switches_on_ties,
        adds_unreachable_routes,
        keeps_routes_it_lost,
        changes_the_table_in_place,
        always_changed,
        changed_if_any_offer,
    ],
    "check_gossip": [
        OneShotPush,
        RumourToAFewPeers,
        ForgetsToRearmTheTimer,
        RearmsOnlyWhenItLearns,
        FloodsEveryPeriod,
        EveryTenMilliseconds,
        PeriodOfTheExample,
        DeliversEveryCopy,
        IgnoresDigests,
        UsesTheGlobalRandom,
        SharesWhatItKnows,
        IgnoresRequestsAsLists,
    ],
}


# --- Right answers, written another way -------------------------------------------------------


def translates_to_a_regex(filter, subject):
    """Each token becomes a piece of a regular expression, anchored on the dots."""
    _validate(filter, subject)
    pieces = []
    for token in filter.split("."):
        if token == "*":
            pieces.append(r"[^.]+")
        elif token == ">":
            pieces.append(r".+")
        else:
            pieces.append(re.escape(token))
    return re.fullmatch(r"\.".join(pieces), subject) is not None


def recursive_matcher(filter, subject):
    def rest(filter_tokens, subject_tokens):
        if not filter_tokens or not subject_tokens:
            return not filter_tokens and not subject_tokens
        head, *tail = filter_tokens
        if head == ">":
            return True
        return head in ("*", subject_tokens[0]) and rest(tail, subject_tokens[1:])

    return rest(*_validate(filter, subject))


class ListsInJoinOrder:
    """Members in a list; ties broken by scanning a recency list instead of a clock."""

    def __init__(self):
        self.members = []  # in join order
        self.recent = []  # members picked since they joined, least recently picked first
        self.counts = {}

    def join(self, member):
        if member not in self.counts:
            self.members.append(member)
            self.counts[member] = 0

    def leave(self, member):
        if member in self.counts:
            self.members.remove(member)
            del self.counts[member]
            if member in self.recent:
                self.recent.remove(member)

    def pick(self):
        if not self.members:
            raise LookupError("no members")
        fewest = min(self.counts.values())
        tied = [m for m in self.members if self.counts[m] == fewest]
        never = [m for m in tied if m not in self.recent]
        member = never[0] if never else min(tied, key=self.recent.index)
        if member in self.recent:
            self.recent.remove(member)
        self.recent.append(member)
        self.counts[member] += 1
        return member

    def done(self, member):
        if self.counts.get(member):
            self.counts[member] -= 1


class SortsByAKey:
    """A dict of [outstanding, last pick time, join time] lists, sorted on each pick."""

    def __init__(self):
        self.time = 0
        self.state = {}

    def tick(self):
        self.time += 1
        return self.time

    def join(self, member):
        self.state.setdefault(member, [0, 0, self.tick()])

    def leave(self, member):
        self.state.pop(member, None)

    def pick(self):
        if not self.state:
            raise IndexError("empty group")  # an IndexError is a LookupError
        member = sorted(self.state, key=lambda m: self.state[m])[0]
        self.state[member][0] += 1
        self.state[member][1] = self.tick()
        return member

    def done(self, member):
        if member in self.state:
            self.state[member][0] = max(0, self.state[member][0] - 1)


def routes_as_lists(me, table, neighbour, their_vector, link_cost, infinity=16):
    """Builds each route as a list, and a list as the result."""
    routes = {dest: list(route) for dest, route in table.items()}
    for dest in list(routes):
        if routes[dest][1] == neighbour and dest not in their_vector:
            routes[dest] = [infinity, neighbour]
    for dest, their_cost in sorted(their_vector.items()):
        offered = min(infinity, their_cost + link_cost)
        if dest == me or (dest not in routes and offered >= infinity):
            continue
        if dest not in routes or routes[dest][1] == neighbour or offered < routes[dest][0]:
            routes[dest] = [offered, neighbour]
    changed = any(list(table.get(dest, ())) != route for dest, route in routes.items())
    return [routes, changed]


def compares_each_destination(me, table, neighbour, their_vector, link_cost, infinity=16):
    """One pass over every destination either side knows, deciding each one by cases."""
    routes, changed = {}, False
    for dest in sorted(set(table) | set(their_vector) - {me}):
        old = table.get(dest)
        if dest in their_vector:
            offer = (min(infinity, link_cost + their_vector[dest]), neighbour)
        else:
            offer = (infinity, neighbour)
        if old is None:
            new = offer if offer[0] < infinity else None
        elif old[1] == neighbour:
            new = offer
        else:
            new = offer if offer[0] < old[0] else old
        if new is not None:
            routes[dest] = tuple(new)
            changed = changed or old is None or tuple(old) != tuple(new)
    return routes, changed


class PushOnlyAntiEntropy(_Gossip):
    """Every period, sends everything it has to one random peer, and never asks for anything."""

    def anti_entropy(self):
        self.ctx.send(self.ctx.random.choice(self.peers), ("gossip", list(self.delivered)))


class PullOnlyAntiEntropy(_Gossip):
    """Every period, asks one random peer for what it lacks; an answer carries only that."""

    def on_message(self, src, msg):
        kind, body = msg
        if kind == "have":  # a request: answer with what the asker lacks, learn nothing
            missing = [m for m in self.delivered if m not in body]
            if missing:
                self.ctx.send(src, ["gossip", missing])
        else:
            super().on_message(src, msg)


class FloodsOnceThenRepairs(_Gossip):
    """Floods each new message to every peer, and repairs with anti-entropy."""

    def push(self, new):
        for peer in self.peers:
            self.ctx.send(peer, ("gossip", new))


ALTERNATIVES = {
    "check_matches": [translates_to_a_regex, recursive_matcher],
    "check_queue_group": [ListsInJoinOrder, SortsByAKey],
    "check_update_routes": [routes_as_lists, compares_each_destination],
    "check_gossip": [PushOnlyAntiEntropy, PullOnlyAntiEntropy, FloodsOnceThenRepairs],
}
