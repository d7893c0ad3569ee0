"""TLS and mutual TLS over real loopback: who gets in, who is refused, and what each side sees."""

from __future__ import annotations

import json
import ssl
import sys

import pytest
import trio

from reference.security.tls import (
    TLSServer,
    client_context,
    connect_tls,
    serve_tls,
    server_context,
    tls_error_reason,
)
from reference.security.tls_certificates import describe_chain
from tests.security.tls_fixtures import PIPE, PKI, make_pki, read_until, running

DEADLINE = 10  # seconds; every test finishes far sooner, or fails instead of hanging


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def mutual_tls_context(pki: PKI) -> ssl.SSLContext:
    return server_context(pki.server.certificate, pki.server.key, client_ca=pki.ca)


def client_as(pki: PKI, identity=None) -> ssl.SSLContext:
    if identity is None:
        return client_context(pki.ca)
    return client_context(pki.ca, certificate=identity.certificate, key=identity.key)


async def greeting_and_echo(stream: trio.SSLStream) -> tuple[bytes, bytes]:
    greeting = await read_until(stream, b"\n")
    await stream.send_all(b"ping\n")
    echo = await read_until(stream, b"ping\n")
    await stream.aclose()
    return greeting, echo


async def test_tls_without_client_certificates_greets_an_anonymous_client(pki):
    context = server_context(pki.server.certificate, pki.server.key)
    with trio.fail_after(DEADLINE):
        async with serve_tls(context) as server:
            stream = await connect_tls(server.port, client_as(pki))
            assert stream.version() == "TLSv1.3"
            assert await greeting_and_echo(stream) == (b"hello anonymous\n", b"ping\n")
    assert server.identities == [None]


async def test_mutual_tls_names_the_client_to_the_handler(pki):
    with trio.fail_after(DEADLINE):
        async with serve_tls(mutual_tls_context(pki)) as server:
            stream = await connect_tls(server.port, client_as(pki, pki.alice))
            assert await greeting_and_echo(stream) == (b"hello alice\n", b"ping\n")
            stream = await connect_tls(server.port, client_as(pki, pki.bob))
            assert await greeting_and_echo(stream) == (b"hello bob@example.org\n", b"ping\n")
    assert server.identities == ["alice", "bob@example.org"]
    assert server.refusals == []


async def test_the_handler_is_ours_to_choose(pki):
    async def whoami(stream: trio.SSLStream, identity: str | None) -> None:
        await stream.send_all(f"you are {identity}\n".encode())

    with trio.fail_after(DEADLINE):
        async with serve_tls(mutual_tls_context(pki), whoami) as server:
            stream = await connect_tls(server.port, client_as(pki, pki.alice))
            assert await read_until(stream, b"\n") == b"you are alice\n"


HUNG_UP = "UNEXPECTED_EOF_WHILE_READING"  # trio.SSLStream sends no alert when its handshake fails


async def refused_after_handshake(pki: PKI, identity) -> str:
    """Connect to a mutual-TLS server as `identity`; return why the server refused."""
    with trio.fail_after(DEADLINE):
        async with serve_tls(mutual_tls_context(pki)) as server:
            # TLS 1.3: the client's handshake ends before the server has judged its certificate.
            stream = await connect_tls(server.port, client_as(pki, identity))
            with pytest.raises(trio.BrokenResourceError) as refused:
                await stream.receive_some()
            [server_saw] = await server.wait_refusals(1)
    assert tls_error_reason(refused.value) == HUNG_UP
    assert server.identities == []
    return server_saw


async def test_mutual_tls_refuses_a_client_without_a_certificate(pki):
    assert await refused_after_handshake(pki, None) == "PEER_DID_NOT_RETURN_A_CERTIFICATE"


async def test_mutual_tls_refuses_a_client_certificate_from_another_ca(pki):
    assert await refused_after_handshake(pki, pki.stranger) == (
        "CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate"
    )


async def test_mutual_tls_refuses_an_expired_client_certificate(pki):
    assert await refused_after_handshake(pki, pki.expired_client) == (
        "CERTIFICATE_VERIFY_FAILED: certificate has expired"
    )


async def refused_by_the_client(server_identity, context, server_hostname="localhost"):
    """The client's handshake fails: (what the client sees, what the server saw)."""
    with trio.fail_after(DEADLINE):
        server_side = server_context(server_identity.certificate, server_identity.key)
        async with serve_tls(server_side) as server:
            with pytest.raises(trio.BrokenResourceError) as refused:
                await connect_tls(server.port, context, server_hostname=server_hostname)
            [server_saw] = await server.wait_refusals(1)
    return tls_error_reason(refused.value), server_saw


