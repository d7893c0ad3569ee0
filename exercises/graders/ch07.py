"""Graders for exercises/07-security.ipynb: a MAC checked in constant time, a replay window,
a token verifier, and a flawed protocol to fix.

- `verify` (Task 1) on honest envelopes (several keys, empty parts, a header and a body whose
  boundary moves) and on every change an attacker could make: a flipped bit in the header,
  the body or the tag, a truncated, extended or empty tag, another key. Whether the tag is
  compared in constant time is checked by watching, not by timing: the tag is handed over as
  a `bytes` subclass that records any `==` or `!=` on it, and `hmac.compare_digest` (and the
  same function under `secrets` and in the answer's own names) is replaced, for the call, by
  a spy that records its calls and returns what the real one does.
- `ReplayWindow` (Task 2) against the reference `SequenceWindow`, on both edges of windows of
  several sizes, then on random runs of fresh, late, duplicated and far-jumping numbers;
  and the memory it holds after 20,000 numbers, which must not grow with them.
- `verify` (Task 3) for the token format of the notebook (defined here: `make_token`), on one
  token per rejection reason, both edges of not-before and expiry with several leeways, the
  order of the checks when a token has two faults, then random tokens against the oracle
  `expected_verdict`.
- `SecureLink` (Task 4) on honest traffic between several senders, then under attack:
  a changed body, sender or sequence number, an exact replay, swapped headers, a truncated or
  forged tag, garbage, random tamperings, each refused with `EnvelopeRefused`; and after a
  forgery with a high sequence number, an honest message must still open.
"""

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import random
import secrets

from exercises.grading import grader, retained_bytes
from reference.security.envelopes import EnvelopeRefused
from reference.security.replay import SequenceWindow, Verdict
from reference.security.tokens import (
    BadSignature,
    InvalidToken,
    MalformedToken,
    TokenExpired,
    TokenNotYetValid,
    UnknownKeyId,
    UnsupportedAlgorithm,
    WrongAudience,
)
from reference.wire.cbor import dumps, loads

# --- Task 1: verify a MAC in constant time ----------------------------------------------------


def mac_input(header, body):
    """What the Task 1 MAC covers: the header's length (4 bytes, big-endian), header, body."""
    return len(header).to_bytes(4, "big") + header + body


def make_tag(key, header, body, digest=hashlib.sha256):
    return hmac.new(key, mac_input(header, body), digest).digest()


class WatchedTag(bytes):
    """A tag that notes any == or != on it (a compare that stops at the first difference)."""

    compared_with_eq = False

    def __eq__(self, other):
        WatchedTag.compared_with_eq = True
        return bytes.__eq__(self, other)

    def __ne__(self, other):
        WatchedTag.compared_with_eq = True
        return bytes.__ne__(self, other)

    __hash__ = bytes.__hash__


@contextlib.contextmanager
def spying_on_compare_digest(answer):
    """Replace compare_digest where an answer can reach it; yield the list of its calls."""
    real = hmac.compare_digest
    calls = []

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    names = getattr(answer, "__globals__", {})
    aliases = [name for name, value in names.items() if value is real]
    hmac.compare_digest = secrets.compare_digest = spy
    for name in aliases:
        names[name] = spy
    try:
        yield calls
    finally:
        hmac.compare_digest = secrets.compare_digest = real
        for name in aliases:
            names[name] = real


def flip(data, index):
    changed = bytearray(data)
    changed[index % len(changed)] ^= 0x01
    return bytes(changed)


VERIFY_HINT = (
    "Recompute hmac.new(key, len(header).to_bytes(4, 'big') + header + body, hashlib.sha256)"
    ".digest() and compare it with the tag using hmac.compare_digest."
)


