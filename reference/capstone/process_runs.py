"""The chat as real processes, driven from Trio: a broker, members, their JSON lines.

Theory of operation
-------------------
A test, the benchmark and the chapter all need the same thing: start
``python -m reference.capstone broker`` and a few ``... member --json``
processes on 127.0.0.1, type into the members, read what they show, kill
one with SIGKILL and start it again. `open_chat` does that::

    async with open_chat(directory, {"alice": "r1", "bob": "r1"}) as chat:
        alice, bob = chat.members["alice"], chat.members["bob"]
        await alice.post("hello")
        await bob.wait_shown(1)
        alice.kill()                        # SIGKILL: no goodbye, no flush
        await chat.restart("alice")

A reader task per member parses each JSON line of its output into
`events` (and the time it was read into `read_at`, for latencies);
every wait (`expect`, `wait_shown`) is "until a line says so", so the
caller puts a deadline around it (`trio.fail_after`) and nothing waits a
fixed time. A command's answer is found by its position: the
first matching event after the command was written. The credentials come
from `credentials.setup` unless the directory already has them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from reference.capstone.credentials import setup

PROJECT = Path(__file__).resolve().parents[2]
MAX_LINE = 1024 * 1024
STOP_TIMEOUT = 5.0  # seconds a member gets to stop after its input ends


class ProcessFailed(RuntimeError):
    """A process ended while something was waiting for a line from it."""


class LineProcess:
    """A child process whose output lines are JSON objects, collected in `events`."""

    def __init__(self, name: str, process: trio.Process) -> None:
        self.name = name
        self.process = process
        self.events: list[dict] = []
        self.read_at: list[float] = []  # trio.current_time() when each event was read
        self.ended = False
        self._changed = trio.lowlevel.ParkingLot()

    async def read_lines(self) -> None:
        buffer = b""
        async for chunk in self.process.stdout:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                self.events.append(json.loads(line))
                self.read_at.append(trio.current_time())
            self._changed.unpark_all()
            if len(buffer) > MAX_LINE:
                raise ProcessFailed(f"{self.name} wrote a line over {MAX_LINE} bytes")
        self.ended = True
        self._changed.unpark_all()

    async def expect(self, event: str, after: int = 0, **fields: object) -> dict:
        """The first event named `event` (with these `fields`) at or after index `after`."""
        while True:
            for found in self.events[after:]:
                if found.get("event") == event and all(
                    found.get(k) == v for k, v in fields.items()
                ):
                    return found
            after = max(after, len(self.events))
            if self.ended:
                raise ProcessFailed(f"{self.name} ended (exit {self.process.returncode})")
            await self._changed.park()

    async def first_line(self) -> dict:
        await self.wait_until(lambda: bool(self.events))
        return self.events[0]

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            if self.ended:
                raise ProcessFailed(f"{self.name} ended (exit {self.process.returncode})")
            await self._changed.park()


class MemberProcess(LineProcess):
    """One ``member --json`` process; its input is the terminal's commands."""

    @property
    def shown(self) -> list[dict]:
        """Every message this process printed as shown, restored ones included, in order."""
        return [event for event in self.events if event["event"] == "shown"]

    async def command(self, line: str, answer: str, **fields: object) -> dict:
        after = len(self.events)
        await self.process.stdin.send_all(line.encode() + b"\n")
        return await self.expect(answer, after, **fields)

    async def post(self, text: str) -> list:
        """Post `text`; the new message's id."""
        return (await self.command(text, "posted"))["id"]

    async def reply(self, number: int, text: str) -> list:
        """Reply to the message shown as [number]; the reply's id."""
        return (await self.command(f"/reply {number} {text}", "posted"))["id"]

    async def history(self) -> list[dict]:
        return (await self.command("/history", "history"))["shown"]

    async def sync(self) -> None:
        await self.command("/sync", "synced")

    async def wait_shown(self, count: int) -> None:
        await self.wait_until(lambda: len(self.shown) >= count)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to write or say anything more."""
        self.process.send_signal(signal.SIGKILL)


class Chat:
    """A broker process and member processes; `members[name]` is the current process of each."""

    def __init__(self, directory: Path, rooms: dict[str, str], nursery: trio.Nursery) -> None:
        self.directory = directory
        self.rooms = rooms
        self.broker: LineProcess | None = None
        self.broker_port: int | None = None
        self.members: dict[str, MemberProcess] = {}
        self._nursery = nursery

    async def start_broker(self) -> None:
        command = ["broker", "--dir", str(self.directory), "--port", "0"]
        self.broker = await self._start(LineProcess, "broker", command)
        self.broker_port = (await self.broker.first_line())["listening"][1]

    async def start_member(self, name: str) -> MemberProcess:
        command = ["member", "--dir", str(self.directory), "--name", name]
        command += ["--room", self.rooms[name], "--broker-port", str(self.broker_port), "--json"]
        member = await self._start(MemberProcess, name, command)
        self.members[name] = member
        await member.expect("ready")
        return member

    async def restart(self, name: str) -> MemberProcess:
        """Wait for the old process of `name` to be gone, then start it again."""
        await self.members[name].process.wait()
        return await self.start_member(name)

    async def stop(self) -> None:
        """End every member's input (each stops after a /sync), then stop the broker."""
        for member in self.members.values():
            if member.process.returncode is None:
                await member.process.stdin.aclose()
        with trio.move_on_after(STOP_TIMEOUT):
            for member in self.members.values():
                await member.process.wait()
        processes = [member.process for member in self.members.values()]
        for process in processes + ([self.broker.process] if self.broker else []):
            if process.returncode is None:
                process.kill()
                await process.wait()

    async def _start(self, kind: type, name: str, command: list[str]):
        log = (self.directory / f"{name}.log").open("ab")
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "reference.capstone", *command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=PROJECT,
            env={**os.environ, "PYTHONPATH": str(PROJECT)},
        )
        log.close()  # the child has its own copy
        line_process = kind(name, process)
        self._nursery.start_soon(line_process.read_lines)
        return line_process


@asynccontextmanager
async def open_chat(directory: str | Path, rooms: dict[str, str]) -> AsyncIterator[Chat]:
    """The broker and one process per member of `rooms` ({name: room}), all ready."""
    directory = Path(directory)
    if not (directory / "members.cbor").exists():
        setup(directory, rooms)
    async with trio.open_nursery() as nursery:
        chat = Chat(directory, rooms, nursery)
        try:
            await chat.start_broker()
            async with trio.open_nursery() as starting:
                for name in rooms:
                    starting.start_soon(chat.start_member, name)
            yield chat
        finally:
            with trio.CancelScope(shield=True):
                await chat.stop()
            nursery.cancel_scope.cancel()
