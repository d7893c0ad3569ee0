"""Bearer tokens: the happy path, every rejection by its own error, both clock edges, rotation."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from reference.security.tokens import (
    MAX_TOKEN_CHARS,
    BadSignature,
    Claims,
    InvalidToken,
    KeySet,
    MalformedToken,
    TokenExpired,
    TokenNotYetValid,
    UnknownKeyId,
    UnsupportedAlgorithm,
    WrongAudience,
    WrongIssuer,
    encode_token,
    issue_token,
    verify_token,
)
from reference.wire.cbor import dumps

SECRET_1, SECRET_2 = b"1" * 32, b"2" * 32
CLAIMS = Claims(
    issuer="auth.example",
    subject="alice",
    audience="broker",
    not_before=1_000,
    expires=1_600,
    scopes={"pub": ("orders.>",), "sub": ("orders.eu.*",)},
)


def key_set() -> KeySet:
    keys = KeySet()
    keys.add("k1", SECRET_1, signing=True)
    return keys


def verify(token: str, keys: KeySet | None = None, **overrides) -> Claims:
    arguments = {"issuer": "auth.example", "audience": "broker", "now": 1_300} | overrides
    return verify_token(token, keys or key_set(), **arguments).claims


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_token_verifies_and_carries_its_claims():
    token = issue_token(key_set(), CLAIMS)
    assert token.startswith("v1.") and token.count(".") == 3
    verified = verify_token(token, key_set(), issuer="auth.example", audience="broker", now=1_300)
    assert verified.claims == CLAIMS
    assert verified.key_id == "k1"
    assert verified.claims.scopes["pub"] == ("orders.>",)


def test_the_claims_are_canonical_cbor_so_the_same_claims_give_the_same_token():
    reordered = dataclasses.replace(CLAIMS, scopes={"sub": ("orders.eu.*",), "pub": ("orders.>",)})
    assert issue_token(key_set(), reordered) == issue_token(key_set(), CLAIMS)


@pytest.mark.parametrize("algorithm", ["none", "None", "HS512", "RS256", "", None])
def test_any_algorithm_but_hs256_is_refused_even_with_a_valid_tag(algorithm):
    token = encode_token({"alg": algorithm, "kid": "k1"}, CLAIMS.to_cbor_map(), SECRET_1)
    with pytest.raises(UnsupportedAlgorithm):
        verify(token)


def test_alg_none_with_the_tag_left_empty_is_refused_as_an_algorithm():
    signed = encode_token({"alg": "none", "kid": "k1"}, CLAIMS.to_cbor_map(), SECRET_1)
    with pytest.raises(UnsupportedAlgorithm, match="'none'"):
        verify(signed.rsplit(".", 1)[0] + ".")


def test_an_unknown_key_id_is_refused():
    token = encode_token({"alg": "HS256", "kid": "k9"}, CLAIMS.to_cbor_map(), SECRET_1)
    with pytest.raises(UnknownKeyId, match="k9"):
        verify(token)


def test_a_token_signed_with_another_secret_has_a_bad_signature():
    token = encode_token({"alg": "HS256", "kid": "k1"}, CLAIMS.to_cbor_map(), SECRET_2)
    with pytest.raises(BadSignature):
        verify(token)


def test_edited_claims_break_the_signature():
    version, header, _, tag = issue_token(key_set(), CLAIMS).split(".")
    greedy = dataclasses.replace(CLAIMS, scopes={"pub": (">",)}).to_cbor_map()
    with pytest.raises(BadSignature):
        verify(".".join([version, header, b64(dumps(greedy, canonical=True)), tag]))


def test_every_flipped_character_is_refused():
    token = issue_token(key_set(), CLAIMS)
    for position, character in enumerate(token):
        replacement = "A" if character != "A" else "B"
        with pytest.raises(InvalidToken):
            verify(token[:position] + replacement + token[position + 1 :])


def test_a_truncated_tag_is_a_bad_signature():
    token = issue_token(key_set(), CLAIMS)
    with pytest.raises(BadSignature):
        verify(token[:-3])  # 40 characters: 30 bytes, canonical base64url


@pytest.mark.parametrize("cut", [1, 3, 10])
def test_a_token_cut_short_by_whole_parts_is_malformed(cut):
    token = issue_token(key_set(), CLAIMS)
    shortened = ".".join(token.split(".")[: 4 - cut]) if cut < 4 else ""
    with pytest.raises(MalformedToken):
        verify(shortened or token[:cut])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "v1...",
        "v2.AA.AA.AA",
        "v1.!!.AA.AA",
        "v1.AA=.AA.AA",
        "v1.A.AA.AA",
        "v1.é.AA.AA",
        "v1.AAAA.AAAA.AAAA.AAAA",
        "x" * (MAX_TOKEN_CHARS + 1),
    ],
)
def test_text_that_is_not_a_token_is_malformed(text):
    with pytest.raises(MalformedToken):
        verify(text)


def test_a_token_that_is_not_text_is_malformed():
    with pytest.raises(MalformedToken):
        verify(issue_token(key_set(), CLAIMS).encode())


@pytest.mark.parametrize(
    "header",
    [
        b"\xff",  # not CBOR
        dumps(["HS256", "k1"]),  # not a map
        dumps({"alg": "HS256"}),  # no key id
        dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}),  # an unexpected field
        dumps({"alg": "HS256", "kid": 1}),  # a key id that is not text
        dumps({"alg": "HS256", "kid": "k1"}) + b"\x00",  # bytes left over
    ],
)
def test_a_header_that_does_not_decode_to_the_schema_is_malformed(header):
    claims = b64(dumps(CLAIMS.to_cbor_map(), canonical=True))
    with pytest.raises(MalformedToken):
        verify(f"v1.{b64(header)}.{claims}.AAAA")


def test_a_header_in_non_canonical_base64_is_malformed():
    header = b64(dumps({"alg": "HS256", "kid": "k12"}, canonical=True))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(header) % 4 != 0  # the last character has unused low bits
    other = alphabet[alphabet.index(header[-1]) ^ 1]  # the same bytes, an unused bit set
    with pytest.raises(MalformedToken, match="canonical"):
        verify(f"v1.{header[:-1]}{other}.AA.AA")


@pytest.mark.parametrize(
    "edit",
    [
        {"exp": "1600"},
        {"nbf": True},
        {"sub": None},
        {"scopes": ["orders.>"]},
        {"scopes": {"pub": "orders.>"}},
        {"scopes": {"pub": [1]}},
        {"role": "admin"},
    ],
)
def test_signed_claims_outside_the_schema_are_malformed(edit):
    token = encode_token({"alg": "HS256", "kid": "k1"}, CLAIMS.to_cbor_map() | edit, SECRET_1)
    with pytest.raises(MalformedToken):
        verify(token)


def test_signed_claims_with_a_missing_claim_are_malformed():
    claims = CLAIMS.to_cbor_map()
    del claims["aud"]
    with pytest.raises(MalformedToken):
        verify(encode_token({"alg": "HS256", "kid": "k1"}, claims, SECRET_1))


def test_a_wrong_issuer_is_refused():
    with pytest.raises(WrongIssuer):
        verify(issue_token(key_set(), CLAIMS), issuer="evil.example")


def test_a_wrong_audience_is_refused():
    with pytest.raises(WrongAudience):
        verify(issue_token(key_set(), CLAIMS), audience="billing")


def test_validity_edges_without_leeway():
    token = issue_token(key_set(), CLAIMS)
    with pytest.raises(TokenNotYetValid):
        verify(token, now=999.999)
    assert verify(token, now=1_000) == CLAIMS
    assert verify(token, now=1_599.999) == CLAIMS
    with pytest.raises(TokenExpired):
        verify(token, now=1_600)


def test_validity_edges_with_leeway():
    token = issue_token(key_set(), CLAIMS)
    with pytest.raises(TokenNotYetValid):
        verify(token, now=994.999, leeway=5)
    assert verify(token, now=995, leeway=5) == CLAIMS
    assert verify(token, now=1_604.999, leeway=5) == CLAIMS
    with pytest.raises(TokenExpired):
        verify(token, now=1_605, leeway=5)


def test_issuing_a_token_that_is_never_valid_is_refused():
    with pytest.raises(ValueError, match="never be valid"):
        issue_token(key_set(), dataclasses.replace(CLAIMS, not_before=2_000))


def test_rotation_old_tokens_verify_until_the_old_key_is_retired():
    keys = key_set()
    old_token = issue_token(keys, CLAIMS)
    keys.add("k2", SECRET_2, signing=True)
    new_token = issue_token(keys, CLAIMS)
    assert new_token.split(".")[1] != old_token.split(".")[1]
    assert (
        verify_token(new_token, keys, issuer="auth.example", audience="broker", now=1_300).key_id
        == "k2"
    )
    assert verify(old_token, keys) == CLAIMS
    keys.retire("k1")
    assert keys.key_ids == ("k2",)
    with pytest.raises(UnknownKeyId):
        verify(old_token, keys)
    assert verify(new_token, keys) == CLAIMS


def test_a_verifier_that_holds_only_the_new_key_refuses_old_tokens():
    old_token = issue_token(key_set(), CLAIMS)
    keys = KeySet()
    keys.add("k2", SECRET_2, signing=True)
    with pytest.raises(UnknownKeyId):
        verify(old_token, keys)


def test_key_set_rules():
    keys = key_set()
    with pytest.raises(ValueError, match="signs new tokens"):
        keys.retire("k1")
    with pytest.raises(ValueError, match="already in use"):
        keys.add("k1", SECRET_2)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        keys.add("k2", b"short")
    with pytest.raises(LookupError, match="marked for signing"):
        issue_token(KeySet(), CLAIMS)
    keys.generate("k3")
    assert keys.signing_key_id == "k1"
    assert len(keys.secret("k3")) == 32
