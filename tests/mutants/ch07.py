"""Answers to exercises/07-security.ipynb: wrong ones the graders must reject (MUTANTS), and right
ones written another way that they must accept (ALTERNATIVES)."""

import collections
import hashlib
import hmac
import secrets
from hmac import compare_digest

from exercises.graders.ch07 import decode_part, unb64url
from reference.security.envelopes import EnvelopeRefused, MalformedEnvelope
from reference.security.replay import SequenceWindow
from reference.security.tokens import (
    BadSignature,
    MalformedToken,
    TokenExpired,
    TokenNotYetValid,
    UnknownKeyId,
    UnsupportedAlgorithm,
    WrongAudience,
)
from reference.wire.cbor import dumps, loads

# --- Task 1: verify a MAC ---------------------------------------------------------------------


def _expected(key, header, body, digest=hashlib.sha256):
    return hmac.new(key, len(header).to_bytes(4, "big") + header + body, digest).digest()


def mac_compared_with_eq(key, header, body, tag):
    """Right tag, compared with ==: leaks the length of the right prefix."""
    return _expected(key, header, body) == tag


def mac_compared_byte_by_byte(key, header, body, tag):
    """A hand-written compare that returns at the first differing byte."""
    expected = _expected(key, header, body)
    if len(expected) != len(tag):
        return False
    for mine, theirs in zip(expected, tag, strict=True):  # noqa: SIM110 (the mutant's loop)
        if mine != theirs:
            return False
    return True


def mac_compared_as_hex(key, header, body, tag):
    """== on the hex strings: still stops at the first difference."""
    return _expected(key, header, body).hex() == tag.hex()


def mac_over_body_only(key, header, body, tag):
    """The header is not covered: anyone can relabel a message."""
    return hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest(), tag)


def mac_without_length(key, header, body, tag):
    """No length in front: a byte can move between header and body unnoticed."""
    return hmac.compare_digest(hmac.new(key, header + body, hashlib.sha256).digest(), tag)


def mac_with_sha1(key, header, body, tag):
    """The wrong hash."""
    return hmac.compare_digest(_expected(key, header, body, hashlib.sha1), tag)


def mac_accepts_truncated(key, header, body, tag):
    """Compares only as many bytes as the tag has: a short tag is easy to guess."""
    return hmac.compare_digest(_expected(key, header, body)[: len(tag)], tag)


def mac_ignores_extra_bytes(key, header, body, tag):
    """Compares the first 32 bytes of whatever came."""
    return hmac.compare_digest(_expected(key, header, body), tag[:32])


def mac_as_plain_hash(key, header, body, tag):
    """sha256(key + message), not an HMAC."""
    message = len(header).to_bytes(4, "big") + header + body
    return hmac.compare_digest(hashlib.sha256(key + message).digest(), tag)


def mac_with_imported_compare(key, header, body, tag):
    """Right: hmac.digest in one call, and compare_digest imported by name."""
    message = b"".join([len(header).to_bytes(4, "big"), header, body])
    return compare_digest(hmac.digest(key, message, "sha256"), tag)


