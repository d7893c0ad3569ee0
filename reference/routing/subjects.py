"""NATS subjects: checking them, matching them, and an index of subscriptions.

Theory of operation
-------------------
A NATS message carries a *subject* such as ``orders.eu.paid``: tokens
separated by dots. A subscriber names a *filter*, a subject that may use
two wildcards, each a whole token:

- ``*`` matches exactly one token: ``orders.*.paid`` matches
  ``orders.eu.paid`` but not ``orders.paid`` nor ``orders.eu.x.paid``;
- ``>`` matches one or more tokens at the end: ``orders.>`` matches
  ``orders.eu`` and ``orders.eu.paid`` but not ``orders`` itself.

A ``*`` or ``>`` inside a longer token (``a*``, ``x>y``) is an ordinary
character, as in nats-server. `parse_filter` and `parse_subject` split a
string into tokens or raise `InvalidSubject` naming the problem: an empty
subject, an empty token (``a..b``, ``.a``, ``a.``), whitespace, ``>``
before the last token, or (for a subject a message is published to) any
wildcard at all.

`filter_matches(filter_tokens, subject_tokens)` decides one pair. Asking
it of every subscription for every message is a *linear scan*: its cost
grows with the number of subscriptions. `SubscriptionIndex` is a trie
instead, one node per token of a filter, with the wildcard tokens as
ordinary keys ``"*"`` and ``">"``. To match ``orders.eu.paid`` it walks
from the root following, at each level, the child named by the token, the
``*`` child, and the ``>`` child (which matches all the rest at once), so
the cost grows with the number of tokens and of filters that really
match, not with the number of subscriptions. Removing a subscription
prunes the nodes left empty, so the trie never holds more nodes than its
filters' tokens.

`match(subject)` returns a `Match`: the plain subscribers, each of which
gets a copy of the message, and the queue groups by name, each of which
gets one copy for one of its members, chosen by a policy
(`reference/routing/queue_groups.py`). As in nats-server, members of a
queue group with the same name are pooled even when their filters differ.

The index stores any hashable subscriber the caller gives it (the broker
stores its own subscription objects) and does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEPARATOR = "."
ONE_TOKEN = "*"
REST = ">"
_WHITESPACE = frozenset(" \t\r\n\f\v")


class InvalidSubject(ValueError):
    """A subject or filter breaks the rules; `problem` says which one."""

    def __init__(self, subject: str, problem: str) -> None:
        super().__init__(f"invalid subject {subject!r}: {problem}")
        self.subject = subject
        self.problem = problem


def parse_filter(text: str) -> tuple[str, ...]:
    """Split a subscription filter into tokens; wildcards allowed."""
    if not text:
        raise InvalidSubject(text, "the subject is empty")
    if any(character in _WHITESPACE for character in text):
        raise InvalidSubject(text, "subjects contain no whitespace")
    tokens = tuple(text.split(SEPARATOR))
    for position, token in enumerate(tokens):
        if not token:
            raise InvalidSubject(text, f"token {position + 1} is empty")
        if token == REST and position != len(tokens) - 1:
            raise InvalidSubject(text, "'>' may only be the last token")
    return tokens


def parse_subject(text: str) -> tuple[str, ...]:
    """Split a subject a message is published to into tokens; no wildcards."""
    tokens = parse_filter(text)
    if ONE_TOKEN in tokens or REST in tokens:
        raise InvalidSubject(text, "a published subject has no wildcards")
    return tokens


def filter_matches(filter_tokens: tuple[str, ...], subject_tokens: tuple[str, ...]) -> bool:
    """True if a subject (tokens) matches a filter (tokens): one pair, no index."""
    for position, wanted in enumerate(filter_tokens):
        if wanted == REST:
            return len(subject_tokens) > position
        if position >= len(subject_tokens):
            return False
        if wanted != ONE_TOKEN and wanted != subject_tokens[position]:
            return False
    return len(subject_tokens) == len(filter_tokens)


@dataclass
class Match:
    """Who gets a message: every plain subscriber, one member of each group."""

    plain: list = field(default_factory=list)
    groups: dict[str, list] = field(default_factory=dict)


class _Node:
    __slots__ = ("children", "groups", "plain")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.plain: dict[object, None] = {}  # an ordered set
        self.groups: dict[str, dict[object, None]] = {}

    def is_empty(self) -> bool:
        return not (self.children or self.plain or self.groups)

    def add_to(self, match: Match) -> None:
        match.plain.extend(self.plain)
        for name, members in self.groups.items():
            match.groups.setdefault(name, []).extend(members)


class SubscriptionIndex:
    """A trie of filters: insert, remove, and match a subject to its subscribers.

    >>> index = SubscriptionIndex()
    >>> index.insert("orders.*.paid", "audit")
    >>> index.insert("orders.>", "worker-1", queue="workers")
    >>> index.insert("orders.>", "worker-2", queue="workers")
    >>> index.match("orders.eu.paid")
    Match(plain=['audit'], groups={'workers': ['worker-1', 'worker-2']})
    >>> index.match("orders").plain, index.match("orders").groups
    ([], {})
    """

    def __init__(self) -> None:
        self._root = _Node()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def insert(self, filter_text: str, subscriber: object, *, queue: str | None = None) -> None:
        """Add `subscriber` under a filter (plain, or a member of group `queue`)."""
        node = self._root
        for token in parse_filter(filter_text):
            node = node.children.setdefault(token, _Node())
        members = node.plain if queue is None else node.groups.setdefault(queue, {})
        if subscriber in members:
            raise ValueError(f"{subscriber!r} is already subscribed to {filter_text!r}")
        members[subscriber] = None
        self._count += 1

    def remove(self, filter_text: str, subscriber: object, *, queue: str | None = None) -> None:
        """Take `subscriber` out from under a filter; KeyError if it is not there."""
        path = [self._root]
        for token in parse_filter(filter_text):
            child = path[-1].children.get(token)
            if child is None:
                raise KeyError(subscriber)
            path.append(child)
        node = path[-1]
        members = node.plain if queue is None else node.groups.get(queue, {})
        del members[subscriber]  # KeyError if absent
        if queue is not None and not members:
            del node.groups[queue]
        self._count -= 1
        self._prune(path, parse_filter(filter_text))

    def match(self, subject: str) -> Match:
        """Everyone whose filter matches `subject` (a subject without wildcards)."""
        tokens = parse_subject(subject)
        match = Match()
        self._collect(self._root, tokens, 0, match)
        return match

    def _collect(self, node: _Node, tokens: tuple[str, ...], position: int, match: Match) -> None:
        if position == len(tokens):
            node.add_to(match)
            return
        rest = node.children.get(REST)
        if rest is not None:  # at least one token remains, so '>' matches
            rest.add_to(match)
        for key in (ONE_TOKEN, tokens[position]):
            child = node.children.get(key)
            if child is not None:
                self._collect(child, tokens, position + 1, match)

    @staticmethod
    def _prune(path: list[_Node], tokens: tuple[str, ...]) -> None:
        """Drop the nodes a removal left empty, deepest first."""
        for depth in range(len(tokens), 0, -1):
            if not path[depth].is_empty():
                return
            del path[depth - 1].children[tokens[depth - 1]]
