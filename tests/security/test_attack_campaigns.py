"""Attack campaigns: thousands of random tamperings, replays and forgeries per protocol.

Each campaign takes honest envelopes of one protection (HMAC, Ed25519, AEAD, the secure
channel, bearer tokens), and mutates them at random — bit flips, truncations, extensions,
swapped fields, edited headers re-encoded around the old tag, bytes from another key — and
replays them old, reordered and duplicated. Nothing an attacker made may be accepted, and the
honest traffic sent between the attacks must still be accepted, every message once. A failing
campaign prints its seed and the mutation that got through.
"""

import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from reference.security.aead import Sealer, open_sealed
from reference.security.channel import SecureChannel, derive_channel_keys
from reference.security.envelopes import (
    EnvelopeRefused,
    Header,
    open_hmac,
    seal_hmac,
    sign_envelope,
    verify_signed,
)
from reference.security.tokens import Claims, InvalidToken, KeySet, issue_token, verify_token
from reference.wire.cbor import dumps, loads

ATTEMPTS = 3000  # per campaign and seed
SEEDS = [0, 1]


def flip_bit(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def extend(data: bytes, rng: random.Random) -> bytes:
    return data + rng.randbytes(rng.randrange(1, 9))


def swap_fields(data: bytes, rng: random.Random) -> bytes:
    """Two elements of the envelope's top-level array change places (if it still decodes)."""
    parts = loads(data)
    i, j = rng.sample(range(len(parts)), 2)
    parts[i], parts[j] = parts[j], parts[i]
    return dumps(parts)


def edit_header(data: bytes, rng: random.Random) -> bytes:
    """The header (element 0) gets another sender, type or sequence; the old tag stays."""
    parts = loads(data)
    header = dict(parts[0])
    field = rng.choice(sorted(header))
    header[field] = header[field] + 1 if isinstance(header[field], int) else header[field] + "x"
    parts[0] = header
    return dumps(parts)


def splice(data: bytes, other: bytes, rng: random.Random) -> bytes:
    """The first part of one honest envelope, the rest of another."""
    cut = rng.randrange(1, min(len(data), len(other)))
    return data[:cut] + other[cut:]


MUTATIONS = [flip_bit, truncate, extend, swap_fields, edit_header]


def mutate(data: bytes, honest: list[bytes], rng: random.Random) -> tuple[str, bytes]:
    if rng.random() < 0.15:
        return "splice", splice(data, rng.choice(honest), rng)
    mutation = rng.choice(MUTATIONS)
    return mutation.__name__, mutation(data, rng)


def body(rng: random.Random, n: int) -> dict:
    return {"to": rng.choice(["bob", "carol", "mallory"]), "amount": rng.randrange(1000), "n": n}


def campaign(seed, seal, open_, refused=EnvelopeRefused):
    """Random attacks on what `seal(n, rng)` makes; returns what the honest envelopes open to."""
    rng = random.Random(seed)
    honest = [seal(n, rng) for n in range(50)]
    opened = [open_(data) for data in honest]  # honest traffic first
    for attempt in range(ATTEMPTS):
        name, forged = mutate(rng.choice(honest), honest, rng)
        if forged in honest:
            continue  # a mutation that changed nothing (a swap of equal fields) is not an attack
        try:
            open_(forged)
        except refused:
            continue
        raise AssertionError(f"seed {seed}, attempt {attempt}: {name} got through: {forged!r}")
    return opened


@pytest.mark.parametrize("seed", SEEDS)
def test_no_tampered_hmac_envelope_is_accepted(seed):
    key = random.Random(seed).randbytes(32)
    opened = campaign(seed, lambda n, rng: seal_hmac(key, Header("alice", "pay", n), body(rng, n)),
                      lambda data: open_hmac(key, data))  # fmt: skip
    assert [o.header.sequence for o in opened] == list(range(50))


@pytest.mark.parametrize("seed", SEEDS)
def test_no_tampered_signed_envelope_is_accepted(seed):
    alice = Ed25519PrivateKey.generate()
    keys = {"alice-1": alice.public_key(), "other": Ed25519PrivateKey.generate().public_key()}
    opened = campaign(
        seed,
        lambda n, rng: sign_envelope(alice, "alice-1", Header("alice", "pay", n), body(rng, n)),
        lambda data: verify_signed(keys, data),
    )
    assert {o.key_id for o in opened} == {"alice-1"}


@pytest.mark.parametrize("seed", SEEDS)
def test_no_tampered_sealed_envelope_is_accepted(seed):
    key = random.Random(seed).randbytes(32)
    sealer = Sealer(key, "alice")
    opened = campaign(seed, lambda n, rng: sealer.seal("pay", body(rng, n)),
                      lambda data: open_sealed(key, data))  # fmt: skip
    assert [o.body["n"] for o in opened] == list(range(50))


@pytest.mark.parametrize("seed", SEEDS)
def test_a_secure_channel_refuses_forgeries_and_replays_and_delivers_the_rest_once(seed):
    rng = random.Random(seed)
    alice, bank = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    sending = SecureChannel(derive_channel_keys(alice, bank.public_key(), initiator=True), "alice")
    receiving = SecureChannel(
        derive_channel_keys(bank, alice.public_key(), initiator=False), "bank"
    )
    sent = [sending.seal("pay", body(rng, n)) for n in range(200)]
    delivered = []
    for n, data in enumerate(sent):
        # the attacker first replays old messages (duplicated, out of order) and forges ...
        for old in rng.sample(sent[:n], min(n, 3)):
            with pytest.raises(EnvelopeRefused):
                receiving.open(old)
        _, forged = mutate(data, sent, rng)
        if forged not in sent:  # a splice can rebuild another honest message: not a forgery
            with pytest.raises(EnvelopeRefused):
                receiving.open(forged)
        # ... and the honest message, late or not, still gets through once
        delivered.append(receiving.open(data).body["n"])
    assert delivered == list(range(200)), f"seed {seed}"


@pytest.mark.parametrize("seed", SEEDS)
def test_no_tampered_or_forged_token_is_accepted(seed):
    rng = random.Random(seed)
    keys = KeySet()
    keys.generate("k1", signing=True)
    claims = Claims(
        "bank", "alice", "broker", not_before=1000, expires=2000, scopes={"pub": ["a.>"]}
    )
    token = issue_token(keys, claims)
    other = KeySet()
    other.generate("k1", signing=True)
    candidates = [issue_token(other, claims)]  # the right key id, the wrong secret
    for _ in range(ATTEMPTS):
        at = rng.randrange(len(token))
        candidates.append(token[:at] + rng.choice("ABCxyz019-_.") + token[at + 1 :])
        candidates.append(token[: rng.randrange(len(token))])
    for forged in candidates:
        if forged == token:
            continue
        with pytest.raises(InvalidToken):
            verify_token(forged, keys, issuer="bank", audience="broker", now=1500)
    assert verify_token(token, keys, issuer="bank", audience="broker", now=1500).claims == claims
