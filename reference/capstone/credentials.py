"""Everything a chat deployment needs on disk: a CA, certificates, signing keys and tokens.

Theory of operation
-------------------
The chat runs as separate processes, so whatever proves who is who has
to live in files that each process reads at start. `setup` writes them
all into one directory, from one throwaway certificate authority made
with `trustme` (a real deployment would have its own CA, and each member
would make its own keys and send only a certificate request)::

    D/ca.pem                   the CA certificate everyone trusts
    D/members.cbor             {member name: room}
    D/directory.cbor           {member name: Ed25519 public key, 32 raw bytes}
    D/broker/cert.pem          the broker's chain, for 127.0.0.1 and localhost
    D/broker/key.pem           its private key                      (0600)
    D/broker/token-key.cbor    the token-issuing key {"key_id", "secret"} (0600)
    D/<name>/cert.pem          the member's client chain, its name as common name
    D/<name>/key.pem           its TLS private key                  (0600)
    D/<name>/signing.key       its Ed25519 private key, 32 raw bytes (0600)
    D/<name>/token             its bearer token                     (0600)
    D/<name>/data/             its state (reference/capstone/state_file.py)

Three kinds of proof, for three questions. The client certificate
answers the broker's *who is on this connection* (mutual TLS,
`reference/security/tls.py`). The token answers *what may they do*: it
is issued (`reference/security/tokens.py`) to the member's name with
exactly the subjects of its room, ``pub: ["chat.<room>",
"chat.<room>.*"]`` and ``sub: ["chat.<room>", "chat.<room>.<name>"]``,
so a member can neither read another room nor another member's direct
subject. The Ed25519 key answers the *members'* question, *who wrote
this message*, end to end: the broker relays signatures it cannot forge.

`load_member` and `load_broker` read the files back as plain values (and
TLS contexts), which is all a process needs to build its part.
"""

from __future__ import annotations

import os
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from reference.routing.broker import SERVER_NAME
from reference.security.tls import client_context, server_context
from reference.security.tokens import Claims, KeySet, issue_token
from reference.wire.cbor import dumps, loads

ISSUER = "chat-issuer"
TOKEN_KEY_ID = "chat-1"
TOKEN_LIFETIME = 30 * 24 * 3600  # seconds; a real deployment issues short tokens and renews
BROKER_HOSTS = ("127.0.0.1", "localhost")
PRIVATE = 0o600


def room_grants(room: str, name: str) -> dict[str, list[str]]:
    """The token scopes of `name` in `room`: its room, its own direct subject, nothing else."""
    return {
        "pub": [f"chat.{room}", f"chat.{room}.*"],
        "sub": [f"chat.{room}", f"chat.{room}.{name}"],
    }


def setup(
    directory: str | Path,
    members: dict[str, str],
    *,
    now: float | None = None,
    lifetime: int = TOKEN_LIFETIME,
) -> Path:
    """Write a whole deployment for `members` ({name: room}) into `directory`; return it."""
    root = Path(directory)
    for name, room in members.items():
        _check_name(name, "member name")
        _check_name(room, "room")
    root.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    _write_leaf(root / "broker", ca.issue_cert(*BROKER_HOSTS, common_name=SERVER_NAME))
    keys = KeySet()
    keys.generate(TOKEN_KEY_ID, signing=True)
    token_key = {"key_id": TOKEN_KEY_ID, "secret": keys.secret(TOKEN_KEY_ID)}
    _write_private(root / "broker" / "token-key.cbor", dumps(token_key))
    issued_at = int(time.time() if now is None else now)
    public_keys = {}
    for name, room in members.items():
        folder = root / name
        _write_leaf(folder, ca.issue_cert(name, common_name=name))
        signing_key = Ed25519PrivateKey.generate()
        _write_private(folder / "signing.key", signing_key.private_bytes_raw())
        public_keys[name] = signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        expires = issued_at + lifetime
        claims = Claims(ISSUER, name, SERVER_NAME, issued_at, expires, room_grants(room, name))
        _write_private(folder / "token", issue_token(keys, claims).encode())
        (folder / "data").mkdir(exist_ok=True)
    (root / "members.cbor").write_bytes(dumps(dict(members)))
    (root / "directory.cbor").write_bytes(dumps(public_keys))
    return root


@dataclass(frozen=True)
class MemberCredentials:
    """What one member's process reads at start."""

    name: str
    room: str
    roster: tuple[str, ...]  # every member of the room, itself included, sorted
    signing_key: bytes
    directory: dict[str, bytes]
    token: str
    tls: ssl.SSLContext
    data_dir: Path


@dataclass(frozen=True)
class BrokerCredentials:
    """What the broker's process reads at start."""

    tls: ssl.SSLContext  # mutual TLS: clients must show a certificate from the CA
    token_keys: KeySet
    members: dict[str, str]


def load_member(directory: str | Path, name: str) -> MemberCredentials:
    root = Path(directory)
    members = _read_cbor(root / "members.cbor")
    if name not in members:
        raise LookupError(f"{name!r} is not a member of the deployment in {root}")
    room = members[name]
    folder = root / name
    return MemberCredentials(
        name=name,
        room=room,
        roster=tuple(sorted(other for other, its_room in members.items() if its_room == room)),
        signing_key=(folder / "signing.key").read_bytes(),
        directory=_read_cbor(root / "directory.cbor"),
        token=(folder / "token").read_text(),
        tls=client_context(
            root / "ca.pem", certificate=folder / "cert.pem", key=folder / "key.pem"
        ),
        data_dir=folder / "data",
    )


def load_broker(directory: str | Path) -> BrokerCredentials:
    root = Path(directory)
    token_key = _read_cbor(root / "broker" / "token-key.cbor")
    keys = KeySet()
    keys.add(token_key["key_id"], token_key["secret"], signing=True)
    context = server_context(
        root / "broker" / "cert.pem", root / "broker" / "key.pem", client_ca=root / "ca.pem"
    )
    return BrokerCredentials(context, keys, _read_cbor(root / "members.cbor"))


def _check_name(text: str, what: str) -> None:
    """One subject token: no dots, spaces or wildcards, or the grants would mean something else."""
    if not text or not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError(f"a {what} is letters, digits, '-' and '_' only, not {text!r}")


def _write_leaf(folder: Path, leaf: trustme.LeafCert) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    (folder / "cert.pem").write_bytes(chain)
    _write_private(folder / "key.pem", leaf.private_key_pem.bytes())


def _write_private(path: Path, data: bytes) -> None:
    """Create `path` readable by its owner only, before a byte of the secret is in it."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def _read_cbor(path: Path) -> dict:
    value = loads(path.read_bytes())
    if not isinstance(value, dict):
        raise ValueError(f"{path} does not hold a map")
    return value
