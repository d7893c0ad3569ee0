"""Tests for reference/routing/operations.py and protocol.py: NATS events to bytes and back.

Every event goes through `encode` and a reader of the other side, fed
whole, one byte at a time, in random pieces (fixed seeds) and by
hypothesis; then the edges: trailing garbage, the end of the stream inside
an operation, each limit at and one past its edge, arguments that do not
parse, and the bytes held while waiting. The -ERR texts are checked
against a real nats-server in test_client_server.py.
"""

from __future__ import annotations

import doctest
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference.routing.protocol
from reference.routing.operations import (
    Connect,
    Err,
    HMsg,
    HPub,
    Info,
    LocalProtocolError,
    Msg,
    Ok,
    Ping,
    Pong,
    Pub,
    Sub,
    Unsub,
    encode,
)
from reference.routing.protocol import (
    CLIENT,
    CLOSED,
    NEED_DATA,
    SERVER,
    ControlLineTooLong,
    MalformedArguments,
    MissingPayloadEnd,
    PayloadTooLarge,
    ProtocolReader,
    TruncatedInput,
    UnknownOperation,
)
from reference.tools.piecewise import cut_randomly

HEADERS = b"NATS/1.0\r\nTrace-Id: 42\r\n\r\n"
FROM_CLIENTS = [
    Connect({"verbose": False, "name": "a b", "headers": True}),
    Pub("orders.new", None, b"hello"),
    Pub("orders.new", "_INBOX.x.1", b""),
    Pub("bin", None, b"\r\n\x00PUB x 1\r\n"),
    HPub("orders.new", None, HEADERS, b"body"),
    HPub("orders.new", "reply.here", HEADERS, b""),
    Sub("orders.*", None, "1"),
    Sub("orders.>", "workers", "2"),
    Unsub("1", None),
    Unsub("2", 5),
    Unsub("2", 0),
    Ping(),
    Pong(),
]
FROM_SERVERS = [
    Info({"server_id": "N1", "max_payload": 1048576, "headers": True}),
    Msg("orders.new", "1", None, b"hello"),
    Msg("orders.new", "2", "_INBOX.x.1", b""),
    HMsg("orders.new", "1", None, HEADERS, b"body"),
    HMsg("orders.new", "1", "r", HEADERS, b"\r\n"),
    Ok(),
    Err("Unknown Protocol Operation"),
    Err(""),
    Ping(),
    Pong(),
]
SIDES = [(SERVER, FROM_CLIENTS), (CLIENT, FROM_SERVERS)]


def read_all(reader: ProtocolReader, pieces: list[bytes], *, eof: bool = True) -> list:
    """Feed each piece (only when the reader needs data) and collect every event."""
    events = []
    for piece in [*pieces, b""] if eof else pieces:
        reader.feed(piece)
        while (event := reader.next_event()) not in (NEED_DATA, CLOSED):
            events.append(event)
    if eof:
        assert event is CLOSED
    return events


def wire(events: list) -> bytes:
    return b"".join(encode(event) for event in events)


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "events"), SIDES, ids=["server-reads", "client-reads"])
def test_every_event_round_trips_whole_and_byte_by_byte(role, events):
    data = wire(events)
    assert read_all(ProtocolReader(role), [data]) == events
    assert read_all(ProtocolReader(role), [data[i : i + 1] for i in range(len(data))]) == events


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("role", "events"), SIDES, ids=["server-reads", "client-reads"])
def test_every_event_round_trips_in_random_pieces(role, events, seed):
    rng = random.Random(seed)
    shuffled = rng.sample(events, len(events)) * 3
    pieces = cut_randomly(wire(shuffled), rng, max_piece=rng.choice([2, 7, 50]))
    assert read_all(ProtocolReader(role), pieces) == shuffled, f"seed {seed}"


tokens = st.text(st.characters(codec="utf-8", exclude_characters=" \t\r\n"), min_size=1)
client_events = st.one_of(
    st.builds(Pub, tokens, st.none() | tokens, st.binary()),
    st.builds(HPub, tokens, st.none() | tokens, st.binary(), st.binary()),
    st.builds(Sub, tokens, st.none() | tokens, tokens),
    st.builds(Unsub, tokens, st.none() | st.integers(0, 10**9)),
    st.builds(Connect, st.dictionaries(st.text(), st.integers() | st.text() | st.booleans())),
    st.just(Ping()),
)


@given(st.lists(client_events, max_size=8), st.integers(1, 64), st.integers(0, 2**32))
def test_any_client_events_round_trip_in_any_pieces(events, max_piece, seed):
    pieces = cut_randomly(wire(events), random.Random(seed), max_piece)
    assert read_all(ProtocolReader(SERVER), pieces) == events