async def test_the_client_refuses_a_server_with_the_wrong_host_name(pki):
    client_saw, server_saw = await refused_by_the_client(
        pki.server, client_as(pki), server_hostname="example.org"
    )
    assert client_saw == (
        "CERTIFICATE_VERIFY_FAILED: Hostname mismatch, certificate is not valid for 'example.org'."
    )
    assert server_saw == HUNG_UP


async def test_the_client_refuses_a_server_certificate_from_another_ca(pki):
    client_saw, server_saw = await refused_by_the_client(pki.stranger_server, client_as(pki))
    assert client_saw == "CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate"
    assert server_saw == HUNG_UP


async def test_the_client_refuses_an_expired_server_certificate(pki):
    client_saw, server_saw = await refused_by_the_client(pki.expired_server, client_as(pki))
    assert client_saw == "CERTIFICATE_VERIFY_FAILED: certificate has expired"
    assert server_saw == HUNG_UP


async def test_the_server_refuses_a_client_that_stops_at_tls_1_2(pki):
    old_client = client_as(pki)
    old_client.minimum_version = old_client.maximum_version = ssl.TLSVersion.TLSv1_2
    client_saw, server_saw = await refused_by_the_client(pki.server, old_client)
    assert (client_saw, server_saw) == (HUNG_UP, "UNSUPPORTED_PROTOCOL")


async def test_a_client_that_never_shakes_hands_is_cut_off(pki, autojump_clock):
    server = TLSServer(mutual_tls_context(pki))
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.serve)
        silent = await trio.open_tcp_stream("127.0.0.1", port)
        assert await server.wait_refusals(1) == ["handshake timed out"]
        assert await silent.receive_some() == b""  # the server closed the connection
        nursery.cancel_scope.cancel()


def test_contexts_insist_on_tls_1_3_and_checked_certificates(pki):
    client = client_as(pki)
    assert client.minimum_version == ssl.TLSVersion.TLSv1_3
    assert (client.verify_mode, client.check_hostname) == (ssl.CERT_REQUIRED, True)
    server = mutual_tls_context(pki)
    assert (server.minimum_version, server.verify_mode) == (
        ssl.TLSVersion.TLSv1_3,
        ssl.CERT_REQUIRED,
    )
    plain = server_context(pki.server.certificate, pki.server.key)
    assert plain.verify_mode == ssl.CERT_NONE


def test_tls_error_reason_says_when_an_error_is_not_from_tls():
    assert tls_error_reason(trio.BrokenResourceError("gone")) == "not a TLS error"


def test_the_chain_reads_leaf_first_and_each_issuer_is_the_next_subject(pki):
    [leaf] = describe_chain(pki.server.certificate.read_text())
    [root] = describe_chain(pki.ca.read_bytes())
    assert leaf.issuer == root.subject
    assert root.issuer == root.subject  # self-signed: the trust anchor
    assert (leaf.is_ca, root.is_ca) == (False, True)
    assert leaf.alternative_names == ("DNSName:localhost",)
    assert leaf.not_before < leaf.not_after
    [expired] = describe_chain(pki.expired_client.certificate.read_bytes())
    assert expired.subject.startswith("CN=old,")
    assert expired.not_after < expired.not_before.replace(year=expired.not_before.year + 1)
    assert describe_chain(pki.bob.certificate.read_bytes())[0].alternative_names == (
        "RFC822Name:bob@example.org",
    )


async def test_the_command_line_server_speaks_mutual_tls(pki):
    command = [sys.executable, "-m", "reference.security.tls", "serve", "--port", "0"]
    command += ["--cert", str(pki.server.certificate), "--key", str(pki.server.key)]
    command += ["--ca", str(pki.ca)]
    with trio.fail_after(DEADLINE):
        async with running(command, stdout=PIPE) as process:
            announcement = json.loads(await read_until(process.stdout, b"\n"))
            host, port = announcement["listening"]
            assert (host, announcement["mutual_tls"]) == ("127.0.0.1", True)
            stream = await connect_tls(port, client_as(pki, pki.alice))
            assert await greeting_and_echo(stream) == (b"hello alice\n", b"ping\n")
