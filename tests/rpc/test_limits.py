"""The RPC server under abuse: one peer cannot end the server, starve it, or make it hold memory.

Each test here is one way a careless or hostile peer hurt the server, and
the limit that stops it (reference/rpc/limits.py, reference/rpc/server.py):
errors contained in their connection, a checkpoint per call, calls of a
gone peer cancelled, idle and frame timeouts, server-wide caps. They run
in memory on virtual time (`autojump_clock`); where a test needs real
sockets it waits on events, never on the clock.
"""

import logging
import tracemalloc
from functools import partial

import cbor2
import pytest
import trio
import trio.testing

import reference.rpc.server
from reference.rpc.blocking import BlockingRpcClient
from reference.rpc.client import RpcClient
from reference.rpc.limits import DEFAULT_FRAME_TIMEOUT, DEFAULT_IDLE_TIMEOUT
from reference.rpc.server import serve_rpc
from reference.rpc.wire import (
    SERVER_BUSY,
    ConnectionLost,
    Notification,
    RemoteError,
    Request,
    decode_message,
    encode_message,
)
from reference.wire.framing import MessageStream, encode_frame
from tests.rpc.test_client_server import connected, make_server, raw_connection, read_to_end

HUGE = 10**5000  # str() and repr() of an int over 4,300 digits raise ValueError

# ------------------------------------------------ one connection, never the server


async def test_an_error_whose_message_cannot_be_printed_is_still_answered():
    server = make_server()

    @server.method
    def raise_huge():
        raise ValueError(HUGE)

    async with connected(server) as client:
        with pytest.raises(RemoteError) as caught:
            await client.call("raise_huge")
        assert caught.value.type == "ValueError"
        assert "could not be turned into text" in caught.value.message
        assert await client.call("add", 1, 2) == 3


@pytest.mark.parametrize("bad_id", [-1, 2**64, "seven", 1.5, [7]])
async def test_an_id_out_of_bounds_gets_a_farewell_that_names_it_briefly(bad_id):
    server = make_server()
    async with raw_connection(server) as bad:
        await bad.send_message(cbor2.dumps({"id": bad_id, "method": "add", "params": [1, 2]}))
        [farewell] = await read_to_end(bad)
    assert (farewell.id, farewell.type) == (None, "ProtocolError")
    assert "id must be an integer from 0 to 2**64-1" in farewell.message
    assert len(farewell.message) < 120


async def fake_server_sends(reply: bytes, stream: trio.abc.Stream) -> None:
    """Read one request, answer it with `reply` (a CBOR body), then wait for the close."""
    messages = MessageStream(stream)
    await messages.receive_message()
    await messages.send_message(reply)
    await messages.stream.receive_some()


HOSTILE_REPLIES = [
    cbor2.dumps({"id": HUGE, "result": 1}),  # a 2 KB bignum
    cbor2.dumps({"id": 2**64, "result": 1}),
    cbor2.dumps({"id": "0", "result": 1}),
    b"\x9a\x00\x0f\x42\x40" + b"\xa0" * 1_000_000,  # a million empty maps
]


@pytest.mark.parametrize("reply", HOSTILE_REPLIES, ids=["huge", "2**64", "text", "maps"])
async def test_the_trio_client_turns_a_hostile_reply_into_connection_lost(reply):
    client_end, server_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fake_server_sends, reply, server_end)
        async with RpcClient(client_end) as client:
            with pytest.raises(ConnectionLost, match="bad message from the server"):
                await client.call("echo", 1)


@pytest.mark.parametrize("reply", HOSTILE_REPLIES, ids=["huge", "2**64", "text", "maps"])
async def test_the_blocking_client_turns_a_hostile_reply_into_connection_lost(reply):
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            partial(trio.serve_tcp, partial(fake_server_sends, reply), 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]

        def call() -> None:
            with (
                BlockingRpcClient("127.0.0.1", port, timeout=10) as client,
                pytest.raises(ConnectionLost, match="bad message from the server"),
            ):
                client.call("echo", 1)

        with trio.fail_after(30):
            await trio.to_thread.run_sync(call)
        nursery.cancel_scope.cancel()