@grader("Task 1 · verify a MAC")
def check_verify_mac(cases, verify):
    rng = random.Random(7)
    honest = [
        (b"k" * 32, b'{"seq": 1}', b"hello"),
        (secrets.token_bytes(32), b"", b"a body with no header"),
        (b"another key of 32 bytes ........", b"header only", b""),
        (bytes(range(32)), bytes(200), bytes(range(256)) * 4),
    ]
    for key, header, body in honest:
        tag = make_tag(key, header, body)
        case = f"an honest envelope: header {header[:24]!r}, body of {len(body)} bytes"
        cases.equal(case, lambda k=key, h=header, b=body, t=tag: verify(k, h, b, t), True,
                    hint=VERIFY_HINT)  # fmt: skip
    key, header, body = b"k" * 32, b"sender=alice;seq=7", b"pay bob 10"
    tag = make_tag(key, header, body)
    attacks = [
        ("the header changed (seq 7 became seq 8)", key, b"sender=alice;seq=8", body, tag,
         "The MAC covers the header too: a changed header must not verify."),
        ("the body changed", key, header, b"pay bob 99", tag, ""),
        ("one bit of the header flipped", key, flip(header, 3), body, tag,
         "The MAC covers the header too: a changed header must not verify."),
        ("one bit of the body flipped", key, header, flip(body, 5), tag, ""),
        ("one bit of the tag flipped (its last byte)", key, header, body, flip(tag, 31), ""),
        ("the boundary moved: a byte of the header given as the body's", key, header[:-1],
         header[-1:] + body, tag, "Put len(header) in front, so the boundary is covered."),
        ("the tag cut to its first 16 bytes", key, header, body, tag[:16],
         "A truncated tag must not verify: compare the whole tag, lengths included."),
        ("the tag cut to 1 byte", key, header, body, tag[:1],
         "A truncated tag must not verify: compare the whole tag, lengths included."),
        ("an empty tag", key, header, body, b"",
         "A truncated tag must not verify: compare the whole tag, lengths included."),
        ("the tag with one byte appended", key, header, body, tag + b"\0",
         "A tag longer than 32 bytes is not the tag."),
        ("signed under another key", b"K" * 32, header, body, tag, ""),
        ("an HMAC-SHA1 tag", key, header, body, make_tag(key, header, body, hashlib.sha1),
         "The tag is HMAC-SHA256."),
    ]  # fmt: skip
    for case, k, h, b, t, hint in attacks:
        cases.equal(f"{case}: refused", lambda k=k, h=h, b=b, t=t: verify(k, h, b, t), False,
                    hint=hint or VERIFY_HINT)  # fmt: skip
    for run in range(40):
        key = rng.randbytes(rng.choice([16, 32, 64]))
        header, body = rng.randbytes(rng.randrange(40)), rng.randbytes(rng.randrange(300))
        tag = make_tag(key, header, body)
        cases.equal(f"random honest envelope {run}", lambda k=key, h=header, b=body, t=tag:
                    verify(k, h, b, t), True, hint=VERIFY_HINT)  # fmt: skip
    for valid in (True, False):
        tag = make_tag(key, header, body)
        watched = WatchedTag(tag if valid else flip(tag, 0))
        WatchedTag.compared_with_eq = False
        with spying_on_compare_digest(verify) as calls:
            cases.equal(
                f"a {'valid' if valid else 'forged'} tag, watching how it is compared",
                lambda t=watched: verify(key, header, body, t),
                valid,
            )
        cases.true(
            "the tag is never compared with == or !=",
            not WatchedTag.compared_with_eq,
            "the tag was compared with == (or !=), which stops at the first differing byte",
            hint="== leaks how many leading bytes are right; use hmac.compare_digest.",
        )
        cases.true(
            "the tag is compared with hmac.compare_digest",
            bool(calls),
            "hmac.compare_digest was never called",
            hint="Compare the tag with hmac.compare_digest(expected, tag), in constant time.",
        )


# --- Task 2: a replay window ------------------------------------------------------------------


def reference_run(size, numbers):
    window = SequenceWindow(size)
    return [window.accept(number) is Verdict.NEW for number in numbers]


