"""RPC client and server: in-memory with virtual time, then over real loopback TCP.

The wire format on its own is tested in tests/rpc/test_wire.py."""

import os
import random
import subprocess
import sys
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path

import cbor2
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.rpc.blocking import BlockingRpcClient
from reference.rpc.client import RpcClient
from reference.rpc.server import RpcServer, serve_rpc
from reference.rpc.wire import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    ConnectionLost,
    ErrorReply,
    RemoteError,
    Request,
    Result,
    decode_message,
    encode_message,
)
from reference.tools.piecewise import piecewise_stream_pair
from reference.wire.framing import FrameTooLarge, MessageStream, encode_frame
from tests.rpc.test_wire import cbor_values

REPO = Path(__file__).resolve().parents[2]


def make_server(**options) -> RpcServer:
    server = RpcServer(**options)
    server.release = trio.Event()  # what `wait_for_release` waits for
    server.waiting = trio.Event()  # set once a call waits in `wait_for_release`
    server.heard = []  # what `remember` was told

    @server.method
    def add(a, b):
        return a + b

    @server.method
    def echo(value):
        return value

    @server.method
    async def sleep_then_echo(seconds, value):
        await trio.sleep(seconds)
        return value

    @server.method
    async def wait_for_release():
        server.waiting.set()
        await server.release.wait()
        return "released"

    @server.method
    def divide(a, b):
        return a / b

    @server.method
    def remember(item):
        server.heard.append(item)

    @server.method
    def unencodable():
        return object()

    @server.method
    def blob(size):
        return bytes(size)

    return server


@asynccontextmanager
async def connected(server, *, stream_pair=trio.testing.memory_stream_pair, **client_options):
    """A client talking to `server` over an in-memory `stream_pair()`."""
    client_end, server_end = stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_connection, server_end)
        async with RpcClient(client_end, **client_options) as client:
            yield client
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def raw_connection(server):
    """A MessageStream to `server`, for sending what a proper client never would."""
    client_end, server_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_connection, server_end)
        yield MessageStream(client_end)
        nursery.cancel_scope.cancel()


async def read_to_end(messages: MessageStream) -> list:
    return [decode_message(payload) async for payload in messages]


# -------------------------------------------- calls over memory, virtual time


async def test_a_call_returns_its_result():
    async with connected(make_server()) as client:
        assert await client.call("add", 2, 3) == 5
        assert await client.call("echo", {"b": b"\x00"}) == {"b": b"\x00"}


async def test_concurrent_calls_are_matched_by_id_whatever_order_replies_come_in(autojump_clock):
    finished = []

    async def call(client, n):
        result = await client.call("sleep_then_echo", (20 - n) / 10, n)  # later calls finish first
        finished.append(result)
        assert result == n

    async with connected(make_server(max_concurrent_requests=20)) as client:
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for n in range(20):
                nursery.start_soon(call, client, n)
        assert trio.current_time() - start == pytest.approx(2.0)  # all ran at once
    assert finished == list(reversed(range(20)))


async def test_calls_survive_any_chunking_of_the_stream(autojump_clock):
    rng = random.Random(3)
    pieces_of_1_to_7 = partial(piecewise_stream_pair, random.Random(4), max_piece=7)
    async with connected(make_server(), stream_pair=pieces_of_1_to_7) as client:

        async def call(n):
            assert await client.call("sleep_then_echo", rng.random(), [n, str(n)]) == [n, str(n)]

        async with trio.open_nursery() as nursery:
            for n in range(50):
                nursery.start_soon(call, n)


async def test_a_remote_exception_arrives_as_remote_error_and_the_connection_stays_up():
    async with connected(make_server()) as client:
        with pytest.raises(RemoteError) as caught:
            await client.call("divide", 1, 0)
        assert caught.value.type == "ZeroDivisionError"
        assert caught.value.message == "division by zero"
        assert await client.call("divide", 1, 4) == 0.25


async def test_unknown_method_and_bad_params_get_error_replies():
    async with connected(make_server()) as client:
        with pytest.raises(RemoteError) as caught:
            await client.call("no_such_method")
        assert caught.value.type == METHOD_NOT_FOUND
        with pytest.raises(RemoteError) as caught:
            await client.call("add", 1)
        assert caught.value.type == INVALID_PARAMS
        assert "'b'" in caught.value.message
        with pytest.raises(RemoteError) as caught:
            await client.call("add", 1, 2, 3)
        assert caught.value.type == INVALID_PARAMS
        assert await client.call("add", 1, 2) == 3


async def test_a_result_that_cannot_be_sent_becomes_an_error_reply():
    async with connected(make_server(max_frame_size=1000), max_frame_size=1000) as client:
        with pytest.raises(RemoteError) as caught:
            await client.call("unencodable")
        assert "could not be sent" in caught.value.message
        with pytest.raises(RemoteError) as caught:
            await client.call("blob", 2000)
        assert caught.value.type == "FrameTooLarge"
        assert await client.call("blob", 10) == bytes(10)


