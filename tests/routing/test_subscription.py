"""Tests for reference/routing/subscription.py: bounded pending messages, max_msgs, headers."""

from __future__ import annotations

import doctest

import pytest
import trio

import reference.routing.subscription
from reference.routing.operations import Msg
from reference.routing.subscription import Subscription, decode_headers, encode_headers


def subscription(limit: int = 3) -> tuple[Subscription, list]:
    calls = []
    made = Subscription("a.*", None, "1", limit, lambda sub, n: calls.append((sub.sid, n)))
    return made, calls


def message(number: int) -> Msg:
    return Msg("a.b", "1", None, b"%d" % number)


def test_docstring_examples():
    assert doctest.testmod(reference.routing.subscription).failed == 0


def test_messages_past_the_pending_limit_are_dropped_and_counted():
    sub, _ = subscription(limit=3)
    for number in range(5):
        sub._deliver(message(number))
    assert (sub.pending, sub.dropped, sub.received) == (3, 2, 5)
    assert [sub.next_message_nowait().payload for _ in range(3)] == [b"0", b"1", b"2"]
    with pytest.raises(trio.WouldBlock):
        sub.next_message_nowait()


async def test_iteration_waits_for_messages_and_ends_at_max_msgs(autojump_clock):
    sub, calls = subscription(limit=10)
    await sub.unsubscribe(max_msgs=2)
    assert calls == [("1", 2)]  # the client was asked to send UNSUB 1 2
    sub.max_msgs = 2  # what the client does on that call
    got = []

    async def read_all():
        got.extend([m.payload async for m in sub])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        await trio.sleep(1)
        sub._deliver(message(0))
        await trio.sleep(1)
        assert got == []  # still waiting for the second
        sub._deliver(message(1))
    assert got == [b"0", b"1"] and sub.received_all
    with pytest.raises(trio.EndOfChannel):
        sub.next_message_nowait()


async def test_an_ended_subscription_does_not_ask_the_client_again():
    sub, calls = subscription()
    sub._end()
    await sub.unsubscribe()
    assert calls == []
    assert [m async for m in sub] == []


def test_headers_round_trip_and_refuse_what_would_break_the_block():
    block = encode_headers({"Trace-Id": "42", "Empty": ""})
    assert decode_headers(block) == {"Trace-Id": "42", "Empty": ""}
    assert decode_headers(b"NATS/1.0 503\r\n\r\n") == {}
    for name, value in [("Bad:Name", "x"), ("Bad Name", "x"), ("", "x"), ("Ok", "two\r\nlines")]:
        with pytest.raises(ValueError):
            encode_headers({name: value})
    with pytest.raises(ValueError):
        decode_headers(b"HTTP/1.1 200 OK\r\n\r\n")
