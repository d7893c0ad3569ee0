"""Bearer tokens: who a client is and what it may do, signed with HMAC-SHA256 and rotating keys.

Theory of operation
-------------------
A bearer token is a claim ("subject alice may publish on orders.>")
that an issuer signed, so that a service which trusts the issuer's key
can check it without asking anyone: whoever *bears* the token gets what
it says, until it expires. A token looks like this::

    v1.<header>.<claims>.<tag>

Each part after the version is base64url without padding. The header is
the canonical CBOR (`reference/wire/cbor.py`, ``canonical=True``) of
``{"alg": "HS256", "kid": <key id>}``; the claims are the canonical CBOR
of ``{"iss", "sub", "aud", "nbf", "exp", "scopes"}`` (issuer, subject,
audience, not-before and expiry in whole seconds of the verifier's
clock, and the permissions, e.g. ``{"pub": ["orders.>"], "sub":
["orders.eu.*"]}``). The tag is HMAC-SHA256 over the ASCII text
``v1.<header>.<claims>`` with the secret that the key id names.

`verify_token` checks, in this order, and raises its own subclass of
`InvalidToken` at the first failure:

1. the shape: at most `MAX_TOKEN_CHARS`, four parts, version ``v1``,
   strict base64url, a header that `loads_untrusted` accepts
   (`MalformedToken`);
2. the algorithm: exactly ``"HS256"`` — ``"none"`` or anything else is
   `UnsupportedAlgorithm`, never a hint to verify some other way;
3. the key id: a key in the `KeySet` (`UnknownKeyId`; a retired key is
   unknown);
4. the tag, compared in constant time with `hmac.compare_digest`
   (`BadSignature`); only after this are the claims decoded at all;
5. the claims: their schema (`MalformedToken`), the issuer
   (`WrongIssuer`), the audience (`WrongAudience`), not-before
   (`TokenNotYetValid`) and expiry (`TokenExpired`).

Time comes in as ``now=``: `verify_token` never reads a clock, so a test
(or the chapter) can stand exactly on an edge. A token is valid while
``nbf - leeway <= now < exp + leeway``; `leeway` forgives clocks that
disagree by a few seconds.

Key rotation: a `KeySet` holds several secrets by key id and signs with
one of them. To rotate, add a new key and sign with it; tokens signed
with the old key still verify until it is retired, which should be no
sooner than the longest lifetime of a token it signed.

Compared with JWT (RFC 7519, and RFC 8725 on its pitfalls): the shape is
JWS's compact form, but the header is not a menu. In JWT the token says
which algorithm to verify it with, which has let attackers send
``alg: none`` or an RSA public key used as an HMAC secret; here the
version fixes the one algorithm and the header only confirms it. CBOR
with a canonical encoding replaces JSON, so there is one encoding of a
given set of claims, and the decoder is the workbook's one policy for
untrusted bytes. Left out, on purpose: public-key signatures (every
verifier holding the HMAC secret could also mint tokens; a broker and
its issuer sharing one secret is the case here), a list of audiences,
encryption (the claims are readable by anyone who sees the token, so a
token travels inside TLS), claims beyond the six, and revocation before
expiry (keep lifetimes short, or retire the key).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from reference.wire.cbor import dumps
from reference.wire.untrusted import MalformedCBOR, loads_untrusted

VERSION = "v1"
ALGORITHM = "HS256"
MAX_TOKEN_CHARS = 4096
MIN_SECRET_BYTES = 32
CLAIM_NAMES = frozenset({"iss", "sub", "aud", "nbf", "exp", "scopes"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class InvalidToken(ValueError):
    """A token that must not be trusted; the subclass says why."""


class MalformedToken(InvalidToken):
    """Not a token of this format: too long, truncated, bad base64 or CBOR, a wrong schema."""


class UnsupportedAlgorithm(InvalidToken):
    """The header names an algorithm other than HS256 (``"none"`` included)."""


class UnknownKeyId(InvalidToken):
    """The header names a key this verifier does not hold (never had, or retired)."""


class BadSignature(InvalidToken):
    """The tag does not match: the token was altered, or signed with another secret."""


class WrongIssuer(InvalidToken):
    """Signed correctly, but by an issuer this verifier does not expect."""


class WrongAudience(InvalidToken):
    """Signed correctly, but meant for another service."""


class TokenNotYetValid(InvalidToken):
    """Its not-before time is still ahead (beyond the leeway)."""


class TokenExpired(InvalidToken):
    """Its expiry time has passed (beyond the leeway)."""


@dataclass(frozen=True)
class Claims:
    """What a token says. Times are whole seconds on the verifier's clock (e.g. Unix time)."""

    issuer: str
    subject: str
    audience: str
    not_before: int
    expires: int
    scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_cbor_map(self) -> dict:
        scopes = {name: list(patterns) for name, patterns in self.scopes.items()}
        return {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.audience,
            "nbf": self.not_before,
            "exp": self.expires,
            "scopes": scopes,
        }