def mac_updated_piecewise(key, header, body, tag):
    """Right: the message fed in pieces, compared with secrets.compare_digest."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for piece in (len(header).to_bytes(4, "big"), header, body):
        mac.update(piece)
    return secrets.compare_digest(mac.digest(), bytes(tag))


# --- Task 2: ReplayWindow ---------------------------------------------------------------------


class Window:
    """The right window, as a set pruned below the window: mutants change one rule."""

    def __init__(self, size):
        self.size = size
        self.highest = None
        self.seen = set()

    def too_old(self, seq):
        return seq <= self.highest - self.size

    def accept(self, seq):
        if self.highest is None or seq > self.highest:
            self.highest = seq
            self.seen = {n for n in self.seen if not self.too_old(n)} | {seq}
            return True
        if self.too_old(seq) or seq in self.seen:
            return False
        self.seen.add(seq)
        return True


class EdgeOneTooOld(Window):
    """Accepts highest - size, one past the window."""

    def too_old(self, seq):
        return seq < self.highest - self.size


class EdgeOneTooYoung(Window):
    """Refuses highest - size + 1, the oldest number the window still holds."""

    def too_old(self, seq):
        return seq <= self.highest - self.size + 1


class AcceptsDuplicates(Window):
    """Checks the edge, forgets to look at what was seen."""

    def accept(self, seq):
        if self.highest is None or seq > self.highest:
            self.highest = seq
            return True
        return not self.too_old(seq)


class RefusesBelowHighest(Window):
    """Only ever higher: a message that arrives late is refused."""

    def accept(self, seq):
        if self.highest is None or seq > self.highest:
            self.highest = seq
            return True
        return False


class ForgetsToSlide:
    """A bitmap that is not shifted when the highest moves up."""

    def __init__(self, size):
        self.size, self.highest, self.bitmap = size, None, 0

    def accept(self, seq):
        if self.highest is None or seq > self.highest:
            self.highest = seq
            self.bitmap |= 1
            return True
        behind = self.highest - seq
        if behind >= self.size or self.bitmap >> behind & 1:
            return False
        self.bitmap |= 1 << behind
        return True


class SizeAlways64(Window):
    """Ignores the size it is given."""

    def __init__(self, size):
        super().__init__(64)


class NeverForgets(Window):
    """Right answers, but keeps every number it ever accepted."""

    def accept(self, seq):
        if self.highest is None or seq > self.highest:
            self.highest = seq
            self.seen.add(seq)
            return True
        return super().accept(seq)


class WindowAsDeque:
    """Right: a deque of flags as long as the window, the newest first."""

    def __init__(self, size):
        self.highest = None
        self.flags = collections.deque([False] * size, maxlen=size)

    def accept(self, seq):
        if self.highest is None or seq > self.highest:
            gap = self.flags.maxlen if self.highest is None else seq - self.highest
            self.flags.extendleft([False] * min(gap - 1, self.flags.maxlen))
            self.flags.appendleft(True)
            self.highest = seq
            return True
        behind = self.highest - seq
        if behind >= self.flags.maxlen or self.flags[behind]:
            return False
        self.flags[behind] = True
        return True


class BitmapWindow:
    """Right: RFC 4303's bitmap as a Python int, bit k standing for highest - k."""

    def __init__(self, size):
        self.size, self.highest, self.bitmap = size, None, 0

    def slide(self, seq):
        shift = self.size if self.highest is None else seq - self.highest
        self.bitmap = ((self.bitmap << shift) | 1) & self.mask()
        self.highest = seq

    def mask(self):
        return (1 << self.size) - 1

    def accept(self, seq):
        if self.highest is None or seq > self.highest:
            self.slide(seq)
            return True
        behind = self.highest - seq
        if behind >= self.size or self.bitmap >> behind & 1:
            return False
        self.bitmap |= 1 << behind
        return True


class BitmapSlidesByOne(BitmapWindow):
    """Moves the bitmap one place whatever the jump: old numbers keep the wrong bits."""

    def slide(self, seq):
        self.bitmap = ((self.bitmap << 1) | 1) & self.mask()
        self.highest = seq


class BitmapMaskOneShort(BitmapWindow):
    """Masks to size - 1 bits: the oldest number in the window forgets it was seen."""

    def mask(self):
        return (1 << (self.size - 1)) - 1


# --- Task 3: verify a token -------------------------------------------------------------------


def whole_seconds(value):
    return type(value) is int


def _token_checks(
    token,
    keys,
    audience,
    *,
    alg_none_ok=False,
    compare=None,
    is_time=whole_seconds,
    tag_first=False,
):
    """Every check but the times, in order; the keywords make the mutants."""
    compare = compare or hmac.compare_digest  # looked up at the call, where the check spies
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken("three parts")
    header, claims, tag = decode_part(parts[0]), decode_part(parts[1]), unb64url(parts[2])
    if not (isinstance(header.get("alg"), str) and isinstance(header.get("kid"), str)):
        raise MalformedToken("header")
    if not isinstance(claims.get("sub"), str) or not all(
        is_time(claims.get(name)) for name in ("nbf", "exp")
    ):
        raise MalformedToken("claims")
    if alg_none_ok and header["alg"] == "none":
        return claims
    if header["alg"] != "HS256" and not tag_first:
        raise UnsupportedAlgorithm(header["alg"])
    if header["kid"] not in keys:
        raise UnknownKeyId(header["kid"])
    signed = f"{parts[0]}.{parts[1]}".encode()
    if not compare(hmac.new(keys[header["kid"]], signed, hashlib.sha256).digest(), tag):
        raise BadSignature("tag")
    if header["alg"] != "HS256":
        raise UnsupportedAlgorithm(header["alg"])
    if claims.get("aud") != audience:
        raise WrongAudience(audience)
    return claims


