"""The same raw bytes sent to our broker and to a real nats-server get the same replies.

Each script goes over a fresh TCP connection to each server after its
INFO line; a final PING makes the PONG a barrier (both servers handle a
connection's operations in order), or the server closes the connection.
Messages from a second connection would race with the script's own, so
every script publishes to its own subscriptions.
"""

from __future__ import annotations

import json

import pytest
import trio

from reference.routing.broker import serve_broker
from reference.routing.nats_server import run_nats_server
from tests.routing.test_subjects import CASES
from tests.system_packages import require_nats_server


def _matching_script() -> bytes:
    lines = []
    for sid, (filter_text, subject, _) in enumerate(CASES, 1):
        lines.append(f"SUB {filter_text} {sid}\r\nPUB {subject} 2\r\n{sid:02d}\r\nUNSUB {sid}\r\n")
    return "".join(lines).encode()


QUIET = {"verbose": False, "pedantic": False}
SCRIPTS = {
    "wildcards match as nats-server's": (QUIET, _matching_script()),
    "verbose": ({}, b"SUB a 1\r\nPUB a 1\r\nx\r\nUNSUB 1\r\nPUB a 0\r\n\r\n"),
    "bad filters": (QUIET, b"SUB a..b 1\r\nSUB a.>.b 2\r\nSUB .a 3\r\nSUB a. 4\r\nSUB a 5\r\n"),
    "pedantic publish": ({"verbose": False}, b"PUB a.* 1\r\nx\r\nPUB a..b 1\r\nx\r\n"),
    "unsub max": (QUIET, b"SUB a 1\r\nUNSUB 1 2\r\n" + b"PUB a 1\r\nx\r\n" * 4),
    "queue group": (QUIET, b"SUB a.* q 1\r\nPUB a.b r 2\r\nhi\r\nPUB a 1\r\nx\r\n"),
    "repeated sid": (QUIET, b"SUB a 1\r\nSUB b 1\r\nPUB b 1\r\nx\r\nPUB a 1\r\ny\r\nUNSUB 7\r\n"),
    "headers": (
        {**QUIET, "headers": True},
        b"SUB a 1\r\nHPUB a 18 20\r\nNATS/1.0\r\nK: v\r\n\r\nhi\r\n",
    ),
    "headers from a client that did not ask for them": (
        QUIET,
        b"SUB a 1\r\nHPUB a 18 20\r\nNATS/1.0\r\nK: v\r\n\r\nhi\r\n",
    ),
    "echo off": ({**QUIET, "echo": False}, b"SUB a 1\r\nPUB a 1\r\nx\r\n"),
    "unknown operation": (QUIET, b"FOO bar\r\n"),
    "payload too large": (QUIET, b"PUB a 2000000\r\n"),
    "control line too long": (QUIET, b"SUB " + b"a" * 5000 + b" 1\r\n"),
    "payload without its CRLF": (QUIET, b"PUB a 1\r\nxy\r\n"),
}


async def replies(port: int, options: dict, script: bytes) -> bytes:
    """What a server sends back to `script`, up to the final PONG or its close."""
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        received = bytearray()
        while b"\r\n" not in received:
            received += await stream.receive_some(65536)
        del received[: received.index(b"\r\n") + 2]  # the INFO line differs, of course
        connect_line = b"CONNECT " + json.dumps(options).encode() + b"\r\n"
        await stream.send_all(connect_line + script + b"PING\r\n")
        while not received.endswith(b"PONG\r\n"):
            try:
                data = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                break  # reset: the server closed while our bytes were still arriving
            if not data:
                break
            received += data
        return bytes(received)


@pytest.mark.parametrize("name", SCRIPTS)
async def test_our_broker_replies_as_nats_server_does(name):
    require_nats_server()
    options, script = SCRIPTS[name]
    with trio.fail_after(20):
        async with run_nats_server() as server, serve_broker(port=0) as broker:
            expected = await replies(server.port, options, script)
            assert await replies(broker.port, options, script) == expected