async def test_a_request_too_large_to_send_is_refused_before_it_leaves():
    async with connected(make_server(), max_frame_size=100) as client:
        with pytest.raises(FrameTooLarge):
            await client.call("echo", bytes(200))
        assert client.statistics().calls_in_flight == 0
        assert await client.call("echo", 1) == 1


async def test_notifications_run_but_get_no_reply(autojump_clock):
    server = make_server()
    async with connected(server) as client:
        await client.notify("remember", "first")
        await client.notify("no_such_method")
        await client.notify("divide", 1, 0)
        await client.notify("remember", "second")
        assert client.statistics().calls_in_flight == 0
        assert await client.call("echo", "after") == "after"  # replies in order: all were read
    assert server.heard == ["first", "second"]
    assert server.statistics().notifications_failed == 2


async def test_notifications_queued_before_closing_are_still_sent(autojump_clock):
    server = make_server()
    client_end, server_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_connection, server_end)  # returns at the client's EOF
        async with RpcClient(client_end) as client:
            for n in range(100):
                await client.notify("remember", n)
    assert server.heard == list(range(100))


async def test_a_deadline_removes_the_pending_call_and_its_late_reply_is_dropped(autojump_clock):
    async with connected(make_server()) as client:
        with pytest.raises(trio.TooSlowError):
            with trio.fail_after(1):
                await client.call("sleep_then_echo", 5, "too late")
        assert client.statistics().calls_in_flight == 0
        assert trio.current_time() == pytest.approx(1)
        await trio.sleep(10)  # the server finishes and replies to no one
        assert client.statistics().late_replies == 1
        assert await client.call("echo", "next") == "next"


async def test_calls_in_flight_are_capped(autojump_clock):
    server = make_server(max_concurrent_requests=50)
    results = []

    async def call(client):
        results.append(await client.call("wait_for_release"))

    async with connected(server, max_in_flight=3) as client, trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(call, client)
        await trio.testing.wait_all_tasks_blocked()
        assert server.statistics().requests_running == 3
        assert client.statistics().calls_in_flight == 3
        assert client.statistics().calls_waiting == 7
        server.release.set()
    assert results == ["released"] * 10


async def test_the_server_runs_at_most_its_cap_at_once(autojump_clock):
    server = make_server(max_concurrent_requests=2)
    running_at_each_start = []  # the count only grows when a method starts: this sees its peak

    @server.method
    async def note_then_sleep(n):
        running_at_each_start.append(server.statistics().requests_running)  # this one included
        await trio.sleep(1)
        return n

    async def call(client, n):
        assert await client.call("note_then_sleep", n) == n

    async with connected(server, max_in_flight=10) as client:
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for n in range(10):
                nursery.start_soon(call, client, n)
        assert trio.current_time() - start == pytest.approx(5)  # 10 calls, 2 at a time
    assert max(running_at_each_start) == 2


async def test_a_client_that_never_reads_cannot_grow_the_server_or_slow_other_clients(
    autojump_clock,
):
    # Lockstep streams hold no bytes in flight: a send_all waits until the peer has read all
    # of it, like TCP with full buffers, so once every task is blocked the greedy connection
    # is stuck for good, and what the server holds can be counted without waiting for a kernel.
    cap = 4
    server = RpcServer(max_concurrent_requests=cap)
    started = 0

    @server.method
    async def blob(size):
        nonlocal started
        started += 1
        return bytes(size)

    @server.method
    async def echo(value):
        return value

    attempted, sent = 100_000, 0

    async def greedy_client(stream):
        nonlocal sent
        greedy = MessageStream(stream)
        for call_id in range(attempted):
            await greedy.send_message(encode_message(Request(call_id, "blob", [4096])))
            sent += 1

    greedy_end, server_end = trio.testing.lockstep_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_connection, server_end)
        nursery.start_soon(greedy_client, greedy_end)
        await trio.testing.wait_all_tasks_blocked()
        assert sent < attempted  # the greedy client was made to wait
        assert server.statistics().requests_running == cap  # each waiting to queue its reply
        # Replies held by the server: one per running method, a queue of `cap`, and the batch
        # being written (the reply the writer woke for, and at most a queue's worth more).
        assert started <= 3 * cap + 1
        stalled_at = started

        with trio.fail_after(1):  # virtual time: a wait on the greedy connection would be forever
            async with connected(server, stream_pair=trio.testing.lockstep_stream_pair) as polite:
                for n in range(100):
                    assert await polite.call("echo", n) == n
        assert started == stalled_at  # still stuck, still bounded
        nursery.cancel_scope.cancel()