def _times(claims, now, leeway):
    if now < claims["nbf"] - leeway:
        raise TokenNotYetValid(claims["nbf"])
    if now >= claims["exp"] + leeway:
        raise TokenExpired(claims["exp"])
    return claims


def token_skew_wrong_sign(token, keys, *, audience, now, leeway):
    """Subtracts the leeway from the expiry and adds it to not-before: stricter, not kinder."""
    claims = _token_checks(token, keys, audience)
    if now < claims["nbf"] + leeway:
        raise TokenNotYetValid(claims["nbf"])
    if now >= claims["exp"] - leeway:
        raise TokenExpired(claims["exp"])
    return claims


def token_accepts_alg_none(token, keys, *, audience, now, leeway):
    """Takes alg 'none' at its word and skips the tag."""
    return _times(_token_checks(token, keys, audience, alg_none_ok=True), now, leeway)


def token_compared_with_eq(token, keys, *, audience, now, leeway):
    """Checks everything, but the tag with ==."""
    claims = _token_checks(token, keys, audience, compare=lambda a, b: a == b)
    return _times(claims, now, leeway)


def token_audience_only_if_present(token, keys, *, audience, now, leeway):
    """A token without aud passes as if it were meant for everyone."""
    try:
        claims = _token_checks(token, keys, audience)
    except WrongAudience:
        claims = decode_part(token.split(".")[1])
        if "aud" in claims:
            raise
    return _times(claims, now, leeway)


def token_expiry_off_by_one(token, keys, *, audience, now, leeway):
    """Still accepts the token at exp + leeway exactly."""
    claims = _token_checks(token, keys, audience)
    if now < claims["nbf"] - leeway:
        raise TokenNotYetValid(claims["nbf"])
    if now > claims["exp"] + leeway:
        raise TokenExpired(claims["exp"])
    return claims


def token_tag_before_algorithm(token, keys, *, audience, now, leeway):
    """Checks the key and the tag before the algorithm: alg 'none' reports a bad signature."""
    return _times(_token_checks(token, keys, audience, tag_first=True), now, leeway)


def token_bool_as_time(token, keys, *, audience, now, leeway):
    """Checks times with isinstance(value, int), which True passes."""
    claims = _token_checks(token, keys, audience, is_time=lambda value: isinstance(value, int))
    return _times(claims, now, leeway)


def token_with_table(token, keys, *, audience, now, leeway):
    """Right: the checks as a table of (fails?, error) run in order."""
    claims = _token_checks(token, keys, audience)
    for fails, error in (
        (lambda: now + leeway < claims["nbf"], TokenNotYetValid),
        (lambda: now - leeway >= claims["exp"], TokenExpired),
    ):
        if fails():
            raise error(f"now={now}")
    return claims


# --- Task 4: SecureLink -----------------------------------------------------------------------


def _parse(data):
    try:
        header, body, mac = loads(data)
        sender, seq = header["sender"], header["seq"]
    except Exception:
        raise MalformedEnvelope("not a message") from None
    if set(header) != {"sender", "seq"} or not isinstance(mac, bytes):
        raise MalformedEnvelope("not a message")
    return sender, seq, body, mac


class Link:
    """The right link, for the mutants to change one part of."""

    def __init__(self, key, window=64):
        self.key, self.window, self.windows = key, window, {}

    def covered(self, sender, seq, body):
        return [sender, seq, body]

    def mac(self, sender, seq, body):
        data = dumps(self.covered(sender, seq, body), canonical=True)
        return hmac.new(self.key, data, hashlib.sha256).digest()

    def seal(self, sender, seq, body):
        return dumps([{"sender": sender, "seq": seq}, body, self.mac(sender, seq, body)])

    def check(self, sender, seq, body, mac):
        return hmac.compare_digest(self.mac(sender, seq, body), mac)

    def open(self, data):
        sender, seq, body, mac = _parse(data)
        if not self.check(sender, seq, body, mac):
            raise EnvelopeRefused("bad MAC")
        if self.windows.setdefault(sender, SequenceWindow(self.window)).accept(seq).name != "NEW":
            raise EnvelopeRefused("replay")
        return sender, seq, body