def replay_hint(size, numbers, got):
    expected = reference_run(size, numbers)
    for index, (want, have) in enumerate(zip(expected, got, strict=False)):
        if want != have:
            number, seen = numbers[index], numbers[:index]
            highest = max(seen) if seen else None
            if highest is not None and number <= highest - size:
                return f"{number} is {highest - number} below the highest ({highest}): too old."
            if number in seen and want is False:
                return f"{number} was accepted before: a duplicate is refused."
            if highest is not None and number > highest - size and want:
                return (
                    f"{number} is inside the window (the highest is {highest}, the window "
                    f"holds {highest - size + 1}..{highest}) and new: accept it."
                )
            return "Compare with RFC 4303's window: above the highest slides the window up."
    return ""


REPLAY_SCRIPTS = [  # (size, numbers, what it tries)
    (4, [1, 2, 3, 4, 5], "in order"),
    (4, [5, 5], "a duplicate of the highest"),
    (4, [5, 3, 3], "a duplicate inside the window"),
    (4, [10, 7], "the oldest number the window still holds (highest - size + 1)"),
    (4, [10, 6], "just past the window's edge (highest - size)"),
    (4, [10, 6, 7, 7, 8, 9, 10, 11, 7], "both edges, then a slide that pushes 7 out"),
    (1, [3, 3, 2, 4, 3], "a window of one"),
    (8, [0, 20, 13, 12, 19, 13, 21, 13], "a jump past the window, then late arrivals"),
    (5, [9, 8, 7, 6, 5, 4, 10, 6, 5], "late numbers counted down, then a slide"),
    (3, [1, 2, 3, 10, 9, 8, 7, 2], "after a jump, the old bits are gone"),
    (64, [100, 37, 36, 99, 37], "the default size: both edges of 64"),
    (32, [0, 1, 0, 40, 9, 8], "numbers from 0, a slide of 40 with size 32"),
]


@grader("Task 2 · ReplayWindow")
def check_replay_window(cases, ReplayWindow):
    scripts = list(REPLAY_SCRIPTS)
    rng = random.Random(4303)
    for _ in range(150):
        size = rng.choice([1, 2, 3, 4, 8, 16, 64])
        numbers, highest = [], rng.randrange(100)
        for _ in range(rng.randint(3, 40)):
            pick = rng.random()
            if pick < 0.3:
                highest += rng.randint(1, 3)
                numbers.append(highest)
            elif pick < 0.4:
                highest += rng.randint(size, size + 5)
                numbers.append(highest)
            elif numbers and pick < 0.6:
                numbers.append(rng.choice(numbers))
            else:
                numbers.append(max(0, highest - rng.randint(0, size + 1)))
        scripts.append((size, numbers, "random arrivals"))
    for size, numbers, what in scripts:
        case = f"ReplayWindow({size}), accept each of {numbers} ({what})"

        def run(size=size, numbers=numbers):
            window = ReplayWindow(size)
            return [window.accept(number) for number in numbers]

        got = cases.call(case, run)
        expected = reference_run(size, numbers)
        cases.same(case, got, expected, hint=replay_hint(size, numbers, got))
    window = cases.call("ReplayWindow(64) after 20,000 numbers", lambda: ReplayWindow(64))
    cases.call(
        "ReplayWindow(64) after 20,000 numbers",
        lambda: [window.accept(number) for number in range(20_000)],
    )
    held = retained_bytes(window)
    cases.true(
        "ReplayWindow(64) after 20,000 numbers holds memory for about 64",
        held <= 32_000,
        f"the window holds {held:,} bytes: it grows with every number accepted",
        hint="Keep only the highest and what is within `size` of it (a bitmap, or a pruned set).",
    )


# --- Task 3: verify a token -------------------------------------------------------------------