async def test_when_the_connection_drops_every_pending_call_fails_at_once(autojump_clock):
    server = make_server()
    client_end, server_end = trio.testing.memory_stream_pair()
    failures = []

    async def call(client):
        with pytest.raises(ConnectionLost) as caught:
            await client.call("wait_for_release")
        failures.append((trio.current_time(), str(caught.value)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_connection, server_end)
        async with RpcClient(client_end) as client, trio.open_nursery() as callers:
            for _ in range(5):
                callers.start_soon(call, client)
            await trio.testing.wait_all_tasks_blocked()
            assert server.statistics().requests_running == 5
            await trio.sleep(3)
            await server_end.aclose()  # the server's end goes away
        assert len(failures) == 5
        assert {when for when, _ in failures} == {3.0}
        with pytest.raises(ConnectionLost):
            await client.call("echo", 1)
        nursery.cancel_scope.cancel()


async def test_a_client_must_be_opened_before_calling():
    client_end, _ = trio.testing.memory_stream_pair()
    with pytest.raises(ConnectionLost, match="async with"):
        await RpcClient(client_end).call("echo", 1)


async def test_an_exception_in_the_body_is_raised_as_itself():
    client_end, _ = trio.testing.memory_stream_pair()
    with pytest.raises(KeyError):
        async with RpcClient(client_end):
            raise KeyError("mine")


# ------------------------------------------- bad input from either side


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (encode_frame(b"\xff\xff"), "ProtocolError"),
        (encode_frame(cbor2.dumps(["not", "a", "map"])), "ProtocolError"),
        (encode_frame(encode_message(Result(1, "a reply to no one"))), "ProtocolError"),
        ((10**7).to_bytes(4, "big"), "FrameTooLarge"),
    ],
)
async def test_bad_input_closes_that_connection_with_a_reason_and_no_other(frame, reason):
    server = make_server()
    async with connected(server) as bystander, raw_connection(server) as bad:
        assert await bystander.call("add", 1, 1) == 2
        await bad.stream.send_all(frame)
        farewell, *rest = await read_to_end(bad)  # then end of stream
        assert rest == []
        assert isinstance(farewell, ErrorReply)
        assert (farewell.id, farewell.type) == (None, reason)
        assert await bystander.call("add", 2, 2) == 4
    assert server.statistics().protocol_errors == 1


async def test_a_bad_request_with_a_readable_id_is_answered_and_the_connection_stays():
    server = make_server()
    async with raw_connection(server) as bad:
        await bad.send_message(cbor2.dumps({"id": 5, "method": "add", "params": "1, 2"}))
        await bad.send_message(encode_message(Request(6, "add", [1, 2])))
        first, second = (
            decode_message(await bad.receive_message()),
            decode_message(await bad.receive_message()),
        )
        assert isinstance(first, ErrorReply)
        assert (first.id, first.type) == (5, INVALID_REQUEST)
        assert second == Result(6, 3)


async def test_a_truncated_frame_ends_the_connection_without_crashing_the_server():
    server = make_server()
    async with raw_connection(server) as bad:
        await bad.stream.send_all(encode_frame(b"12345")[:6])
        await bad.stream.send_eof()
        with trio.fail_after(5):
            await trio.testing.wait_all_tasks_blocked()
        assert server.statistics().connections_open == 0


any_frame = st.one_of(st.binary(max_size=20), cbor_values.map(cbor2.dumps)).map(encode_frame)


@settings(max_examples=50)
@given(st.lists(any_frame, max_size=6))
async def test_no_sequence_of_frames_crashes_the_server(frames):
    server = make_server()
    client_end, server_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_connection, server_end)
        last = encode_frame(encode_message(Request(2**64 - 1, "add", [1, 2])))
        with suppress(trio.BrokenResourceError):  # the server may have hung up already
            await client_end.send_all(b"".join([*frames, last]))
            await client_end.send_eof()
        replies = await read_to_end(MessageStream(client_end))
    # The last request is answered, unless bad input ended the connection first.
    assert replies[-1] == Result(2**64 - 1, 3) or replies[-1].id is None
    assert server.statistics().connections_open == 0


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"\xff", "not valid CBOR"),
        (cbor2.dumps({"id": 99, "result": 1}), "never issued"),
        (cbor2.dumps({"id": 0, "method": "call_me_back"}), "sent a request"),
        (cbor2.dumps({"error": {"type": "ProtocolError", "message": "bye"}}), "hung up: Pro"),
    ],
)
async def test_a_misbehaving_server_fails_pending_calls_with_the_reason(reply, reason):
    client_end, server_end = trio.testing.memory_stream_pair()
    fake_server = MessageStream(server_end)
    async with RpcClient(client_end) as client, trio.open_nursery() as nursery:

        async def call():
            with pytest.raises(ConnectionLost, match=reason):
                await client.call("echo", 1)

        nursery.start_soon(call)
        await fake_server.receive_message()
        await fake_server.send_message(reply)
    assert reason in client.statistics().connection_lost