async def test_an_unexpected_error_ends_its_connection_only_and_is_logged(monkeypatch, caplog):
    real_encode_reply = reference.rpc.server.encode_reply

    def encode_reply_with_a_bug(reply, max_frame_size):
        if getattr(reply, "value", None) == "trip":
            raise RuntimeError("a bug in the server")
        return real_encode_reply(reply, max_frame_size)

    monkeypatch.setattr(reference.rpc.server, "encode_reply", encode_reply_with_a_bug)
    server = make_server()

    async def client_on(port):
        return RpcClient(await trio.open_tcp_stream("127.0.0.1", port))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_rpc, server)
            async with await client_on(port) as bystander, await client_on(port) as victim:
                assert await bystander.call("echo", 1) == 1
                with pytest.raises(ConnectionLost):
                    await victim.call("echo", "trip")
                assert await bystander.call("echo", 2) == 2
            async with await client_on(port) as newcomer:
                assert await newcomer.call("echo", 3) == 3
            nursery.cancel_scope.cancel()
    [record] = [r for r in caplog.records if r.name == "reference.rpc.server"]
    assert record.levelno == logging.ERROR
    assert "a bug in the server" in record.exc_text
    assert server.statistics().connections_failed == 1


# --------------------------------------------------------- no starvation


async def test_a_flood_of_notifications_to_a_slow_method_does_not_stall_another_client(
    autojump_clock,
):
    server = make_server()
    flood_began = trio.Event()
    handled = 0

    @server.method
    def slow_log(line):  # 3 ms of CPU each: the clock moves only because this method moves it
        nonlocal handled
        handled += 1
        autojump_clock.jump(0.003)
        flood_began.set()

    flood = 1000  # 3 s of work, arriving in one chunk
    notification = encode_frame(encode_message(Notification("slow_log", ["a line"])))
    async with connected(server) as polite, raw_connection(server) as flooder:
        await flooder.stream.send_all(notification * flood)
        await flood_began.wait()
        asked_at = trio.current_time()
        assert await polite.call("echo", "still here") == "still here"
        waited = trio.current_time() - asked_at
        assert handled < flood / 10  # answered long before the flood was worked through
    assert waited < 0.05  # a few 3 ms turns of the flooder, not 3 s


# ------------------------------------------------------ work for peers gone


async def test_requests_of_a_peer_that_is_gone_are_not_run():
    server = make_server(max_concurrent_requests=4)
    ran = 0

    @server.method
    def count():
        nonlocal ran
        ran += 1

    requests = b"".join(encode_frame(encode_message(Request(n, "count", []))) for n in range(100))
    client_end, server_end = trio.testing.lockstep_stream_pair()  # nothing buffered between
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_connection, server_end)
        nursery.start_soon(client_end.send_all, requests)  # and never read a reply
        await trio.testing.wait_all_tasks_blocked()
        stalled_at = ran
        assert stalled_at < 20  # the replies that fit in the server's queues
        await client_end.aclose()
        with trio.fail_after(5):
            while server.statistics().connections_open:
                await trio.sleep(0)
    # The rest of the 100, read and never answered, did not run: at most the calls of the
    # reader's slice (it yields every `max_concurrent_requests` calls) ran before it saw.
    assert ran <= stalled_at + server.max_concurrent_requests, (ran, stalled_at)


async def test_calls_running_for_a_peer_that_is_gone_are_cancelled():
    server = make_server()
    cancelled = trio.Event()

    @server.method
    async def long_call():
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()

    client_end, server_end = trio.testing.lockstep_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_connection, server_end)
        messages = MessageStream(client_end)
        await messages.send_message(encode_message(Request(0, "echo", [bytes(100)])))
        await messages.send_message(encode_message(Request(1, "long_call", [])))
        await trio.testing.wait_all_tasks_blocked()  # echo's reply waits for us to read it
        await client_end.aclose()
        with trio.fail_after(5):
            await cancelled.wait()


# ------------------------------------------------------------------ timeouts


