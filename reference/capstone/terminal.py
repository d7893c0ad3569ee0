"""A member's terminal: type a line to post it, see the room's messages as lines.

Theory of operation
-------------------
`run_member` connects one member (`reference/capstone/member.py`) to the
secure broker (mutual TLS with its certificate, its token in CONNECT,
reconnecting for as long as it runs), hosts it with `ProcessHost`
(`reference/capstone/process_host.py`, its storage in its data folder),
and reads commands from standard input, one per line:

================  =========================================================
``text``          post ``text`` to the room
``/reply N text`` post ``text`` as a reply to the N-th message shown
``/history``      list every message shown so far, in the order shown
``/sync``         wait until everything posted so far has reached the broker
``/quit``         (or the end of input) stop, after a ``/sync``
================  =========================================================

Messages are printed as they are shown, once the member's storage with
them is saved (a message on the screen survives a SIGKILL), numbered
from 1 in the order this member showed them (``[3] bob -> [1]: yes`` is
bob's reply to the first). After a restart, what the member had shown
before comes first (``"restored": true`` in JSON).

With ``--json`` every output line is one JSON object instead, for a
program to read: ``{"event": "ready"}`` once the member is subscribed,
``{"event": "shown", "n": 3, "id": ["bob", 1], ...}`` per message,
``{"event": "posted", "id": [...]}``, ``{"event": "history", "shown":
[...]}``, ``{"event": "synced"}`` and ``{"event": "error", "error":
"..."}`` for a command that could not be done. ``--script FILE`` reads
the commands from a file instead, and stops at its end. A test drives a
member by writing a command and waiting, under a deadline, for the line
that answers it: nothing is timed, so nothing needs a sleep.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import trio

from reference.capstone.credentials import MemberCredentials
from reference.capstone.member import ChatMember, Shown, UnknownMessage
from reference.capstone.process_host import ProcessHost, open_process_host
from reference.routing.client import connect

MAX_LINE = 64 * 1024


@dataclass
class Terminal:
    """Numbers the messages shown and prints them, and command results, as lines (or JSON)."""

    json_lines: bool
    write: Callable[[str], None]
    numbered: dict[tuple, int] = field(default_factory=dict)  # message id -> its N
    ids: list[tuple] = field(default_factory=list)  # N - 1 -> message id
    _unsaved: list[str] = field(default_factory=list)  # lines for messages not yet on disk

    def show(self, shown: Shown, *, restored: bool = False) -> None:
        """Number a message as the N-th shown; it is printed by `saved` (`restored` at once)."""
        self.ids.append(tuple(shown.id))
        number = self.numbered[tuple(shown.id)] = len(self.ids)
        if self.json_lines:
            fields = {"n": number, "restored": restored, **as_plain(shown)}
            line = json.dumps({"event": "shown", **fields})
        else:
            answer = "" if shown.reply_to is None else f" -> {self._label(shown.reply_to)}"
            line = f"[{number}] {shown.author}{answer}: {shown.text}"
        self._unsaved.append(line)
        if restored:
            self.saved()

    def saved(self) -> None:
        """The member's storage is on disk: print the messages shown until now."""
        lines, self._unsaved = self._unsaved, []
        for line in lines:
            self.write(line)

    def show_restored(self, history: list[Shown]) -> None:
        """Print what the member had shown before it restarted (and the terminal has not)."""
        for shown in history:
            if tuple(shown.id) not in self.numbered:
                self.show(shown, restored=True)

    def message_id(self, number: str) -> tuple | None:
        """The id of the message printed as [number], or None."""
        if number.isdigit() and 1 <= int(number) <= len(self.ids):
            return self.ids[int(number) - 1]
        return None

    def emit(self, event: str, **fields: object) -> None:
        if self.json_lines:
            self.write(json.dumps({"event": event, **fields}))
        elif event == "error":
            self.write(f"! {fields['error']}")
        elif event == "ready":
            self.write(f"connected as {fields['name']} in {fields['room']}")

    def _label(self, message_id: tuple) -> str:
        number = self.numbered.get(tuple(message_id))
        return f"[{number}]" if number else f"{message_id[0]}#{message_id[1]}"


def as_plain(shown: Shown) -> dict:
    reply_to = None if shown.reply_to is None else list(shown.reply_to)
    return {"id": list(shown.id), "author": shown.author, "text": shown.text, "reply_to": reply_to}


async def run_member(
    credentials: MemberCredentials,
    broker_port: int,
    lines: AsyncIterator[str],
    terminal: Terminal,
    *,
    host: str = "127.0.0.1",
) -> None:
    """Run one member until `lines` ends or says ``/quit``."""
    member = ChatMember(
        credentials.name,
        credentials.room,
        credentials.roster,
        credentials.signing_key,
        credentials.directory,
        on_show=terminal.show,
    )
    async with connect(
        [(host, broker_port)],
        name=credentials.name,
        token=credentials.token,
        ssl_context=credentials.tls,
        max_reconnect_attempts=None,
    ) as client:
        state_path = credentials.data_dir / "state.sqlite"
        async with open_process_host(
            member, client, state_path, node_id=credentials.name, on_saved=terminal.saved
        ) as process:
            terminal.show_restored(member.shown)
            await process.wait_forwarded()
            terminal.emit("ready", name=credentials.name, room=credentials.room)
            async for line in lines:
                if line.strip() == "/quit":
                    break
                await _command(line, member, process, terminal)
            await process.wait_forwarded()


async def _command(line: str, member: ChatMember, process: ProcessHost, terminal: Terminal) -> None:
    words = line.split(maxsplit=2)
    if not words:
        return
    if words[0] == "/history":
        terminal.emit("history", shown=[as_plain(shown) for shown in member.shown])
    elif words[0] == "/sync":
        await process.wait_forwarded()
        terminal.emit("synced")
    elif words[0] == "/reply":
        original = terminal.message_id(words[1]) if len(words) == 3 else None
        if original is None:
            terminal.emit("error", error="write /reply N text, N a message shown")
        else:
            _post(member, process, terminal, words[2], original)
    elif words[0].startswith("/"):
        terminal.emit("error", error=f"unknown command {words[0]}")
    else:
        _post(member, process, terminal, line, None)


def _post(
    member: ChatMember, process: ProcessHost, terminal: Terminal, text: str, reply_to
) -> None:
    try:
        message_id = process.call(member.post, text, reply_to)
    except (ValueError, UnknownMessage) as error:
        terminal.emit("error", error=str(error))
        return
    terminal.emit("posted", id=list(message_id))


async def stdin_lines() -> AsyncIterator[str]:
    """Lines of standard input, without their newline, until its end."""
    stream = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    buffer = b""
    async with stream:
        while chunk := await stream.receive_some(MAX_LINE):
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for line in complete:
                yield line.decode("utf-8", "replace").rstrip("\r")
            if len(buffer) > MAX_LINE:
                raise ValueError(f"an input line longer than {MAX_LINE} bytes")
    if buffer:
        yield buffer.decode("utf-8", "replace")


async def script_lines(path: str | Path) -> AsyncIterator[str]:
    """The lines of a script file (a file cannot be polled as standard input is)."""
    async with await trio.open_file(path, encoding="utf-8") as script:
        async for line in script:
            yield line.rstrip("\r\n")
