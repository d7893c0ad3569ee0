"""The broker behind mutual TLS and tokens, over real loopback TLS: who gets in, and to what."""

from __future__ import annotations

from functools import partial

import pytest
import trio

from reference.capstone.credentials import load_member, setup
from reference.capstone.secure_broker import SecureBroker
from reference.routing.client import NoServersAvailable, ServerError, connect
from reference.security.tls import client_context

MEMBERS = {"alice": "r1", "bob": "r1", "carol": "r2"}
DEADLINE = 10
NOW = 1_700_000_000


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    return setup(tmp_path_factory.mktemp("deployment"), MEMBERS, now=NOW, lifetime=3600)


@pytest.fixture(scope="module")
def stranger(tmp_path_factory):
    """Another deployment, another CA: its alice has a certificate our broker does not trust."""
    return load_member(setup(tmp_path_factory.mktemp("other"), {"alice": "r1"}), "alice")


async def serve(nursery: trio.Nursery, deployment, now: float = NOW + 60) -> SecureBroker:
    secure = SecureBroker(deployment, clock=lambda: now)
    await nursery.start(partial(secure.serve, 0))
    return secure


def dial(secure: SecureBroker, member, **options):
    options = {"token": member.token, "ssl_context": member.tls, **options}
    return connect([("127.0.0.1", secure.broker.port)], name=member.name, **options)


async def test_members_of_a_room_talk_over_mutual_tls(deployment):
    alice, bob = load_member(deployment, "alice"), load_member(deployment, "bob")
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            secure = await serve(nursery, deployment)
            async with dial(secure, alice) as alice_client, dial(secure, bob) as bob_client:
                room = await bob_client.subscribe("chat.r1")
                direct = await bob_client.subscribe("chat.r1.bob")
                await bob_client.flush()
                await alice_client.publish("chat.r1", b"to the room")
                await alice_client.publish("chat.r1.bob", b"to bob")
                assert (await room.next_message()).payload == b"to the room"
                assert (await direct.next_message()).payload == b"to bob"
            assert sorted(secure.tls.identities) == ["alice", "bob"]
            nursery.cancel_scope.cancel()


async def test_a_member_cannot_leave_its_grants(deployment):
    alice = load_member(deployment, "alice")
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            secure = await serve(nursery, deployment)
            async with dial(secure, alice) as client:
                for subject in ("chat.r2", "chat.r1.bob.x"):
                    await client.publish(subject, b"out of bounds")
                    with pytest.raises(ServerError, match="Permissions Violation for Publish"):
                        await client.flush()
                for subject_filter in ("chat.r1.bob", "chat.>", "chat.r2"):
                    await client.subscribe(subject_filter)
                    with pytest.raises(ServerError, match="Permissions Violation for Subscr"):
                        await client.flush()
            nursery.cancel_scope.cancel()


async def refused(
    deployment, member, *, now: float = NOW + 60, at_handshake: bool = False, **options
) -> SecureBroker:
    async with trio.open_nursery() as nursery:
        secure = await serve(nursery, deployment, now)
        with pytest.raises(NoServersAvailable):
            async with dial(secure, member, connect_timeout=2, **options):
                pass  # pragma: no cover
        if at_handshake:
            await secure.tls.wait_refusals(1)
        nursery.cancel_scope.cancel()
    return secure


async def test_a_client_without_a_certificate_is_refused_at_the_handshake(deployment):
    alice = load_member(deployment, "alice")
    no_certificate = client_context(deployment / "ca.pem")
    with trio.fail_after(DEADLINE):
        secure = await refused(deployment, alice, ssl_context=no_certificate, at_handshake=True)
    assert "CERTIFICATE" in secure.refusals[0].upper()
    assert secure.broker.connections == {} and secure.broker.closed == []  # never spoke NATS


async def test_a_certificate_from_another_ca_is_refused_at_the_handshake(deployment, stranger):
    alice = load_member(deployment, "alice")
    folder = stranger.data_dir.parent  # its certificate, from the other CA; it trusts our CA
    context = client_context(
        deployment / "ca.pem", certificate=folder / "cert.pem", key=folder / "key.pem"
    )
    with trio.fail_after(DEADLINE):
        secure = await refused(deployment, alice, ssl_context=context, at_handshake=True)
    assert "UNKNOWN_CA" in secure.refusals[0].upper() or "VERIFY" in secure.refusals[0].upper()
    assert secure.broker.connections == {} and secure.broker.closed == []


@pytest.mark.parametrize(
    "token_of, now",
    [
        ("nobody", NOW + 60),  # no token
        ("forged", NOW + 60),  # a token the issuer did not sign
        ("bob", NOW + 60),  # a good token, but bob's, over alice's certificate
        ("alice", NOW + 3600),  # alice's own token, expired
    ],
)
async def test_a_bad_token_is_refused_at_connect(deployment, token_of, now):
    alice = load_member(deployment, "alice")
    tokens = {"nobody": None, "forged": alice.token[:-6] + "AAAAAA"}
    token = tokens[token_of] if token_of in tokens else load_member(deployment, token_of).token
    with trio.fail_after(DEADLINE):
        secure = await refused(deployment, alice, now=now, token=token)
    (connection,) = secure.broker.closed
    assert connection.closed_because == "Authorization Violation"
    assert connection.refused_because
    if token_of == "bob":
        assert "'bob'" in connection.refused_because and "'alice'" in connection.refused_because


async def test_alices_own_token_is_accepted_just_before_it_expires(deployment):
    alice = load_member(deployment, "alice")
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            secure = await serve(nursery, deployment, now=NOW + 3599)
            async with dial(secure, alice) as client:
                await client.flush()
            nursery.cancel_scope.cancel()