def b64url(data):
    """Base64url without padding, as the notebook's tokens use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text):
    """The bytes of a base64url part, or MalformedToken."""
    if not isinstance(text, str) or not text.isascii() or len(text) % 4 == 1:
        raise MalformedToken("not base64url")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error:
        raise MalformedToken("not base64url") from None


def decode_part(text):
    """The JSON object of a token part, or MalformedToken."""
    try:
        value = json.loads(unb64url(text))
    except ValueError:  # not UTF-8, or not JSON
        raise MalformedToken("not JSON") from None
    if not isinstance(value, dict):
        raise MalformedToken("not a JSON object")
    return value


def make_token(header, claims, secret):
    """A token of the notebook's format: <header>.<claims>.<tag>, checking nothing."""
    signed = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return signed + "." + b64url(hmac.new(secret, signed.encode(), hashlib.sha256).digest())


def whole_seconds(value):
    return isinstance(value, int) and not isinstance(value, bool)


def expected_verdict(token, keys, audience, now, leeway):
    """The oracle: the claims, or the InvalidToken class that refuses the token."""
    try:
        parts = token.split(".")
        if len(parts) != 3:
            raise MalformedToken("three parts")
        header, claims, tag = decode_part(parts[0]), decode_part(parts[1]), unb64url(parts[2])
        if not isinstance(header.get("alg"), str) or not isinstance(header.get("kid"), str):
            raise MalformedToken("header")
        if not isinstance(claims.get("sub"), str) or not all(
            whole_seconds(claims.get(name)) for name in ("nbf", "exp")
        ):
            raise MalformedToken("claims")
        if header["alg"] != "HS256":
            raise UnsupportedAlgorithm(header["alg"])
        if header["kid"] not in keys:
            raise UnknownKeyId(header["kid"])
        signed = f"{parts[0]}.{parts[1]}".encode()
        good = hmac.new(keys[header["kid"]], signed, hashlib.sha256).digest()
        if not hmac.compare_digest(good, tag):
            raise BadSignature("tag")
        if claims.get("aud") != audience:
            raise WrongAudience(audience)
        if now < claims["nbf"] - leeway:
            raise TokenNotYetValid(claims["nbf"])
        if now >= claims["exp"] + leeway:
            raise TokenExpired(claims["exp"])
    except InvalidToken as refusal:
        return type(refusal)
    return claims


KEYS = {"k1": b"1" * 32, "k2": b"2" * 32}
NOW = 1_700_000_000
GOOD_HEADER = {"alg": "HS256", "kid": "k1"}
GOOD_CLAIMS = {"sub": "alice", "aud": "orders", "nbf": NOW - 60, "exp": NOW + 300}

TOKEN_HINTS = {
    MalformedToken: "Three parts, each base64url; alg and kid strings; sub a string, nbf and "
    "exp whole seconds (int, not bool). decode_part and unb64url raise MalformedToken for you.",
    UnsupportedAlgorithm: "Only alg 'HS256' is accepted: 'none' (or anything else) is "
    "UnsupportedAlgorithm, checked before the key and the tag.",
    UnknownKeyId: "A kid that is not in `keys` is UnknownKeyId, before the tag is checked.",
    BadSignature: "Recompute the HMAC-SHA256 of '<header>.<claims>' with keys[kid] and compare "
    "it with the tag using hmac.compare_digest.",
    WrongAudience: "The aud claim must equal `audience`; a token without aud is not for you "
    "either (WrongAudience).",
    TokenNotYetValid: "Refuse while now < nbf - leeway: the leeway lets a token in a little early.",
    TokenExpired: "Refuse once now >= exp + leeway: at exp + leeway exactly it has expired.",
}