class LinkMacOverBodyOnly(Link):
    """The flaw left in: the header is not covered."""

    def covered(self, sender, seq, body):
        return body


class LinkMacWithoutSender(Link):
    """Covers the sequence number and the body, not the sender."""

    def covered(self, sender, seq, body):
        return [seq, body]


class LinkMacWithoutSequence(Link):
    """Covers the sender and the body, not the sequence number."""

    def covered(self, sender, seq, body):
        return [sender, body]


class LinkRecordsBeforeVerifying(Link):
    """Slides the window before the MAC is checked: a forgery pushes real messages out."""

    def open(self, data):
        sender, seq, body, mac = _parse(data)
        fresh = self.windows.setdefault(sender, SequenceWindow(self.window)).accept(seq)
        if not self.check(sender, seq, body, mac):
            raise EnvelopeRefused("bad MAC")
        if fresh.name != "NEW":
            raise EnvelopeRefused("replay")
        return sender, seq, body


class LinkWithoutWindow(Link):
    """Covers everything, but forgets the replay window."""

    def open(self, data):
        sender, seq, body, mac = _parse(data)
        if not self.check(sender, seq, body, mac):
            raise EnvelopeRefused("bad MAC")
        return sender, seq, body


class LinkAcceptsShortTags(Link):
    """Compares only as many bytes as the tag has."""

    def check(self, sender, seq, body, mac):
        return hmac.compare_digest(self.mac(sender, seq, body)[: len(mac)], mac)


class LinkRaisesKeyError(Link):
    """Reads the message without checking its shape: garbage raises KeyError, not a refusal."""

    def open(self, data):
        header, body, mac = loads(data)
        sender, seq = header["sender"], header["seq"]
        if not self.check(sender, seq, body, mac):
            raise EnvelopeRefused("bad MAC")
        return super().open(data)


class LinkReturnsNoneWhenRefusing(Link):
    """Returns None for a message it refuses, which a caller may take for an empty body."""

    def open(self, data):
        try:
            return super().open(data)
        except EnvelopeRefused:
            return None


class LinkOverWireHeader(Link):
    """Right: the MAC covers the header map itself, with a label."""

    def mac(self, sender, seq, body):
        data = dumps(["link", {"seq": seq, "sender": sender}, body], canonical=True)
        return hmac.new(self.key, data, hashlib.sha256).digest()


class LinkOverBytesLayout(Link):
    """Right: the length-prefixed sender, seq in 8 bytes, then the body's CBOR."""

    def mac(self, sender, seq, body):
        name = sender.encode()
        data = len(name).to_bytes(4, "big") + name + seq.to_bytes(8, "big")
        return hmac.digest(self.key, data + dumps(body, canonical=True), "sha256")


MUTANTS = {
    "check_verify_mac": [
        mac_compared_with_eq,
        mac_compared_byte_by_byte,
        mac_compared_as_hex,
        mac_over_body_only,
        mac_without_length,
        mac_with_sha1,
        mac_accepts_truncated,
        mac_ignores_extra_bytes,
        mac_as_plain_hash,
    ],
    "check_replay_window": [
        EdgeOneTooOld,
        EdgeOneTooYoung,
        AcceptsDuplicates,
        RefusesBelowHighest,
        ForgetsToSlide,
        SizeAlways64,
        NeverForgets,
        BitmapSlidesByOne,
        BitmapMaskOneShort,
    ],
    "check_verify_token": [
        token_skew_wrong_sign,
        token_accepts_alg_none,
        token_compared_with_eq,
        token_audience_only_if_present,
        token_expiry_off_by_one,
        token_tag_before_algorithm,
        token_bool_as_time,
    ],
    "check_secure_link": [
        LinkMacOverBodyOnly,
        LinkMacWithoutSender,
        LinkMacWithoutSequence,
        LinkRecordsBeforeVerifying,
        LinkWithoutWindow,
        LinkAcceptsShortTags,
        LinkRaisesKeyError,
        LinkReturnsNoneWhenRefusing,
    ],
}

ALTERNATIVES = {
    "check_verify_mac": [mac_with_imported_compare, mac_updated_piecewise],
    "check_replay_window": [Window, WindowAsDeque, BitmapWindow],
    "check_verify_token": [token_with_table],
    "check_secure_link": [Link, LinkOverWireHeader, LinkOverBytesLayout],
}