def test_operation_names_ignore_case_lines_may_end_in_lf_and_arguments_may_use_tabs():
    data = b"ping\r\nPoNg\nsub a\tq  7 \r\npub a 2\nhi\r\nunsub 7\t3\n"
    events = read_all(ProtocolReader(SERVER), [data])
    assert events == [Ping(), Pong(), Sub("a", "q", "7"), Pub("a", None, b"hi"), Unsub("7", 3)]


def test_the_info_nats_server_sends_is_read():
    line = b'INFO {"server_id":"NAQ","version":"2.9.10","max_payload":1048576} \r\n'
    assert read_all(ProtocolReader(CLIENT), [line]) == [
        Info({"server_id": "NAQ", "version": "2.9.10", "max_payload": 1048576})
    ]


def test_docstring_examples():
    assert doctest.testmod(reference.routing.protocol).failed == 0


# --- bad input --------------------------------------------------------------------------------


def first_error(role, data: bytes) -> Exception:
    reader = ProtocolReader(role, max_control_line=64, max_payload=100)
    with pytest.raises(Exception) as caught:
        read_all(reader, [data])
    with pytest.raises(type(caught.value)):  # the reader stays broken
        reader.next_event()
    return caught.value


@pytest.mark.parametrize(
    ("role", "data"),
    [
        (SERVER, b"FOO\r\n"),
        (SERVER, b"\r\n"),
        (SERVER, b"PINGX\r\n"),
        (SERVER, b"MSG a 1 2\r\nhi\r\n"),
        (SERVER, b"INFO {}\r\n"),
        (CLIENT, b"PUB a 2\r\nhi\r\n"),
        (CLIENT, b"CONNECT {}\r\n"),
    ],
)
def test_an_operation_the_other_side_sends_or_nobody_sends_is_unknown(role, data):
    error = first_error(role, encode(Ping()) + data)
    assert type(error) is UnknownOperation
    assert error.err_text == "Unknown Protocol Operation"


@pytest.mark.parametrize(
    "data",
    [b"PUB a 2\r\nhiX\r\n", b"PUB a 2\r\nhi\nPING\r\n", b"HPUB a 2 4\r\nhi!!\r!"],
)
def test_a_payload_not_followed_by_crlf_is_refused_as_nats_server_does(data):
    error = first_error(SERVER, data)
    assert type(error) is MissingPayloadEnd
    assert error.err_text == "Unknown Protocol Operation"


@pytest.mark.parametrize(
    "data",
    [
        b"PUB a\r\n",
        b"PUB a b\r\n",
        b"PUB a -1\r\n",
        b"PUB a 1 2 3\r\n",
        b"PUB a \xd9\xa1\r\n",  # an Arabic-Indic digit is a digit to str.isdigit
        b"HPUB a 5 3\r\n",
        b"HPUB a x 3\r\n",
        b"SUB a\r\n",
        b"SUB a b c d\r\n",
        b"UNSUB\r\n",
        b"UNSUB 1 x\r\n",
        b"UNSUB 1 2 3\r\n",
        b"PING x\r\n",
        b"CONNECT\r\n",
        b"CONNECT {bad\r\n",
        b"CONNECT [1, 2]\r\n",
        b'CONNECT {"a": "\xff"}\r\n',
        b"CONNECT " + b"[" * 40 + b"\r\n",
        b"SUB \xff 1\r\n",
    ],
)
def test_malformed_arguments_are_named_and_like_nats_server_get_no_err_text(data):
    error = first_error(SERVER, data)
    assert type(error) is MalformedArguments
    assert error.err_text is None


def test_deeply_nested_json_is_refused_not_a_crash():
    line = b"CONNECT " + b"[" * 100_000 + b"\r\n"
    reader = ProtocolReader(SERVER, max_control_line=200_000)
    reader.feed(line)
    with pytest.raises(MalformedArguments):
        reader.next_event()


def test_trailing_garbage_after_good_events_is_refused_after_them():
    reader = ProtocolReader(SERVER)
    reader.feed(wire(FROM_CLIENTS) + b"\x16\x03\x01 not nats\r\n")
    assert [reader.next_event() for _ in FROM_CLIENTS] == FROM_CLIENTS
    with pytest.raises(UnknownOperation):
        reader.next_event()


@pytest.mark.parametrize(
    "cut", [b"PIN", b"PUB a 5\r\n", b"PUB a 5\r\nhel", b"PUB a 5\r\nhello\r", b"PUB a 0\r\n"]
)
def test_the_stream_ending_inside_an_operation_is_truncated_input(cut):
    reader = ProtocolReader(SERVER)
    reader.feed(encode(Ping()) + cut)
    assert reader.next_event() == Ping()
    assert reader.next_event() is NEED_DATA
    reader.feed(b"")
    with pytest.raises(TruncatedInput):
        reader.next_event()