async def test_a_silent_connection_is_closed_after_the_idle_timeout(autojump_clock):
    server = make_server()
    async with raw_connection(server) as silent:
        with trio.fail_after(2 * DEFAULT_IDLE_TIMEOUT):
            [farewell] = await read_to_end(silent)
    assert (farewell.id, farewell.type) == (None, "IdleTimeout")
    assert trio.current_time() == DEFAULT_IDLE_TIMEOUT


async def test_a_connection_waiting_for_a_call_is_not_idle(autojump_clock):
    server = make_server(idle_timeout=10)
    async with connected(server) as client:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.call, "wait_for_release")  # silent 100 s, a call running
            await trio.sleep(100)
            server.release.set()
        await trio.sleep(5)
        assert await client.call("echo", 1) == 1  # ...which ended 5 s ago: not yet idle
        await trio.sleep(9)
        assert await client.call("echo", 2) == 2  # each request starts the idle clock again
    async with raw_connection(server) as silent:
        start = trio.current_time()
        [farewell] = await read_to_end(silent)
        assert (trio.current_time() - start, farewell.type) == (10, "IdleTimeout")


async def test_a_slowloris_frame_is_cut_off_and_its_memory_released(autojump_clock):
    server = make_server()
    parked = 20
    tracemalloc.start()
    try:
        async with trio.open_nursery() as nursery:
            ends = []
            for _ in range(parked):  # each announces 1 MiB, sends half, then a byte a second
                client_end, server_end = trio.testing.memory_stream_pair()
                nursery.start_soon(server.serve_connection, server_end)
                await client_end.send_all((2**20 - 4).to_bytes(4, "big") + bytes(2**19))
                ends.append(client_end)
            await trio.testing.wait_all_tasks_blocked()
            held, _ = tracemalloc.get_traced_memory()
            assert held > parked * 2**19
            for _ in range(int(DEFAULT_FRAME_TIMEOUT) - 1):
                await trio.sleep(1)
                for end in ends:
                    await end.send_all(b"\x00")
            assert server.statistics().connections_open == parked
            await trio.sleep(2)
            assert server.statistics().connections_open == 0
            farewells = [decode_message(await MessageStream(end).receive_message()) for end in ends]
            assert {(f.id, f.type) for f in farewells} == {(None, "FrameTimeout")}
            del farewells
            released, _ = tracemalloc.get_traced_memory()
            nursery.cancel_scope.cancel()
    finally:
        tracemalloc.stop()
    assert released < held - parked * 2**19


# -------------------------------------------------------- server-wide caps


async def test_a_connection_over_the_cap_gets_a_farewell_saying_the_server_is_busy():
    server = make_server(max_connections=2)
    async with connected(server) as first, connected(server) as second:
        assert await first.call("echo", 1) == await second.call("echo", 1) == 1
        async with raw_connection(server) as third:
            with trio.fail_after(10):
                [farewell] = await read_to_end(third)
        assert (farewell.id, farewell.type) == (None, SERVER_BUSY)
        assert "2 connections" in farewell.message
        assert server.statistics().connections_refused == 1
    async with connected(server) as later:  # a place came free
        assert await later.call("echo", 2) == 2


async def test_calls_over_the_server_wide_cap_are_refused_with_server_busy(autojump_clock):
    server = make_server(max_concurrent_requests=8, max_calls_in_flight=10)
    async with connected(server) as greedy, connected(server) as other:
        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(greedy.call, "wait_for_release")
            await trio.testing.wait_all_tasks_blocked()
            assert await other.call("echo", 1) == 1  # 9 in flight: still room
            outcomes = []

            async def call_and_keep_outcome():
                try:
                    outcomes.append(await other.call("wait_for_release"))
                except RemoteError as error:
                    outcomes.append(error.type)

            for _ in range(4):
                nursery.start_soon(call_and_keep_outcome)
            await trio.testing.wait_all_tasks_blocked()
            assert outcomes == [SERVER_BUSY] * 2  # 8 + 2 = 10 running; the other two refused
            await other.notify("remember", "over the cap")
            await trio.testing.wait_all_tasks_blocked()
            assert server.heard == []
            assert server.statistics().notifications_refused == 1
            server.release.set()
        assert sorted(outcomes) == [SERVER_BUSY] * 2 + ["released"] * 2
        assert await other.call("echo", 2) == 2
