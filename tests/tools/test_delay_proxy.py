"""The delay proxy: latency without a bandwidth limit, order kept, EOF forwarded."""

import random
import time
from functools import partial

import trio
import trio.testing

from reference.tools.delay_proxy import delay_forward, serve_delay_proxy


async def test_each_chunk_arrives_exactly_one_delay_later(autojump_clock):
    source_in, source = trio.testing.memory_stream_one_way_pair()
    sink, sink_out = trio.testing.memory_stream_one_way_pair()
    arrivals = []

    async def send():
        for n in range(5):
            await source_in.send_all(b"chunk %d;" % n)
            await trio.sleep(0.0003)  # much less than the delay: the chunks overlap in flight
        await source_in.aclose()

    async def receive():
        while data := await sink_out.receive_some():
            arrivals.append((round(trio.current_time(), 6), data))

    async def forward():
        await delay_forward(source, sink, 0.001)
        await sink.aclose()  # a one-way stream cannot half-close

    async with trio.open_nursery() as nursery:
        nursery.start_soon(forward)
        nursery.start_soon(send)
        nursery.start_soon(receive)
    assert arrivals == [(round(0.001 + n * 0.0003, 6), b"chunk %d;" % n) for n in range(5)]


async def test_a_stream_passes_through_intact_and_in_order(autojump_clock):
    rng = random.Random(7)
    data = rng.randbytes(200_000)
    client, proxy_left = trio.testing.memory_stream_pair()
    proxy_right, server = trio.testing.memory_stream_pair()
    received = bytearray()

    async def send():
        for start in range(0, len(data), 1000):
            await client.send_all(data[start : start + 1000])
            await trio.sleep(rng.random() / 1000)
        await client.send_eof()

    async def receive():
        while chunk := await server.receive_some():
            received.extend(chunk)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(delay_forward, proxy_left, proxy_right, 0.01)
        nursery.start_soon(send)
        nursery.start_soon(receive)
    assert bytes(received) == data


async def test_a_sink_that_stops_reading_stops_the_proxy_reading(autojump_clock):
    source_in, source = trio.testing.lockstep_stream_pair()  # send_all waits for the reader
    sink, _never_read = trio.testing.lockstep_stream_pair()
    sent = 0

    async def send():
        nonlocal sent
        while True:
            await source_in.send_all(b"x" * 100)
            sent += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(delay_forward, source, sink, 0.001, max_queued_chunks=8))
        nursery.start_soon(send)
        await trio.sleep(5)  # thousands of delays: the proxy has long since given up reading
        # Queued chunks, plus one being written and one being read.
        assert sent <= 8 + 2
        nursery.cancel_scope.cancel()


async def echo(stream):
    while data := await stream.receive_some():
        await stream.send_all(data)


async def test_over_tcp_a_round_trip_takes_at_least_two_delays():
    delay = 0.005
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, echo, 0, host="127.0.0.1"))
        echo_port = listeners[0].socket.getsockname()[1]
        proxy_port = await nursery.start(serve_delay_proxy, echo_port, delay)
        with trio.fail_after(10):
            async with await trio.open_tcp_stream("127.0.0.1", proxy_port) as stream:
                for n in range(3):
                    message = b"ping %d" % n
                    start = time.perf_counter()
                    await stream.send_all(message)
                    reply = b""
                    while len(reply) < len(message):
                        reply += await stream.receive_some()
                    # Timers fire late, never early: this lower bound always holds.
                    assert time.perf_counter() - start >= 2 * delay
                    assert reply == message
                await stream.send_eof()
                assert await stream.receive_some() == b""  # EOF went through and back
        nursery.cancel_scope.cancel()


async def test_a_proxy_to_nowhere_closes_the_client_and_keeps_serving():
    async with trio.open_nursery() as nursery:
        unused = trio.socket.socket()
        await unused.bind(("127.0.0.1", 0))
        dead_port = unused.getsockname()[1]  # bound, not listening: connections are refused
        proxy_port = await nursery.start(serve_delay_proxy, dead_port, 0.001)
        with trio.fail_after(10):
            for _ in range(2):
                async with await trio.open_tcp_stream("127.0.0.1", proxy_port) as stream:
                    try:
                        data = await stream.receive_some()
                    except trio.BrokenResourceError:  # a reset is as good as an EOF here
                        data = b""
                    assert data == b""
        unused.close()
        nursery.cancel_scope.cancel()


async def test_a_tap_sees_every_byte_each_way_in_order():
    seen = {"to server": b"", "to client": b""}

    def tap(direction, chunk):
        seen[direction] += chunk

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, echo, 0, host="127.0.0.1"))
        echo_port = listeners[0].socket.getsockname()[1]
        proxy_port = await nursery.start(partial(serve_delay_proxy, echo_port, 0, tap=tap))
        with trio.fail_after(10):
            async with await trio.open_tcp_stream("127.0.0.1", proxy_port) as stream:
                sent = b"".join(b"secret %d;" % n for n in range(100))
                await stream.send_all(sent)
                await stream.send_eof()
                reply = b""
                while data := await stream.receive_some():
                    reply += data
        nursery.cancel_scope.cancel()
    assert reply == sent
    assert seen == {"to server": sent, "to client": sent}