@dataclass(frozen=True)
class VerifiedToken:
    """A token that passed every check: its claims, and the id of the key that signed it."""

    claims: Claims
    key_id: str


class KeySet:
    """HMAC secrets by key id, one of them used for signing; the others only verify."""

    def __init__(self) -> None:
        self._secrets: dict[str, bytes] = {}
        self._signing_key_id: str | None = None

    def add(self, key_id: str, secret: bytes, *, signing: bool = False) -> None:
        """Hold `secret` under `key_id`; with ``signing=True`` new tokens are signed with it."""
        if not isinstance(key_id, str) or not key_id:
            raise ValueError("a key id is a non-empty string")
        if key_id in self._secrets:
            raise ValueError(f"key id {key_id!r} is already in use")
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"an HMAC-SHA256 secret needs at least {MIN_SECRET_BYTES} bytes")
        self._secrets[key_id] = bytes(secret)
        if signing:
            self._signing_key_id = key_id

    def generate(self, key_id: str, *, signing: bool = False) -> None:
        """Add a fresh random secret (from `secrets`, the operating system's CSPRNG)."""
        self.add(key_id, secrets.token_bytes(MIN_SECRET_BYTES), signing=signing)

    def retire(self, key_id: str) -> None:
        """Forget `key_id`: tokens it signed are refused from now on (`UnknownKeyId`)."""
        if key_id == self._signing_key_id:
            raise ValueError(
                f"key {key_id!r} signs new tokens: sign with another before retiring it"
            )
        self._secrets.pop(key_id)

    @property
    def signing_key_id(self) -> str:
        if self._signing_key_id is None:
            raise LookupError("no key in this KeySet is marked for signing")
        return self._signing_key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    def secret(self, key_id: str) -> bytes:
        """The secret for `key_id`, or `UnknownKeyId`."""
        try:
            return self._secrets[key_id]
        except KeyError:
            raise UnknownKeyId(f"no key with id {key_id!r} (unknown or retired)") from None


def issue_token(keys: KeySet, claims: Claims) -> str:
    """Sign `claims` with the key set's signing key."""
    if claims.not_before > claims.expires:
        raise ValueError("not_before is after expires: the token would never be valid")
    key_id = keys.signing_key_id
    header = {"alg": ALGORITHM, "kid": key_id}
    return encode_token(header, claims.to_cbor_map(), keys.secret(key_id))


def encode_token(header: Mapping, claims: Mapping, secret: bytes) -> str:
    """Lay out and sign a token from raw maps, checking nothing (hostile tokens are built so)."""
    signed_text = ".".join(
        [
            VERSION,
            _b64(dumps(dict(header), canonical=True)),
            _b64(dumps(dict(claims), canonical=True)),
        ]
    )
    return f"{signed_text}.{_b64(_tag(secret, signed_text))}"


def verify_token(
    token: str,
    keys: KeySet,
    *,
    issuer: str,
    audience: str,
    now: float,
    leeway: float = 0,
) -> VerifiedToken:
    """Check `token` (the module docstring lists how) or raise the `InvalidToken` that says why."""
    signed_text, header_part, claims_part, tag_part = _split(token)
    key_id = _read_header(header_part)
    expected_tag = _tag(keys.secret(key_id), signed_text)
    if not hmac.compare_digest(expected_tag, _unb64(tag_part, "tag")):
        raise BadSignature("the tag does not match the token's contents")
    claims = _read_claims(claims_part)
    if claims.issuer != issuer:
        raise WrongIssuer(f"issued by {claims.issuer!r}, expected {issuer!r}")
    if claims.audience != audience:
        raise WrongAudience(f"meant for {claims.audience!r}, this is {audience!r}")
    if now < claims.not_before - leeway:
        raise TokenNotYetValid(f"valid from {claims.not_before} (leeway {leeway}s), now is {now}")
    if now >= claims.expires + leeway:
        raise TokenExpired(f"expired at {claims.expires} (leeway {leeway}s), now is {now}")
    return VerifiedToken(claims, key_id)