def token_cases():
    """(what, token, audience, now, leeway) for each rejection reason and both edges."""
    sign = make_token
    h, c, key = GOOD_HEADER, GOOD_CLAIMS, KEYS["k1"]
    good = sign(h, c, key)
    head, body, tag = good.split(".")
    root_claims = sign(h, {**c, "sub": "root"}, key).split(".")[1]
    edges = []
    for leeway in (0, 5, 30):
        for moment, label in (
            (c["nbf"] - leeway, "not-before minus the leeway"),
            (c["nbf"] - leeway - 1, "a second before not-before minus the leeway"),
            (c["nbf"] - leeway - 0.5, "half a second before not-before minus the leeway"),
            (c["exp"] + leeway - 1, "a second before expiry plus the leeway"),
            (c["exp"] + leeway - 0.25, "a quarter second before expiry plus the leeway"),
            (c["exp"] + leeway, "expiry plus the leeway exactly"),
            (c["exp"] + leeway + 1, "a second after expiry plus the leeway"),
        ):
            edges.append((f"now at {label} (leeway {leeway})", good, "orders", moment, leeway))
    return [
        ("a good token", good, "orders", NOW, 0),
        ("a good token signed with the second key", sign({**h, "kid": "k2"}, c, KEYS["k2"]),
         "orders", NOW, 0),
        ("alg 'none' and no tag", f"{sign({**h, 'alg': 'none'}, c, key).rsplit('.', 1)[0]}.",
         "orders", NOW, 0),
        ("alg 'none' with a good tag", sign({**h, "alg": "none"}, c, key), "orders", NOW, 0),
        ("alg 'none' and an unknown kid", sign({"alg": "none", "kid": "k9"}, c, key), "orders",
         NOW, 0),
        ("alg 'HS512'", sign({**h, "alg": "HS512"}, c, key), "orders", NOW, 0),
        ("alg 'hs256' (lower case)", sign({**h, "alg": "hs256"}, c, key), "orders", NOW, 0),
        ("an unknown kid 'k9'", sign({**h, "kid": "k9"}, c, key), "orders", NOW, 0),
        ("an unknown kid and a bad tag", sign({**h, "kid": "k9"}, c, b"x" * 32), "orders", NOW,
         0),
        ("signed with another secret", sign(h, c, b"x" * 32), "orders", NOW, 0),
        ("kid k2 but signed with k1's secret", sign({**h, "kid": "k2"}, c, key), "orders", NOW,
         0),
        ("the claims swapped for another token's", f"{head}.{root_claims}.{tag}", "orders", NOW,
         0),
        ("the tag cut to 16 bytes", f"{head}.{body}.{b64url(unb64url(tag)[:16])}", "orders", NOW,
         0),
        ("an empty tag", f"{head}.{body}.", "orders", NOW, 0),
        ("meant for another audience", sign(h, {**c, "aud": "billing"}, key), "orders", NOW, 0),
        ("without an audience", sign(h, {k: v for k, v in c.items() if k != "aud"}, key),
         "orders", NOW, 0),
        ("an audience list (not this format)", sign(h, {**c, "aud": ["orders"]}, key), "orders",
         NOW, 0),
        ("the audience 'orders' asked by 'billing'", good, "billing", NOW, 0),
        ("two parts", f"{head}.{body}", "orders", NOW, 0),
        ("four parts", f"{good}.{tag}", "orders", NOW, 0),
        ("not base64url", f"{head}.{body}.!!!", "orders", NOW, 0),
        ("a header that is not JSON", f"{b64url(b'alg')}.{body}.{tag}", "orders", NOW, 0),
        ("a header that is a JSON list", f"{b64url(b'[1]')}.{body}.{tag}", "orders", NOW, 0),
        ("a header without kid", sign({"alg": "HS256"}, c, key), "orders", NOW, 0),
        ("exp as text", sign(h, {**c, "exp": str(c["exp"])}, key), "orders", NOW, 0),
        ("nbf as true", sign(h, {**c, "nbf": True}, key), "orders", NOW, 0),
        ("no sub", sign(h, {k: v for k, v in c.items() if k != "sub"}, key), "orders", NOW, 0),
        ("an empty string", "", "orders", NOW, 0),
        ("expired and meant for another audience", sign(h, {**c, "aud": "x", "exp": NOW - 1},
         key), "orders", NOW, 0),
        *edges,
    ]  # fmt: skip


