"""Real nats-server processes on loopback, for tests, the chapter and the benchmark.

Theory of operation
-------------------
`run_nats_server()` starts one `nats-server` bound to 127.0.0.1 and
`run_nats_cluster(3)` starts three joined by routes; both are async
context managers that stop every process on the way out::

    async with run_nats_cluster(3) as servers:
        async with connect([server.url for server in servers]) as client:
            ...
            await kill(servers[0])  # a crash, for a failover demonstration

Ports are never guessed: each server is started with port -1 (the kernel
picks a free one) and `--ports_file_dir`, and nats-server writes the ports
it really listens on to a small JSON file there. A server is ready when
that file exists and its client port answers with an INFO line. A cluster
grows from the first server: the others are given its route port
(`--routes`), nats-server tells each about the rest, and the cluster is
ready when every server's monitoring page `/routez` counts a route to each
other server. Only then does a message published on one server reach a
subscriber on another, once the subscription's interest has crossed the
routes too (tests wait for that with a probe message).

Without nats-server installed every helper raises `NatsServerMissing`,
which says how to install it.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

HOST = "127.0.0.1"
READY_TIMEOUT = 10.0  # seconds for a server to listen, or a cluster to join up
POLL_INTERVAL = 0.02  # seconds between looks while waiting to be ready
INSTALL_HINT = "nats-server is not installed: apt-get install nats-server"


class NatsServerMissing(RuntimeError):
    """There is no nats-server executable on this machine."""


class NatsServerFailed(RuntimeError):
    """A nats-server process exited or did not get ready in time."""


@dataclass
class NatsServer:
    """One running nats-server: its ports, its process and its log."""

    name: str
    port: int
    cluster_port: int | None
    monitor_port: int
    process: trio.Process
    log: Path

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return (HOST, self.port)


def nats_server_executable() -> str:
    """The path of nats-server, or `NatsServerMissing`."""
    found = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin:/usr/bin")
    if found is None:
        raise NatsServerMissing(INSTALL_HINT)
    return found


@asynccontextmanager
async def run_nats_server(*extra_arguments: str) -> AsyncIterator[NatsServer]:
    """One nats-server on a free loopback port, stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="nats-") as directory:
        server = await start_server(Path(directory), "n1", list(extra_arguments))
        try:
            yield server
        finally:
            await stop(server)


@asynccontextmanager
async def run_nats_cluster(size: int = 3) -> AsyncIterator[list[NatsServer]]:
    """`size` nats-servers joined by routes on loopback, every route up; all stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="nats-cluster-") as directory:
        servers: list[NatsServer] = []
        try:
            seed = await start_server(Path(directory), "n1", _cluster_arguments(None))
            servers.append(seed)
            for number in range(2, size + 1):
                arguments = _cluster_arguments(seed.cluster_port)
                servers.append(await start_server(Path(directory), f"n{number}", arguments))
            with trio.fail_after(READY_TIMEOUT):
                for server in servers:
                    await wait_for_routes(server, size - 1)
            yield servers
        finally:
            with trio.CancelScope(shield=True):
                for server in servers:
                    await stop(server)


def _cluster_arguments(seed_cluster_port: int | None) -> list[str]:
    arguments = ["--cluster", f"nats://{HOST}:-1", "--cluster_name", "workbook"]
    if seed_cluster_port is not None:
        arguments += ["--routes", f"nats://{HOST}:{seed_cluster_port}"]
    return arguments


async def start_server(directory: Path, name: str, extra_arguments: list[str]) -> NatsServer:
    """Start one nats-server whose files live in `directory`; return it once it serves."""
    ports_directory = directory / name
    ports_directory.mkdir()
    log = directory / f"{name}.log"
    command = [nats_server_executable(), "-a", HOST, "-p", "-1", "-m", "-1", "-n", name]
    command += ["--ports_file_dir", str(ports_directory), "-l", str(log), *extra_arguments]
    quiet = subprocess.DEVNULL  # the log goes to `log`
    process = await trio.lowlevel.open_process(command, stdin=quiet, stdout=quiet, stderr=quiet)
    try:
        with trio.fail_after(READY_TIMEOUT):
            ports = await _wait_for_ports_file(ports_directory, process, log)
            server = NatsServer(
                name=name,
                port=_port_of(ports["nats"][0]),
                cluster_port=_port_of(ports["cluster"][0]) if "cluster" in ports else None,
                monitor_port=_port_of(ports["monitoring"][0]),
                process=process,
                log=log,
            )
            await _wait_for_info(server)
    except BaseException:
        process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
        raise
    return server


async def _wait_for_ports_file(directory: Path, process: trio.Process, log: Path) -> dict:
    while True:
        if process.poll() is not None:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise NatsServerFailed(f"nats-server exited with {process.returncode}:\n{tail}")
        for path in directory.glob("*.ports"):
            text = path.read_text()
            if text.endswith("}"):  # written whole, not half
                return json.loads(text)
        await trio.sleep(POLL_INTERVAL)


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def _wait_for_info(server: NatsServer) -> None:
    """Wait until the client port answers with INFO: the server takes clients."""
    while True:
        try:
            stream = await trio.open_tcp_stream(HOST, server.port)
        except OSError:
            await trio.sleep(POLL_INTERVAL)
            continue
        async with stream:
            if (await stream.receive_some(4096)).startswith(b"INFO"):
                return


async def monitoring(server: NatsServer, page: str) -> dict:
    """GET one of the server's monitoring pages (`varz`, `routez`, `connz`, `subsz`) as JSON."""
    async with await trio.open_tcp_stream(HOST, server.monitor_port) as stream:
        await stream.send_all(f"GET /{page} HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode())
        response = bytearray()
        while data := await stream.receive_some(65536):
            response += data
    head, _, body = bytes(response).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    if not status_line.startswith(b"HTTP/1.") or b" 200" not in status_line:
        raise NatsServerFailed(f"{server.name} /{page}: {head[:100]!r}")
    return json.loads(body)


async def wait_for_routes(server: NatsServer, count: int) -> None:
    """Wait until `server` has a route to `count` other servers."""
    while (await monitoring(server, "routez"))["num_routes"] < count:
        await trio.sleep(POLL_INTERVAL)


async def kill(server: NatsServer) -> None:
    """Crash `server` (SIGKILL): its clients see their connections drop at once."""
    server.process.kill()
    with trio.CancelScope(shield=True):
        await server.process.wait()


async def stop(server: NatsServer) -> None:
    """Stop `server` cleanly (SIGTERM), or kill it if it does not exit within a few seconds."""
    if server.process.poll() is not None:
        return
    server.process.send_signal(signal.SIGTERM)
    with trio.CancelScope(shield=True):
        with trio.move_on_after(5):
            await server.process.wait()
            return
        await kill(server)
