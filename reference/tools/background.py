"""Keep Trio running across notebook cells, in a background thread.

Theory of operation
-------------------
Under `%autoawait trio` every notebook cell is its own `trio.run`: when the
cell ends, everything it started is cancelled. That is what you want for a
self-contained demonstration. To explore across cells instead (start a
server in one cell, poke it from the next ones), the server needs an event
loop that outlives the cell.

`TrioThread` runs `trio.run` in a daemon thread. Inside it, one task owns a
nursery and waits; the notebook's thread hands work to it with
`trio.from_thread`, which is thread-safe:

- `start(async_fn, *args)` starts a long-lived task in that nursery, the
  way `nursery.start` does, and returns what the task passes to
  `task_status.started(...)` (a port number, say);
- `call(async_fn, *args)` runs one async function to completion in that
  loop and returns its result (or raises its exception) in the caller's
  thread;
- `close()` cancels everything and joins the thread.

Tasks in the background thread should *return* values rather than print:
their output would land in whichever cell happens to be running.

    bg = TrioThread()
    port = bg.start(serve_echo)            # cell 1
    bg.call(ask, port, b"hello")           # cell 2, 3, ...
    bg.close()                             # last cell
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

import trio


class TrioThread:
    """A Trio event loop in a background thread that owns one nursery."""

    def __init__(self, *, name: str = "trio-background") -> None:
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._stop: trio.Event | None = None
        self._ready = threading.Event()
        self._crash: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._crash is not None:
            raise RuntimeError("the background Trio loop failed to start") from self._crash

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and self._nursery is not None

    def start(self, async_fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Start a task that keeps running; return the value it reports as started."""
        nursery = self._check_running()
        return trio.from_thread.run(nursery.start, async_fn, *args, trio_token=self._token)

    def start_soon(self, async_fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Start a task that keeps running, without waiting for it to report."""
        nursery = self._check_running()
        trio.from_thread.run_sync(nursery.start_soon, async_fn, *args, trio_token=self._token)

    def call(self, async_fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run `await async_fn(*args)` in the background loop; return its result."""
        self._check_running()
        return trio.from_thread.run(async_fn, *args, trio_token=self._token)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the loop has ended (closed, or a task crashed); True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self) -> None:
        """Cancel every background task and wait for the thread to end."""
        if self.running:
            stop = self._stop
            assert stop is not None
            trio.from_thread.run_sync(stop.set, trio_token=self._token)
        self._thread.join()
        self._nursery = None
        if self._crash is not None:
            crash, self._crash = self._crash, None
            raise RuntimeError("a background task crashed") from crash

    def __enter__(self) -> TrioThread:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_running(self) -> trio.Nursery:
        if self._crash is not None:
            raise RuntimeError("a background task crashed") from self._crash
        if not self.running or self._nursery is None:
            raise RuntimeError("this TrioThread is closed")
        return self._nursery

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # kept to re-raise in the caller's thread
            self._crash = exc
        finally:
            self._nursery = None
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()
