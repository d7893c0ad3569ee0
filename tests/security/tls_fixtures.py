"""Certificates for the TLS tests, written to files as a real deployment keeps them, and a reader.

`make_pki` issues, from a throwaway trustme CA, a server certificate for
``localhost`` and client certificates (a good one, one from another CA,
an expired one), and writes each as PEM files under a directory.
"""

from __future__ import annotations

import datetime
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import trio
import trustme

NOW = datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class Identity:
    """A certificate chain and its private key, as two PEM files."""

    certificate: Path
    key: Path


@dataclass(frozen=True)
class PKI:
    ca: Path  # the CA that issued the server's and the good clients' certificates
    other_ca: Path  # a CA nobody here trusts
    server: Identity
    alice: Identity  # a client whose certificate has the common name "alice"
    bob: Identity  # a client named only by an alternative name, bob@example.org
    stranger: Identity  # a client whose certificate the other CA issued
    expired_client: Identity
    expired_server: Identity
    stranger_server: Identity


def make_pki(directory: Path) -> PKI:
    ca, other_ca = trustme.CA(), trustme.CA()
    yesterday, last_week = NOW - datetime.timedelta(days=1), NOW - datetime.timedelta(days=7)

    def write(name: str, leaf: trustme.LeafCert) -> Identity:
        identity = Identity(directory / f"{name}.pem", directory / f"{name}.key")
        leaf.private_key_pem.write_to_path(str(identity.key))
        for number, blob in enumerate(leaf.cert_chain_pems):
            blob.write_to_path(str(identity.certificate), append=number > 0)
        return identity

    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    other_ca.cert_pem.write_to_path(str(directory / "other-ca.pem"))
    return PKI(
        ca=directory / "ca.pem",
        other_ca=directory / "other-ca.pem",
        server=write("server", ca.issue_cert("localhost")),
        alice=write("alice", ca.issue_cert("alice.clients.example", common_name="alice")),
        bob=write("bob", ca.issue_cert("bob@example.org")),
        stranger=write("stranger", other_ca.issue_cert("mallory", common_name="mallory")),
        expired_client=write(
            "expired-client",
            ca.issue_cert("old", common_name="old", not_before=last_week, not_after=yesterday),
        ),
        expired_server=write(
            "expired-server", ca.issue_cert("localhost", not_before=last_week, not_after=yesterday)
        ),
        stranger_server=write("stranger-server", other_ca.issue_cert("localhost")),
    )


async def read_until(stream: trio.abc.ReceiveStream, marker: bytes, limit: int = 65536) -> bytes:
    """Receive until `marker` has arrived (or the stream ends: then return what came)."""
    received = bytearray()
    while marker not in received:
        if len(received) > limit:
            raise AssertionError(f"no {marker!r} in the first {limit} bytes: {bytes(received)!r}")
        chunk = await stream.receive_some()
        if not chunk:
            break
        received += chunk
    return bytes(received)


@asynccontextmanager
async def running(command: list[str], **pipes) -> AsyncIterator[trio.Process]:
    """Run `command` (pipes such as ``stdout=PIPE``) for a block; kill it if it outlives it."""
    async with trio.open_nursery() as nursery:
        process = await nursery.start(partial(trio.run_process, command, check=False, **pipes))
        yield process
        nursery.cancel_scope.cancel()  # run_process kills the process on cancellation


PIPE = subprocess.PIPE