def test_a_clean_end_of_stream_is_closed_every_time_and_feeding_after_it_is_our_error():
    reader = ProtocolReader(CLIENT)
    reader.feed(b"")
    assert reader.next_event() is CLOSED
    assert reader.next_event() is CLOSED
    with pytest.raises(LocalProtocolError):
        reader.feed(b"PING\r\n")


# --- limits -----------------------------------------------------------------------------------


@pytest.mark.parametrize("ending", [b"\r\n", b"\n"])
def test_a_control_line_of_exactly_the_maximum_is_read_and_one_byte_more_is_refused(ending):
    limit = 64
    at_limit = b"SUB " + b"s" * (limit - len(b"SUB  1")) + b" 1"
    assert len(at_limit) == limit
    reader = ProtocolReader(SERVER, max_control_line=limit)
    assert read_all(reader, [at_limit + ending]) == [Sub("s" * (limit - 6), None, "1")]
    over = at_limit.replace(b"SUB ", b"SUB  ")
    error = first_error(SERVER, over + ending)
    assert type(error) is ControlLineTooLong
    assert error.err_text == "maximum control line exceeded"


def test_a_control_line_with_no_end_is_refused_once_it_passes_the_maximum():
    reader = ProtocolReader(SERVER, max_control_line=64)
    reader.feed(b"SUB " + b"s" * 60)  # 64 bytes: it could still end here
    assert reader.next_event() is NEED_DATA
    reader.feed(b"\r")  # ... and a CR does not count
    assert reader.next_event() is NEED_DATA
    reader = ProtocolReader(SERVER, max_control_line=64)
    reader.feed(b"SUB " + b"s" * 61)
    with pytest.raises(ControlLineTooLong):
        reader.next_event()


@pytest.mark.parametrize(
    ("role", "make"),
    [
        (SERVER, lambda size: encode(Pub("a", None, bytes(size)))),
        (SERVER, lambda size: encode(HPub("a", "r", HEADERS, bytes(size - len(HEADERS))))),
        (CLIENT, lambda size: encode(Msg("a", "1", None, bytes(size)))),
        (CLIENT, lambda size: encode(HMsg("a", "1", None, HEADERS, bytes(size - len(HEADERS))))),
    ],
)
def test_a_payload_of_exactly_the_maximum_is_read_and_one_byte_more_is_refused_early(role, make):
    limit = 100
    reader = ProtocolReader(role, max_payload=limit)
    [event] = read_all(reader, [make(limit)])
    assert len(event.payload) + len(getattr(event, "headers", b"")) == limit
    reader = ProtocolReader(role, max_payload=limit)
    control_line = make(limit + 1).split(b"\n")[0] + b"\n"
    reader.feed(control_line)  # refused before a byte of the payload arrives
    with pytest.raises(PayloadTooLarge) as caught:
        reader.next_event()
    assert caught.value.err_text == "Maximum Payload Violation"


def test_the_reader_holds_at_most_one_unfinished_operation_and_the_last_piece():
    rng = random.Random(5)
    max_control_line, max_payload, max_piece = 64, 1000, 300
    events = [
        Pub("s" * rng.randint(1, 50), None, rng.randbytes(rng.randint(0, 1000))) for _ in range(60)
    ]
    reader = ProtocolReader(SERVER, max_control_line=max_control_line, max_payload=max_payload)
    most = 0
    for piece in cut_randomly(wire(events), rng, max_piece):
        reader.feed(piece)
        most = max(most, reader.buffered)
        while reader.next_event() is not NEED_DATA:
            pass
    assert most <= (max_control_line + 2) + (max_payload + 2) + max_piece
    assert most > max_payload  # the bound is not trivially met


# --- encoding ---------------------------------------------------------------------------------


def test_encode_writes_what_nats_server_writes():
    assert encode(Msg("a", "1", "r", b"hi")) == b"MSG a 1 r 2\r\nhi\r\n"
    assert encode(Msg("a", "1", None, b"")) == b"MSG a 1 0\r\n\r\n"
    assert encode(HPub("a", None, b"NATS/1.0\r\n\r\n", b"hi")) == (
        b"HPUB a 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
    )
    assert encode(Sub("a", "q", "9")) == b"SUB a q 9\r\n"
    assert encode(Unsub("9", 2)) == b"UNSUB 9 2\r\n"
    assert encode(Err("Invalid Subject")) == b"-ERR 'Invalid Subject'\r\n"
    assert encode(Connect({"verbose": False})) == b'CONNECT {"verbose":false}\r\n'


@pytest.mark.parametrize(
    "event",
    [
        Pub("two words", None, b""),
        Pub("", None, b""),
        Pub("a", "r\r\n", b""),
        Sub("a", "q\t", "1"),
        Sub("a", None, ""),
        Unsub("1", -1),
        Err("two\r\nlines"),
        "PING",
    ],
)
def test_encode_refuses_what_the_wire_cannot_carry(event):
    with pytest.raises(LocalProtocolError):
        encode(event)
