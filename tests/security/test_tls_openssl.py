"""An independent peer: the `openssl s_client` command against our TLS server, on loopback."""

from __future__ import annotations

import pytest
import trio

from reference.security.tls import serve_tls, server_context
from tests.security.tls_fixtures import PIPE, PKI, Identity, make_pki, read_until, running
from tests.system_packages import openssl_executable

DEADLINE = 10  # seconds


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def s_client(port: int, pki: PKI, identity: Identity | None = None) -> list[str]:
    command = [openssl_executable(), "s_client", "-tls1_3", "-connect", f"127.0.0.1:{port}"]
    command += ["-CAfile", str(pki.ca), "-servername", "localhost", "-verify_return_error"]
    command += ["-quiet"]  # print only what the server sends; stay open after stdin ends
    if identity is not None:
        command += ["-cert", str(identity.certificate), "-key", str(identity.key)]
    return command


async def echo_through_s_client(command: list[str]) -> bytes:
    async with running(command, stdin=PIPE, stdout=PIPE, stderr=PIPE) as process:
        await process.stdin.send_all(b"ping\n")
        return await read_until(process.stdout, b"ping\n")


async def test_s_client_completes_a_tls_1_3_handshake_and_gets_the_echo(pki):
    context = server_context(pki.server.certificate, pki.server.key)
    with trio.fail_after(DEADLINE):
        async with serve_tls(context) as server:
            received = await echo_through_s_client(s_client(server.port, pki))
    assert received == b"hello anonymous\nping\n"


async def test_s_client_with_a_client_certificate_passes_mutual_tls(pki):
    context = server_context(pki.server.certificate, pki.server.key, client_ca=pki.ca)
    with trio.fail_after(DEADLINE):
        async with serve_tls(context) as server:
            received = await echo_through_s_client(s_client(server.port, pki, pki.alice))
    assert received == b"hello alice\nping\n"
    assert server.identities == ["alice"]


async def test_s_client_without_a_client_certificate_is_refused_by_mutual_tls(pki):
    context = server_context(pki.server.certificate, pki.server.key, client_ca=pki.ca)
    with trio.fail_after(DEADLINE):
        async with serve_tls(context) as server:
            command = s_client(server.port, pki)
            async with running(command, stdin=PIPE, stdout=PIPE, stderr=PIPE) as process:
                await process.stdin.send_all(b"ping\n")
                received = await read_until(process.stdout, b"never sent")
                complaint = await read_until(process.stderr, b"never printed")
                assert await process.wait() != 0
            assert await server.wait_refusals(1) == ["PEER_DID_NOT_RETURN_A_CERTIFICATE"]
    assert received == b""
    assert b"verify return:1" in complaint  # it trusted the server; the server hung up on it
    assert server.identities == []


async def test_s_client_refuses_a_server_certificate_from_another_ca(pki):
    context = server_context(pki.stranger_server.certificate, pki.stranger_server.key)
    with trio.fail_after(DEADLINE):
        async with serve_tls(context) as server:
            command = s_client(server.port, pki)
            async with running(command, stdin=PIPE, stdout=PIPE, stderr=PIPE) as process:
                complaint = await read_until(process.stderr, b"never printed")
                assert await process.wait() != 0
            [server_saw] = await server.wait_refusals(1)
    assert b"unable to get local issuer certificate" in complaint
    assert server_saw == "TLSV1_ALERT_UNKNOWN_CA"  # openssl, unlike trio, sends its alert


def test_without_openssl_the_tests_skip_locally_and_fail_under_ci(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install openssl"):
        openssl_executable()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must not skip"):
        openssl_executable()
