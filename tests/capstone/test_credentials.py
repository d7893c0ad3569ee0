"""A deployment's files: who each certificate names, what each token grants, who may read keys."""

from __future__ import annotations

import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from reference.capstone.credentials import (
    ISSUER,
    load_broker,
    load_member,
    room_grants,
    setup,
)
from reference.routing.broker import SERVER_NAME
from reference.security.permissions import Permissions
from reference.security.tls_certificates import describe_chain
from reference.security.tokens import verify_token

MEMBERS = {"alice": "r1", "bob": "r1", "carol": "r2"}
NOW = 1_700_000_000


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    return setup(tmp_path_factory.mktemp("deployment"), MEMBERS, now=NOW, lifetime=3600)


def test_every_private_key_and_token_is_readable_by_its_owner_only(deployment):
    secrets = [deployment / "broker" / "key.pem", deployment / "broker" / "token-key.cbor"]
    for name in MEMBERS:
        secrets += [deployment / name / file for file in ("key.pem", "signing.key", "token")]
    for path in secrets:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((deployment / "ca.pem").stat().st_mode) & 0o044  # public: readable


def test_certificates_name_the_broker_hosts_and_each_member(deployment):
    (broker_certificate, *_) = describe_chain((deployment / "broker" / "cert.pem").read_bytes())
    assert set(broker_certificate.alternative_names) == {"IPAddress:127.0.0.1", "DNSName:localhost"}
    for name in MEMBERS:
        (leaf, *_) = describe_chain((deployment / name / "cert.pem").read_bytes())
        assert leaf.subject == f"CN={name}" or leaf.subject.startswith(f"CN={name},")
        assert not leaf.is_ca


def test_each_token_is_for_its_member_and_grants_only_its_room(deployment):
    keys = load_broker(deployment).token_keys
    for name, room in MEMBERS.items():
        token = load_member(deployment, name).token
        claims = verify_token(token, keys, issuer=ISSUER, audience=SERVER_NAME, now=NOW).claims
        assert claims.subject == name
        assert claims.expires == NOW + 3600
        assert dict(claims.scopes) == {key: tuple(v) for key, v in room_grants(room, name).items()}
    alice = Permissions.from_scopes(room_grants("r1", "alice"))
    assert alice.may_publish("chat.r1") and alice.may_publish("chat.r1.bob")
    assert not alice.may_publish("chat.r2") and not alice.may_publish("chat.r1.bob.x")
    assert alice.may_subscribe("chat.r1") and alice.may_subscribe("chat.r1.alice")
    for other in ("chat.r1.bob", "chat.r1.*", "chat.>", "chat.r2"):
        assert not alice.may_subscribe(other), other


def test_signing_keys_match_the_directory_and_rosters_are_per_room(deployment):
    alice = load_member(deployment, "alice")
    assert alice.roster == ("alice", "bob")
    assert load_member(deployment, "carol").roster == ("carol",)
    assert set(alice.directory) == set(MEMBERS)
    for name in MEMBERS:
        private = Ed25519PrivateKey.from_private_bytes(load_member(deployment, name).signing_key)
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        assert alice.directory[name] == public
    assert alice.data_dir.is_dir()
    with pytest.raises(LookupError):
        load_member(deployment, "mallory")


@pytest.mark.parametrize("members", [{"a.b": "r1"}, {"alice": "r*"}, {"": "r1"}, {"al ice": "r"}])
def test_names_that_would_change_what_a_grant_means_are_refused(tmp_path, members):
    with pytest.raises(ValueError):
        setup(tmp_path, members)