# ------------------------------------------------------- real loopback TCP


async def test_fifty_connections_a_thousand_concurrent_calls():
    server = make_server(max_concurrent_requests=32)
    rng = random.Random(50)
    errors = []

    async def one_client(port, client_number):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with RpcClient(stream, max_in_flight=20) as client, trio.open_nursery() as nursery:
            for n in range(20):
                value = [client_number, n, rng.randbytes(rng.randint(0, 300))]
                nursery.start_soon(one_call, client, rng.random() / 100, value)

    async def one_call(client, seconds, value):
        result = await client.call("sleep_then_echo", seconds, value)
        if result != value:
            errors.append((value, result))

    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_rpc, server)
        with trio.fail_after(30):
            async with trio.open_nursery() as clients:
                for client_number in range(50):
                    clients.start_soon(one_client, port, client_number)
        nursery.cancel_scope.cancel()
    assert errors == []
    assert server.statistics().requests_handled == 1000


SERVER_PROCESS = """
import trio
from reference.rpc.server import RpcServer, serve_rpc

server = RpcServer()

@server.method
async def hang():
    await trio.sleep_forever()

@server.method
def ping():
    return "pong"

async def main():
    async with trio.open_nursery() as nursery:
        print(await nursery.start(serve_rpc, server), flush=True)

trio.run(main)
"""


async def test_a_server_killed_mid_call_fails_every_pending_call_promptly():
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", SERVER_PROCESS], stdout=subprocess.PIPE, cwd=REPO, env=os.environ
    )
    try:
        with trio.fail_after(20):
            port_line = b""
            while not port_line.endswith(b"\n"):
                port_line += await process.stdout.receive_some(100)
        failures = []

        async def call(client):
            with pytest.raises(ConnectionLost):
                await client.call("hang")
            failures.append(1)

        stream = await trio.open_tcp_stream("127.0.0.1", int(port_line))
        async with RpcClient(stream) as client:
            with trio.fail_after(10):  # promptly: no call waits for a timeout of its own
                async with trio.open_nursery() as nursery:
                    for _ in range(10):
                        nursery.start_soon(call, client)
                    assert await client.call("ping") == "pong"  # so every hang request was read
                    assert client.statistics().calls_in_flight == 10
                    process.kill()
            assert len(failures) == 10
            assert client.statistics().connection_lost is not None
    finally:
        process.kill()
        await process.wait()
        await process.stdout.aclose()


# ---------------------------------------------------- the blocking client


async def with_server_in_trio(server, blocking_fn):
    """Run a Trio server here and `blocking_fn(port)` in a worker thread."""
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_rpc, server)
        with trio.fail_after(30):
            result = await trio.to_thread.run_sync(blocking_fn, port)
        nursery.cancel_scope.cancel()
    return result


async def test_blocking_client_calls_and_notifies():
    server = make_server()

    def use(port):
        with BlockingRpcClient("127.0.0.1", port, timeout=10) as client:
            client.notify("remember", "hi")
            assert client.call("add", 2, 3) == 5
            with pytest.raises(RemoteError) as caught:
                client.call("divide", 1, 0)
            assert caught.value.type == "ZeroDivisionError"
            return client.call("echo", [b"x", None])

    assert await with_server_in_trio(server, use) == [b"x", None]
    assert server.heard == ["hi"]


async def test_blocking_client_timeout_leaves_the_connection_usable():
    server = make_server()
    token = trio.lowlevel.current_trio_token()

    def use(port):
        with BlockingRpcClient("127.0.0.1", port, timeout=10) as client:
            client.timeout = 0.05  # short, yet always too short: no reply comes until released
            with pytest.raises(TimeoutError):
                client.call("wait_for_release")
            client.timeout = 10  # from here on only a hang could time out
            trio.from_thread.run(server.waiting.wait, trio_token=token)
            trio.from_thread.run_sync(server.release.set, trio_token=token)
            # The first call's method was waiting, and was woken before this request was
            # sent, so its reply is queued first: this call reads it and drops it.
            assert client.call("wait_for_release") == "released"
            return client.late_replies

    assert await with_server_in_trio(server, use) == 1


async def test_blocking_client_sees_a_closed_connection():
    server = make_server()

    def use(port):
        with BlockingRpcClient("127.0.0.1", port, timeout=10) as client:
            client._socket.sendall(encode_frame(b"\xff"))  # provoke a farewell
            with pytest.raises(ConnectionLost):  # the farewell, or a reset: a race
                client.call("echo", 1)
            with pytest.raises(ConnectionLost):
                client.call("echo", 2)

    await with_server_in_trio(server, use)
