"""The command line and the terminal: setup's output, how lines look, what each command answers.

The member runs in this process here (`run_member` with scripted lines) against the
secure broker on 127.0.0.1; tests/capstone/test_processes.py runs it as processes.
"""

from __future__ import annotations

import json
from functools import partial

import pytest
import trio

from reference.capstone.__main__ import main
from reference.capstone.credentials import load_member
from reference.capstone.member import Shown
from reference.capstone.secure_broker import SecureBroker
from reference.capstone.terminal import Terminal, run_member, script_lines

DEADLINE = 20


def shown(author: str, seq: int, text: str, reply_to=None) -> Shown:
    return Shown((author, seq), author, text, reply_to, {author: seq})


def test_setup_writes_the_deployment_and_says_who_is_in_it(tmp_path, capsys):
    main(["setup", "--dir", str(tmp_path), "--member", "alice=r1", "--member", "bob=r2"])
    assert json.loads(capsys.readouterr().out) == {"members": {"alice": "r1", "bob": "r2"}}
    assert load_member(tmp_path, "bob").room == "r2"
    with pytest.raises(SystemExit):
        main(["setup", "--dir", str(tmp_path / "x"), "--member", "alice"])


def test_the_text_terminal_numbers_messages_and_prints_them_once_saved():
    lines = []
    terminal = Terminal(json_lines=False, write=lines.append)
    terminal.show_restored([shown("alice", 1, "hello")])
    assert lines == ["[1] alice: hello"]  # restored: on disk already
    terminal.show(shown("bob", 1, "hi alice", reply_to=("alice", 1)))
    terminal.show(shown("carol", 1, "to an unseen one", reply_to=("dave", 7)))
    assert len(lines) == 1  # not printed before the member's storage is saved
    terminal.saved()
    assert lines[1:] == ["[2] bob -> [1]: hi alice", "[3] carol -> dave#7: to an unseen one"]
    assert terminal.message_id("2") == ("bob", 1)
    assert terminal.message_id("4") is None and terminal.message_id("x") is None
    terminal.show_restored([shown("alice", 1, "hello")])  # already numbered: not again
    assert len(lines) == 3


async def scripted(commands: list[str]):
    for command in commands:
        yield command


async def test_each_command_of_a_scripted_member_gets_its_json_answer(tmp_path):
    main(["setup", "--dir", str(tmp_path), "--member", "alice=r1", "--member", "bob=r1"])
    lines: list[str] = []
    terminal = Terminal(json_lines=True, write=lines.append)
    commands = ["hello", "/reply 1 to myself", "/reply 9 nope", "/reply x", "/bogus", ""]
    commands += ["/sync", "/history", "/quit", "never read"]
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            secure = SecureBroker(tmp_path)
            port = await nursery.start(partial(secure.serve, 0))
            alice = load_member(tmp_path, "alice")
            await run_member(alice, port, scripted(commands), terminal)
            nursery.cancel_scope.cancel()
    events = [json.loads(line) for line in lines]
    kinds = [event["event"] for event in events]
    assert kinds == ["ready"] + ["shown", "posted"] * 2 + ["error"] * 3 + ["synced", "history"]
    assert events[2]["id"] == ["alice", 1] and events[3]["reply_to"] == ["alice", 1]
    assert "unknown command /bogus" in events[7]["error"]
    history = events[-1]["shown"]
    assert [(s["text"], s["reply_to"]) for s in history] == [
        ("hello", None),
        ("to myself", ["alice", 1]),
    ]
    restarted: list[str] = []  # the same member again: what it had shown comes back restored
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            secure = SecureBroker(tmp_path)
            port = await nursery.start(partial(secure.serve, 0))
            again = Terminal(json_lines=True, write=restarted.append)
            await run_member(alice, port, scripted(["/quit"]), again)
            nursery.cancel_scope.cancel()
    restored = [json.loads(line) for line in restarted]
    assert [(e["event"], e.get("restored")) for e in restored] == [
        ("shown", True),
        ("shown", True),
        ("ready", None),
    ]


async def test_a_script_file_is_read_line_by_line(tmp_path):
    script = tmp_path / "script.txt"
    script.write_text("hello\r\n/reply 1 yes\n/history")
    assert [line async for line in script_lines(script)] == ["hello", "/reply 1 yes", "/history"]
