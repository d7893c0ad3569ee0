"""TrioThread keeps a Trio loop and its tasks alive between calls from another thread."""

import functools
import threading

import pytest
import trio

from reference.tools.background import TrioThread
from reference.wire.framing import MessageStream


async def echo_handler(stream):
    messages = MessageStream(stream)
    async for message in messages:
        await messages.send_message(message)


async def serve_echo(*, task_status=trio.TASK_STATUS_IGNORED):
    serve = functools.partial(trio.serve_tcp, echo_handler, 0, host="127.0.0.1")
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(serve)
        task_status.started(listeners[0].socket.getsockname()[1])


async def ask(port, payload):
    with trio.fail_after(5):
        stream = MessageStream(await trio.open_tcp_stream("127.0.0.1", port))
        async with stream:
            await stream.send_message(payload)
            return await stream.receive_message()


def test_a_server_started_in_one_call_answers_in_later_calls():
    with TrioThread() as bg:
        port = bg.start(serve_echo)
        assert bg.call(ask, port, b"hello") == b"hello"
        assert bg.call(ask, port, b"again") == b"again"
        assert threading.current_thread() is threading.main_thread()


def test_call_returns_results_and_raises_exceptions_in_the_caller():
    async def divide(a, b):
        await trio.sleep(0)
        return a / b

    with TrioThread() as bg:
        assert bg.call(divide, 6, 3) == 2
        with pytest.raises(ZeroDivisionError):
            bg.call(divide, 1, 0)
        assert bg.running, "an exception in call() must not stop the loop"


def test_close_cancels_background_tasks_and_refuses_more_work():
    cancelled = threading.Event()

    async def forever():
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()

    bg = TrioThread()
    bg.start_soon(forever)
    bg.call(trio.sleep, 0)  # let it start
    bg.close()
    assert cancelled.is_set()
    assert not bg.running
    with pytest.raises(RuntimeError, match="closed"):
        bg.call(trio.sleep, 0)
    bg.close()  # closing twice is harmless


def test_a_crashed_background_task_is_reported():
    async def crash():
        await trio.sleep(0)
        raise ValueError("boom")

    bg = TrioThread()
    bg.start_soon(crash)
    assert bg.join(timeout=30), "a crash must end the loop"
    assert not bg.running
    with pytest.raises(RuntimeError, match="crashed"):
        bg.call(trio.sleep, 0)
    with pytest.raises(RuntimeError, match="crashed") as info:
        bg.close()
    assert "boom" in repr(info.value.__cause__)
