"""One node per process: the command line of the UDP runtime.

Theory of operation
-------------------
``python -m reference.net.udp`` runs one node of `reference.net.udp` in its
own process, so nodes can run in separate terminals or machines::

    python -m reference.net.udp b reference.delivery.reliable:ReliableReceiver --idle 2
    python -m reference.net.udp a reference.delivery.reliable:SlidingWindowSender \\
        --kwargs '{"peer": "b", "messages": [1, 2, 3]}' --peer b=127.0.0.1:PORT --idle 2

The node is built by calling ``MODULE:CALLABLE`` with the JSON `--kwargs`;
each `--peer ID=HOST:PORT` makes a node in another process reachable by id,
and `--loss`, `--duplicate` and `--seed` give the runtime a lossy `Link` to
imitate. Each process prints ``<id> listening on HOST:PORT``, then its notes
as they are written; once a message or timer has been handled and then
nothing for ``--idle`` seconds (or after ``--duration``), it prints its
storage as JSON and exits. The JSON is `reference.net.trace.plain`'s, which
writes any value: bytes as hex, and an integer too long for Python to print
in decimal (over 4,300 digits) as a hex string, so no value a node keeps
can cost the dump.

`main` is handed the runtime's `open_udp_network` by reference/net/udp.py
(which runs it under ``__main__``) rather than importing it, so the runtime
does not import a module that imports it back.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable
from typing import Any

import trio

from reference.net.links import Link
from reference.net.node import NodeFactory
from reference.net.trace import Note, plain


def main(open_udp_network: Callable[..., Any], argv: list[str] | None = None) -> None:
    """Run the node the command line describes; print its storage when it stops."""
    storage = trio.run(_serve_one, open_udp_network, _parse_args(argv))
    print(json.dumps(plain(storage)), flush=True)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m reference.net.udp", description="Run one node over UDP."
    )
    parser.add_argument("node_id", help="this node's id")
    parser.add_argument("factory", help="MODULE:CALLABLE that builds the node")
    parser.add_argument("--kwargs", default="{}", help="keyword arguments for it, as JSON")
    parser.add_argument("--bind", default="127.0.0.1:0", help="HOST:PORT to listen on")
    parser.add_argument("--peer", action="append", default=[], help="ID=HOST:PORT, repeatable")
    parser.add_argument("--loss", type=float, default=0.0, help="chance a message is dropped")
    parser.add_argument("--duplicate", type=float, default=0.0, help="chance it is doubled")
    parser.add_argument("--seed", type=int, default=0, help="seed for the loss shim")
    parser.add_argument("--idle", type=float, default=None, help="stop after S idle seconds")
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    return parser.parse_args(argv)


def _load_factory(spec: str, kwargs: dict[str, Any]) -> NodeFactory:
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise SystemExit(f"expected MODULE:CALLABLE, got {spec!r}")
    target = getattr(importlib.import_module(module_name), attribute)
    return lambda: target(**kwargs)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def _print_note(note: Note) -> None:
    print(f"[{note.time:9.3f}] {note.node}: {note.text}", flush=True)


async def _serve_one(
    open_udp_network: Callable[..., Any], args: argparse.Namespace
) -> dict[Any, Any]:
    shim = Link(loss=args.loss, duplicate=args.duplicate) if args.loss or args.duplicate else None
    factory = _load_factory(args.factory, json.loads(args.kwargs))
    host, port = _address(args.bind)
    async with open_udp_network(link=shim, seed=args.seed, host=host, on_note=_print_note) as net:
        for peer in args.peer:
            peer_id, _, address = peer.partition("=")
            net.add_peer(peer_id, _address(address))
        bound = await net.add_node(args.node_id, factory, port=port)
        print(f"{args.node_id} listening on {bound[0]}:{bound[1]}", flush=True)
        with trio.move_on_after(args.duration if args.duration is not None else float("inf")):
            await _wait_idle(net, args.idle)
        return net.storage(args.node_id)


async def _wait_idle(net: Any, idle: float | None) -> None:
    """Return once nothing has happened for `idle` seconds (after the first event)."""
    if idle is None:
        await trio.sleep_forever()
    await net.wait_for_progress()
    while True:
        with trio.move_on_after(idle) as quiet:
            await net.wait_for_progress()
        if quiet.cancelled_caught:
            return