def random_token(rng):
    header, claims = dict(GOOD_HEADER), dict(GOOD_CLAIMS)
    secret = KEYS["k1"]
    for _ in range(rng.choice([0, 1, 1, 2])):
        fault = rng.randrange(6)
        if fault == 0:
            header["alg"] = rng.choice(["none", "HS384", "RS256", "HS256"])
        elif fault == 1:
            header["kid"] = rng.choice(["k1", "k2", "k3", ""])
        elif fault == 2:
            secret = rng.choice([*KEYS.values(), b"z" * 32])
        elif fault == 3:
            claims["aud"] = rng.choice(["orders", "billing", ""])
        elif fault == 4:
            claims["nbf"] = NOW + rng.randint(-20, 20)
        else:
            claims["exp"] = NOW + rng.randint(-20, 20)
    now = NOW + rng.choice([0, 0.5, -0.5, rng.randint(-25, 25)])
    return make_token(header, claims, secret), now, rng.choice([0, 1, 5, 10])


def run_verify(verify, token, audience, now, leeway):
    """The claims, or the InvalidToken class the answer raised."""
    try:
        return verify(token, dict(KEYS), audience=audience, now=now, leeway=leeway)
    except InvalidToken as refusal:
        for reason in TOKEN_HINTS:
            if isinstance(refusal, reason):
                return reason
        return type(refusal)


def readable(token):
    """What a token says, for the verdict: its header and claims if they decode."""
    parts = token.split(".")
    try:
        return f" (header {decode_part(parts[0])}, claims {decode_part(parts[1])})"
    except (InvalidToken, IndexError):
        return ""


def shown(verdict):
    return verdict.__name__ if isinstance(verdict, type) else "the claims"


@grader("Task 3 · verify a token")
def check_verify_token(cases, verify):
    rng = random.Random(8725)
    tried = token_cases()
    for run in range(200):
        token, now, leeway = random_token(rng)
        tried.append((f"random token {run}", token, "orders", now, leeway))
    for what, token, audience, now, leeway in tried:
        case = f"{what}: verify({token!r}, keys, audience={audience!r}, now={now}, leeway={leeway})"
        case += readable(token)
        expected = expected_verdict(token, KEYS, audience, now, leeway)
        refusal_hint = TOKEN_HINTS.get(expected, "") if isinstance(expected, type) else ""
        got = cases.call(case, lambda t=token, a=audience, n=now, w=leeway:
                         run_verify(verify, t, a, n, w), hint=refusal_hint)  # fmt: skip
        if refusal_hint:
            hint = refusal_hint
        else:
            refused = isinstance(got, type) and got in TOKEN_HINTS
            hint = TOKEN_HINTS[got] if refused else "A good token returns its claims (the dict)."

        cases.same(case, shown(got), shown(expected), hint=hint)
        if not isinstance(expected, type):
            cases.same(case + ", the claims returned", got, expected)
    for token, kind in ((make_token(GOOD_HEADER, GOOD_CLAIMS, b"y" * 32), "a forged"),
                        (make_token(GOOD_HEADER, GOOD_CLAIMS, KEYS["k1"]), "a good")):  # fmt: skip
        with spying_on_compare_digest(verify) as calls:
            cases.call(f"{kind} token, watching how its tag is compared",
                       lambda t=token: run_verify(verify, t, "orders", NOW, 0))  # fmt: skip
        cases.true(
            f"{kind} token's tag is compared with hmac.compare_digest",
            bool(calls),
            "hmac.compare_digest was never called",
            hint="== stops at the first wrong byte, and that leaks; use hmac.compare_digest.",
        )


# --- Task 4: find and fix the flaw ------------------------------------------------------------


def attacked(message, change):
    """The envelope `message` with `change(header, body, mac)` applied, encoded again."""
    header, body, mac = loads(message)
    return dumps(list(change(dict(header), body, mac)), canonical=True)


REFUSED = "refused with EnvelopeRefused"


def open_refused(link, data):
    """REFUSED if `link.open(data)` raised EnvelopeRefused, else what it returned."""
    try:
        return link.open(data)
    except EnvelopeRefused:
        return REFUSED


