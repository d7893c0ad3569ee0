"""Per-subject permissions: who may publish to a subject, who may subscribe to a filter.

Theory of operation
-------------------
A client's permissions are two *allow lists* of NATS filters, one for
publishing and one for subscribing, with the usual wildcards (``*`` one
token, ``>`` one or more at the end; `reference/routing/subjects.py`).
Anything not allowed is refused; there are no deny lists.

Publishing is a question about one subject: ``may_publish("orders.eu.paid")``
is true if some filter of the publish list matches it. A subject that is
not a valid publish subject (a wildcard, an empty token) is never allowed.

Subscribing is a question about a *set* of subjects, all those the filter
can match, and the rule is: **a filter may be subscribed to if and only if
every subject it can match is matched by the subscribe list.** So with
only ``orders.eu.*`` allowed, ``orders.eu.paid`` and ``orders.eu.*`` are
allowed, ``orders.>`` and ``orders.*`` are not (they match
``orders.us``), nor is ``orders.eu.>`` (it matches ``orders.eu.x.y``).
nats-server 2.9.10 accepts that last one, matching the filter's ``>``
literally against the ``*``, and then delivers ``orders.eu.x.y`` to it.

How to decide it, when a filter matches infinitely many subjects: take a
subject the filter matches that puts, at each wildcard position, a fresh
token that no allowed filter names. An allowed filter that matches it has
a wildcard wherever the wanted filter has one, and the same token or a
wildcard elsewhere; so it matches every subject of that length the wanted
filter matches. `filter_matches` checks exactly that when it is handed
the wanted filter's tokens as if they were a subject (a ``*`` there only
matches an allowed ``*`` or ``>``). So a filter without ``>`` is allowed
if one allowed filter matches it that way. A filter ``prefix.>`` stands
for ``prefix.*``, ``prefix.*.*``, ... : each length must be covered, maybe
each by a different filter (``a.*`` and ``a.*.>`` together allow
``a.>``). Past the longest allowed filter only ``>`` filters match, and
they treat every longer length the same, so checking the lengths up to
one past the longest allowed filter decides them all.

`Permissions.from_scopes` reads the scopes of a token
(``{"pub": [...], "sub": [...]}``, `reference/security/tokens.py`).
This module does no I/O; the broker asks it (`reference/routing/authorization.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from reference.routing.subjects import (
    ONE_TOKEN,
    REST,
    InvalidSubject,
    filter_matches,
    parse_filter,
    parse_subject,
)


class InvalidScopes(ValueError):
    """A token's scopes are not lists of filters."""


class AllowList:
    """Filters something is allowed under; everything else is refused."""

    def __init__(self, filters: Iterable[str]) -> None:
        if isinstance(filters, str):
            raise TypeError(f"an allow list is a list of filters, not the string {filters!r}")
        self.filters = tuple(filters)
        self._parsed = tuple(parse_filter(text) for text in self.filters)  # InvalidSubject
        self._longest = max((len(tokens) for tokens in self._parsed), default=0)

    def __repr__(self) -> str:
        return f"AllowList({list(self.filters)!r})"

    def allows_subject(self, subject: str) -> bool:
        """True if some allowed filter matches this publish subject."""
        try:
            tokens = parse_subject(subject)
        except InvalidSubject:
            return False
        return self._matched(tokens)

    def covers(self, filter_text: str) -> bool:
        """True if every subject `filter_text` can match is allowed."""
        try:
            wanted = parse_filter(filter_text)
        except InvalidSubject:
            return False
        return all(self._matched(shape) for shape in self._shapes(wanted))

    def _matched(self, tokens: tuple[str, ...]) -> bool:
        return any(filter_matches(allowed, tokens) for allowed in self._parsed)

    def _shapes(self, wanted: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        """The wanted filter at each length that needs checking, ``>`` spelt as ``*``s."""
        if wanted[-1] != REST:
            yield wanted
            return
        prefix = wanted[:-1]
        for length in range(len(prefix) + 1, max(self._longest, len(prefix)) + 2):
            yield prefix + (ONE_TOKEN,) * (length - len(prefix))


class Permissions:
    """What one client may publish and subscribe to.

    >>> permissions = Permissions(publish=["orders.>"], subscribe=["orders.eu.*"])
    >>> permissions.may_publish("orders.eu.paid"), permissions.may_publish("billing")
    (True, False)
    >>> permissions.may_subscribe("orders.eu.*"), permissions.may_subscribe("orders.>")
    (True, False)
    """

    def __init__(self, *, publish: Iterable[str] = (), subscribe: Iterable[str] = ()) -> None:
        self.publish = AllowList(publish)
        self.subscribe = AllowList(subscribe)

    @classmethod
    def from_scopes(cls, scopes: Mapping[str, Iterable[str]]) -> Permissions:
        """From a token's scopes, ``{"pub": [...], "sub": [...]}``; a missing key allows nothing."""
        if not isinstance(scopes, Mapping):
            raise InvalidScopes(f"scopes must be a mapping, not {scopes!r}")
        lists = {}
        for key in ("pub", "sub"):
            filters = scopes.get(key, [])
            if not isinstance(filters, list | tuple) or not all(
                isinstance(text, str) for text in filters
            ):
                raise InvalidScopes(f"scope {key!r} must be a list of filters, not {filters!r}")
            lists[key] = filters
        try:
            return cls(publish=lists["pub"], subscribe=lists["sub"])
        except InvalidSubject as error:
            raise InvalidScopes(str(error)) from error

    def __repr__(self) -> str:
        return (
            f"Permissions(publish={list(self.publish.filters)!r},"
            f" subscribe={list(self.subscribe.filters)!r})"
        )

    def may_publish(self, subject: str) -> bool:
        return self.publish.allows_subject(subject)

    def may_subscribe(self, filter_text: str) -> bool:
        return self.subscribe.covers(filter_text)