def _split(token: str) -> tuple[str, str, str, str]:
    if not isinstance(token, str):
        raise MalformedToken(f"a token is text, not {type(token).__name__}")
    if len(token) > MAX_TOKEN_CHARS:
        raise MalformedToken(f"{len(token)} characters exceeds the maximum of {MAX_TOKEN_CHARS}")
    if not token.isascii():
        raise MalformedToken("a token is ASCII text")
    parts = token.split(".")
    if len(parts) != 4:
        raise MalformedToken(f"a token has 4 parts separated by '.', this one has {len(parts)}")
    version, header_part, claims_part, tag_part = parts
    if version != VERSION:
        raise MalformedToken(
            f"unknown token version {version[:16]!r} (this verifier reads {VERSION})"
        )
    return f"{version}.{header_part}.{claims_part}", header_part, claims_part, tag_part


def _read_header(header_part: str) -> str:
    header = _decode_map(header_part, "header")
    if set(header) != {"alg", "kid"}:
        raise MalformedToken(f"the header holds exactly 'alg' and 'kid', not {list(header)}")
    algorithm, key_id = header["alg"], header["kid"]
    if algorithm != ALGORITHM:
        raise UnsupportedAlgorithm(
            f"algorithm {algorithm!r} is refused: only {ALGORITHM} is accepted"
        )
    if not isinstance(key_id, str):
        raise MalformedToken("the key id is not a string")
    return key_id


def _read_claims(claims_part: str) -> Claims:
    claims = _decode_map(claims_part, "claims")
    if set(claims) != CLAIM_NAMES:
        raise MalformedToken(f"the claims are exactly {sorted(CLAIM_NAMES)}, not {list(claims)}")
    texts = [claims[name] for name in ("iss", "sub", "aud")]
    times = [claims[name] for name in ("nbf", "exp")]
    if not all(isinstance(value, str) for value in texts):
        raise MalformedToken("iss, sub and aud are strings")
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in times):
        raise MalformedToken("nbf and exp are whole seconds")
    return Claims(*texts, *times, scopes=_read_scopes(claims["scopes"]))


def _read_scopes(scopes: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(scopes, dict):
        raise MalformedToken("scopes is a map from a permission to a list of patterns")
    for name, patterns in scopes.items():
        if not isinstance(name, str) or not isinstance(patterns, list):
            raise MalformedToken("scopes is a map from a permission to a list of patterns")
        if not all(isinstance(pattern, str) for pattern in patterns):
            raise MalformedToken(f"the patterns of scope {name!r} are strings")
    return {name: tuple(patterns) for name, patterns in scopes.items()}


def _decode_map(part: str, what: str) -> dict:
    try:
        value = loads_untrusted(_unb64(part, what), max_size=MAX_TOKEN_CHARS, max_depth=4)
    except MalformedCBOR as error:
        raise MalformedToken(f"the {what} is not valid CBOR ({error})") from None
    if not isinstance(value, dict):
        raise MalformedToken(f"the {what} is not a CBOR map")
    return value


def _tag(secret: bytes, signed_text: str) -> bytes:
    mac = crypto_hmac.HMAC(secret, hashes.SHA256())
    mac.update(signed_text.encode("ascii"))
    return mac.finalize()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(part: str, what: str) -> bytes:
    """Strict base64url without padding: one text for each byte string, nothing else accepted."""
    if not part or not _BASE64URL.fullmatch(part) or len(part) % 4 == 1:
        raise MalformedToken(f"the {what} is not base64url")
    try:
        data = base64.b64decode(part + "=" * (-len(part) % 4), altchars=b"-_", validate=True)
    except binascii.Error:
        raise MalformedToken(f"the {what} is not base64url") from None
    if _b64(data) != part:  # unused low bits set: another spelling of the same bytes
        raise MalformedToken(f"the {what} is not in canonical base64url")
    return data