LINK_HINT = (
    "The MAC must cover the header (sender and seq) as well as the body, in seal and in open, "
    "and the replay window must see only sequence numbers that the MAC vouched for."
)


@grader("Task 4 · SecureLink")
def check_secure_link(cases, SecureLink):
    key = b"shared secret of thirty-two byte"
    sender_link = SecureLink(key)
    traffic = [("alice", seq, {"pay": "bob", "amount": seq}) for seq in range(1, 6)]
    traffic += [("carol", 1, "hello"), ("alice", 8, b"late"), ("alice", 7, []), ("carol", 2, "")]
    sealed = [
        cases.call(f"seal({s!r}, {n}, {b!r})", lambda s=s, n=n, b=b: sender_link.seal(s, n, b))
        for s, n, b in traffic
    ]
    receiver = SecureLink(key)
    for (s, n, b), message in zip(traffic, sealed, strict=True):
        cases.equal(f"an honest message from {s} #{n} opens", lambda m=message: receiver.open(m),
                    [s, n, b], hint="An honest message opens as (sender, seq, body).")  # fmt: skip
    alice5 = sealed[4]
    fresh = SecureLink(key)
    attacks = [
        ("the same message again (an exact replay)", receiver, alice5),
        ("alice #5 with its seq changed to 6 (a replay under a new number)", receiver,
         attacked(alice5, lambda h, b, m: ({**h, "seq": 6}, b, m))),
        ("alice #5 relabelled as from dave", receiver,
         attacked(alice5, lambda h, b, m: ({**h, "sender": "dave"}, b, m))),
        ("alice #1's body changed", fresh,
         attacked(sealed[0], lambda h, b, m: (h, {"pay": "eve", "amount": 1000}, m))),
        ("alice #1 with carol #1's header", fresh,
         attacked(sealed[0], lambda h, b, m: (loads(sealed[5])[0], b, m))),
        ("alice #1 with its tag cut to 16 bytes", fresh,
         attacked(sealed[0], lambda h, b, m: (h, b, m[:16]))),
        ("alice #1 with an empty tag", fresh, attacked(sealed[0], lambda h, b, m: (h, b, b""))),
        ("a message sealed with another key", fresh,
         SecureLink(b"x" * 32).seal("alice", 100, "forged")),
        ("garbage bytes", fresh, b"\xff\x00garbage"),
        ("an array of two items", fresh, dumps([1, 2])),
        ("a header without seq", fresh,
         attacked(sealed[0], lambda h, b, m: ({"sender": "alice"}, b, m))),
    ]  # fmt: skip
    for what, link, data in attacks:
        cases.equal(f"{what}: refused with EnvelopeRefused", lambda k=link, d=data:
                    open_refused(k, d), REFUSED, hint=LINK_HINT)  # fmt: skip
    cases.equal(
        "after a forged message with seq 100 was refused, alice #1 still opens",
        lambda: open_refused(fresh, sealed[0]),
        ["alice", 1, {"pay": "bob", "amount": 1}],
        hint="Record a sequence number in the window only after its MAC verified: a forgery "
        "must not slide the window.",
    )
    rng = random.Random(9052)
    for run in range(30):
        message = rng.choice(sealed)
        header, body, mac = loads(message)
        field = rng.choice(["sender", "seq", "mac", "body"])
        if field == "sender":
            header = {**header, "sender": header["sender"] + rng.choice(["x", "!", " "])}
        elif field == "seq":
            header = {**header, "seq": header["seq"] + rng.randint(1, 50)}
        elif field == "mac":
            mac = flip(mac, rng.randrange(len(mac)))
        else:
            body = [body]
        data = dumps([header, body, mac], canonical=True)
        cases.equal(f"random tampering {run} ({field} changed): refused",
                    lambda d=data: open_refused(SecureLink(key), d), REFUSED,
                    hint=LINK_HINT)  # fmt: skip
