"""The chat from a shell: write the credentials, run the broker, run a member.

Theory of operation
-------------------
Three commands, each one process::

    python -m reference.capstone setup --dir D --member alice=r1 --member bob=r1
    python -m reference.capstone broker --dir D --port 4222
    python -m reference.capstone member --dir D --name alice --room r1 --broker-port 4222

`setup` writes the CA, certificates, keys and tokens
(`reference/capstone/credentials.py`) and prints ``{"members": {...}}``.
`broker` serves the chapter 05 broker behind mutual TLS
(`reference/capstone/secure_broker.py`) and prints ``{"listening":
["127.0.0.1", port]}`` once it listens (``--port 0`` picks a free port).
`member` runs the terminal (`reference/capstone/terminal.py`); with
``--json`` it speaks JSON lines, for programs and tests, and with
``--script FILE`` it reads its commands from a file. ``--room`` is
checked against the credentials: a member's room is in its token.
Everything listens on and dials 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from functools import partial

import trio

from reference.capstone.credentials import load_member, setup
from reference.capstone.secure_broker import SecureBroker
from reference.capstone.terminal import Terminal, run_member, script_lines, stdin_lines

DEFAULT_PORT = 4222


def main(argv: list[str] | None = None) -> None:
    arguments = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops it quietly
        if arguments.command == "setup":
            _setup(arguments)
        elif arguments.command == "broker":
            trio.run(_broker, arguments)
        else:
            trio.run(_member, arguments)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reference.capstone", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    setup_command = commands.add_parser("setup", help="write a deployment's credentials")
    setup_command.add_argument("--dir", required=True)
    setup_command.add_argument(
        "--member", action="append", required=True, metavar="NAME=ROOM", help="repeat per member"
    )
    broker = commands.add_parser("broker", help="serve the broker over mutual TLS")
    broker.add_argument("--dir", required=True)
    broker.add_argument("--port", type=int, default=DEFAULT_PORT)
    broker.add_argument("--host", default="127.0.0.1")
    member = commands.add_parser("member", help="run one member with a terminal")
    member.add_argument("--dir", required=True)
    member.add_argument("--name", required=True)
    member.add_argument("--room", required=True)
    member.add_argument("--broker-port", type=int, default=DEFAULT_PORT)
    member.add_argument("--broker-host", default="127.0.0.1")
    member.add_argument("--json", action="store_true", help="JSON lines out, for programs")
    member.add_argument("--script", help="read the commands from this file, not standard input")
    return parser


def _setup(arguments: argparse.Namespace) -> None:
    members = {}
    for pair in arguments.member:
        name, separator, room = pair.partition("=")
        if not separator:
            raise SystemExit(f"--member takes NAME=ROOM, not {pair!r}")
        members[name] = room
    setup(arguments.dir, members)
    print(json.dumps({"members": members}), flush=True)


async def _broker(arguments: argparse.Namespace) -> None:
    secure = SecureBroker(arguments.dir)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(partial(secure.serve, arguments.port, arguments.host))
        print(json.dumps({"listening": [arguments.host, port]}), flush=True)


async def _member(arguments: argparse.Namespace) -> None:
    credentials = load_member(arguments.dir, arguments.name)
    if credentials.room != arguments.room:
        raise SystemExit(
            f"{arguments.name} is a member of {credentials.room}, not {arguments.room}"
        )

    def write(line: str) -> None:
        print(line, flush=True)

    terminal = Terminal(json_lines=arguments.json, write=write)
    await run_member(
        credentials,
        arguments.broker_port,
        script_lines(arguments.script) if arguments.script else stdin_lines(),
        terminal,
        host=arguments.broker_host,
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
