"""The RPC wire format on its own: encoding, decoding, and rejecting malformed messages."""

from contextlib import suppress

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.rpc.wire import (
    ErrorReply,
    Notification,
    ProtocolError,
    Request,
    Result,
    decode_message,
    encode_message,
    encode_reply,
)
from reference.wire.framing import FrameTooLarge


@pytest.mark.parametrize(
    "message",
    [
        Request(0, "add", [1, 2]),
        Request(2**64 - 1, "echo", [{"nested": [b"bytes", None, 1.5]}]),
        Notification("remember", ["x"]),
        Result(7, None),
        Result(7, [1, "two"]),
        ErrorReply(7, "ValueError", "bad"),
        ErrorReply(None, "ProtocolError", "goodbye"),
    ],
)
def test_every_message_kind_survives_the_wire(message):
    assert decode_message(encode_message(message)) == message


def test_the_wire_format_is_a_plain_cbor_map():
    assert cbor2.loads(encode_message(Request(7, "add", [2, 3]))) == {
        "id": 7,
        "method": "add",
        "params": [2, 3],
    }
    assert cbor2.loads(encode_message(Notification("log", []))) == {"method": "log", "params": []}


def test_params_may_be_left_out():
    assert decode_message(cbor2.dumps({"id": 1, "method": "ping"})) == Request(1, "ping", [])


@pytest.mark.parametrize(
    ("body", "answerable"),
    [
        (b"\xff", False),  # not CBOR
        (cbor2.dumps([1, "add", [1, 2]]), False),  # not a map
        (cbor2.dumps({"id": 1, "method": "add"}) + b"\x00", False),  # trailing bytes
        (cbor2.dumps({"id": -1, "method": "add"}), False),
        (cbor2.dumps({"id": 2**64, "method": "add"}), False),
        (cbor2.dumps({"id": True, "method": "add"}), False),
        (cbor2.dumps({"id": "7", "method": "add"}), False),
        (cbor2.dumps({"id": 1}), False),  # neither method, result nor error
        (cbor2.dumps({"id": 1, "result": 1, "error": {}}), False),
        (cbor2.dumps({"result": 1}), False),  # a result without an id
        (cbor2.dumps({"id": 1, "error": "bad"}), False),
        (cbor2.dumps({"id": 1, "error": {"type": 1, "message": "m"}}), False),
        (cbor2.dumps({"id": 1, "method": 7}), True),
        (cbor2.dumps({"id": 1, "method": "add", "params": {"a": 1}}), True),
        (cbor2.dumps({"id": 1, "method": "add", "result": 3}), True),
        (cbor2.dumps({"method": 7}), False),  # a bad notification cannot be answered
        (b"\x81" * 100 + b"\x00", False),  # nested deeper than MAX_NESTING
    ],
)
def test_malformed_messages_raise_protocol_error(body, answerable):
    with pytest.raises(ProtocolError) as caught:
        decode_message(body)
    assert (caught.value.call_id is not None) == answerable


def test_duplicate_keys_are_rejected():
    duplicate = b"\xa2" + cbor2.dumps("id") + b"\x01" + cbor2.dumps("id") + b"\x02"
    with pytest.raises(ProtocolError):
        decode_message(duplicate)


@given(st.binary(max_size=64))
def test_decoding_arbitrary_bytes_raises_nothing_but_protocol_error(data):
    with suppress(ProtocolError):
        decode_message(data)


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.binary(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["id", "method", "params", "result", "error", "type"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(["id", "method", "params", "result", "error"]), cbor_values))
def test_decoding_arbitrary_maps_gives_a_message_or_protocol_error(body):
    try:
        message = decode_message(cbor2.dumps(body))
    except ProtocolError:
        return
    assert decode_message(encode_message(message)) == message


def test_a_reply_that_cannot_be_encoded_becomes_an_error_reply_saying_why():
    unencodable = decode_message(encode_reply(Result(3, object()), 1000)[4:])
    assert isinstance(unencodable, ErrorReply)
    assert (unencodable.id, unencodable.type) == (3, "CBOREncodeError")
    too_large = decode_message(encode_reply(Result(4, bytes(2000)), 1000)[4:])
    assert isinstance(too_large, ErrorReply)
    assert (too_large.id, too_large.type) == (4, FrameTooLarge.__name__)
    assert "could not be sent" in too_large.message


def test_a_reply_that_fits_is_framed_unchanged():
    reply = Result(5, [1, "two"])
    frame = encode_reply(reply, 1000)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert decode_message(frame[4:]) == reply
