"""A real etcd cluster on loopback, and a tiny client for its v3 JSON gateway.

Theory of operation
-------------------
etcd is a production key-value store replicated by Raft, the algorithm of
`reference.order.raft`. `run_etcd_cluster(3)` starts three `etcd`
processes on 127.0.0.1, each with its own data directory and free client
and peer ports, joined by ``--initial-cluster``; it is an async context
manager that kills them all on the way out::

    async with run_etcd_cluster(3) as cluster:
        client = EtcdClient(cluster.members[0])
        await client.put("x", "1")
        await cluster.kill(cluster.members[0])     # SIGKILL: a crash
        await cluster.restart(cluster.members[0])  # same data dir: it recovers

Members reach each other only through relays (`reference.order.
etcd_partition`), so `isolate(member)` can cut one off from the others, a
network partition on loopback, and `heal()` joins them again.

A member is *healthy* when ``GET /health`` answers ``{"health": "true"}``:
it knows a leader and a read through Raft succeeds, so a quorum is up.
The cluster is ready when every member is healthy. A member restarted
after a crash rejoins from its data directory (its write-ahead log and
snapshot): etcd ignores the ``--initial-cluster`` flags once the directory
holds a log, so the same command line serves for both starts.

`EtcdClient` talks to one member over HTTP/1.0 on a fresh TCP connection
per call (no client library): etcd's gRPC gateway takes JSON at
``POST /v3/kv/put``, ``/v3/kv/range`` and ``/v3/kv/txn``, with keys and
values base64-encoded. A range is *linearizable* by default: the member
asks the leader for its commit index (a read index) and waits until it
has applied that far. With ``serializable=True`` it answers at once from
its own applied state, which may be behind: faster, and still available
on a member that cannot reach a quorum, but possibly stale. A
compare-and-set is a transaction: compare the key's value (or, for a key
expected missing, its create revision 0), put on success.

A reply that is not HTTP 200 raises `EtcdError`, a member that takes no
connection `EtcdUnreachable` (the request was never sent); without etcd
installed every helper raises `EtcdMissing`, which says how to install it.
"""

from __future__ import annotations

import base64
import json
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio

from reference.order.etcd_partition import PeerLinks

HOST = "127.0.0.1"
READY_TIMEOUT = 20.0  # seconds for a cluster to start, or a member to rejoin
POLL_INTERVAL = 0.05  # seconds between looks while waiting to be healthy
MAX_REPLY = 1 << 20  # bytes: a reply larger than this is an error, not a memory leak
INSTALL_HINT = "etcd is not installed: apt-get install etcd-server"


class EtcdMissing(RuntimeError):
    """There is no etcd executable on this machine."""


class EtcdFailed(RuntimeError):
    """An etcd process exited, or a member did not get healthy in time."""


class EtcdError(RuntimeError):
    """A member answered a request with an error (not HTTP 200), or not in HTTP."""


class EtcdUnreachable(EtcdError):
    """No connection to the member: the request was never sent, so it had no effect."""


@dataclass
class EtcdMember:
    """One member: its name, ports and data directory, and its process while it runs."""

    name: str
    client_port: int
    peer_port: int  # where etcd listens for its peers
    relay_port: int  # what it advertises: its peers reach it through a relay
    data_dir: Path
    log: Path
    process: trio.Process | None = field(default=None, repr=False)

    @property
    def client_url(self) -> str:
        return f"http://{HOST}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{HOST}:{self.peer_port}"

    @property
    def relay_url(self) -> str:
        return f"http://{HOST}:{self.relay_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def etcd_executable() -> str:
    """The path of etcd, or `EtcdMissing`."""
    found = shutil.which("etcd") or shutil.which("etcd", path="/usr/bin:/usr/sbin")
    if found is None:
        raise EtcdMissing(INSTALL_HINT)
    return found


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports the kernel says are free right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class EtcdCluster:
    """Members that know each other; start, crash and restart them one by one."""

    def __init__(self, directory: Path, size: int) -> None:
        ports = free_ports(3 * size)
        self.links = PeerLinks()
        self.members = [
            EtcdMember(
                name=f"n{index + 1}",
                client_port=ports[3 * index],
                peer_port=ports[3 * index + 1],
                relay_port=ports[3 * index + 2],
                data_dir=directory / f"n{index + 1}.data",
                log=directory / f"n{index + 1}.log",
            )
            for index in range(size)
        ]

    def command(self, member: EtcdMember) -> list[str]:
        """The command line that starts (or restarts) `member`."""
        everyone = ",".join(f"{other.name}={other.relay_url}" for other in self.members)
        return [
            etcd_executable(),
            *("--name", member.name, "--data-dir", str(member.data_dir)),
            *("--listen-client-urls", member.client_url),
            *("--advertise-client-urls", member.client_url),
            *("--listen-peer-urls", member.peer_url),
            *("--initial-advertise-peer-urls", member.relay_url),
            *("--initial-cluster", everyone, "--initial-cluster-state", "new"),
            *("--initial-cluster-token", "workbook"),
        ]

    async def start(self, member: EtcdMember) -> None:
        """Start `member`'s process (it is healthy only once a quorum runs)."""
        if member.running:
            raise EtcdFailed(f"{member.name} is already running")
        with member.log.open("ab") as log:
            member.process = await trio.lowlevel.open_process(
                self.command(member), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    async def wait_healthy(self, members: list[EtcdMember] | None = None) -> None:
        """Wait until every one of `members` (default: all) is healthy; `EtcdFailed` if not."""
        try:
            with trio.fail_after(READY_TIMEOUT):
                for member in members or self.members:
                    while not await is_healthy(member):
                        if not member.running:
                            raise EtcdFailed(f"{member.name} is not running\n{_tail(member)}")
                        await trio.sleep(POLL_INTERVAL)
        except trio.TooSlowError:
            raise EtcdFailed(f"not healthy within {READY_TIMEOUT} s") from None

    async def kill(self, member: EtcdMember) -> None:
        """Crash `member` with SIGKILL: no goodbye, its data dir stays as it was."""
        if member.process is not None:
            member.process.kill()
            with trio.CancelScope(shield=True):
                await member.process.wait()

    async def restart(self, member: EtcdMember) -> None:
        """Start a crashed `member` again on the same data dir and wait until it is healthy."""
        await self.start(member)
        await self.wait_healthy([member])

    async def isolate(self, member: EtcdMember) -> None:
        """Cut `member` off from its peers (not from its clients): a network partition."""
        status = await EtcdClient(member).call("/v3/maintenance/status", {})
        self.links.isolate(member.name, format(int(status["header"]["member_id"]), "x"))

    def heal(self) -> None:
        """Undo every `isolate`: the members reach each other again."""
        self.links.heal()

    async def stop(self, member: EtcdMember) -> None:
        """Stop `member` cleanly (SIGTERM), or kill it if it does not exit within a few seconds."""
        if not member.running:
            return
        member.process.send_signal(signal.SIGTERM)
        with trio.CancelScope(shield=True):
            with trio.move_on_after(5):
                await member.process.wait()
                return
            await self.kill(member)


@asynccontextmanager
async def run_etcd_cluster(size: int = 3) -> AsyncIterator[EtcdCluster]:
    """`size` etcd members on loopback, all healthy; all killed (and their data gone) on exit.

    Killed, not stopped: their data is thrown away, and a member stopped
    cleanly may first spend seconds handing its leadership to a peer that
    is stopping too.
    """
    etcd_executable()
    with tempfile.TemporaryDirectory(prefix="etcd-") as directory:
        cluster = EtcdCluster(Path(directory), size)
        async with trio.open_nursery() as relays:
            try:
                for member in cluster.members:
                    relay = cluster.links.relay
                    await relays.start(relay, member.name, member.relay_port, member.peer_port)
                    await cluster.start(member)
                await cluster.wait_healthy()
                yield cluster
            finally:
                for member in cluster.members:
                    await cluster.kill(member)
                relays.cancel_scope.cancel()


def _tail(member: EtcdMember) -> str:
    return member.log.read_text(errors="replace")[-2000:] if member.log.exists() else ""


async def http_request(port: int, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One HTTP/1.0 request to 127.0.0.1:`port`: the status and the body of the reply."""
    head = f"{method} {path} HTTP/1.0\r\nHost: {HOST}\r\nContent-Length: {len(body)}\r\n"
    request = f"{head}Content-Type: application/json\r\n\r\n".encode() + body
    try:
        stream = await trio.open_tcp_stream(HOST, port)
    except OSError as error:
        raise EtcdUnreachable(f"no connection to port {port}: {error}") from None
    try:
        async with stream:
            reply = await _exchange(stream, request)
    except trio.BrokenResourceError as error:
        raise EtcdError(f"connection to port {port} dropped: {error}") from None
    head, _, body_of_reply = reply.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    words = status_line.split()
    if len(words) < 2 or not words[0].startswith(b"HTTP/1.") or not words[1].isdigit():
        raise EtcdError(f"not an HTTP reply: {status_line[:100]!r}")
    return int(words[1]), body_of_reply


async def _exchange(stream: trio.abc.Stream, request: bytes) -> bytes:
    """Send `request`, then read the reply until the server closes (HTTP/1.0)."""
    await stream.send_all(request)
    reply = bytearray()
    while data := await stream.receive_some(65536):
        reply += data
        if len(reply) > MAX_REPLY:
            raise EtcdError(f"a reply over {MAX_REPLY} bytes")
    return bytes(reply)


async def is_healthy(member: EtcdMember) -> bool:
    """True when `member` answers ``/health`` with health true (it sees a working quorum)."""
    try:
        status, body = await http_request(member.client_port, "GET", "/health")
        return status == 200 and json.loads(body).get("health") == "true"
    except (OSError, ValueError, EtcdError):
        return False


async def find_leader(cluster: EtcdCluster) -> EtcdMember:
    """The member that is the Raft leader now, as the running members report it."""
    ids = {}
    leader_id = None
    for member in cluster.members:
        if member.running:
            status = await EtcdClient(member).call("/v3/maintenance/status", {})
            ids[status["header"]["member_id"]] = member
            leader_id = status.get("leader", leader_id)
    if leader_id not in ids:
        raise EtcdFailed("no running member is the leader")
    return ids[leader_id]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class EtcdClient:
    """get, put and compare-and-set on one member, over its JSON gateway."""

    def __init__(self, member: EtcdMember) -> None:
        self.member = member

    async def call(self, path: str, request: dict) -> dict:
        """POST `request` as JSON to `path`; the decoded reply, or `EtcdError`."""
        body = json.dumps(request).encode()
        status, reply = await http_request(self.member.client_port, "POST", path, body)
        if status != 200:
            raise EtcdError(f"{self.member.name} {path}: HTTP {status} {reply[:200]!r}")
        try:
            return json.loads(reply)
        except ValueError:
            raise EtcdError(f"{self.member.name} {path}: not JSON: {reply[:200]!r}") from None

    async def get(self, key: str, *, serializable: bool = False) -> str | None:
        """The value of `key`, or None when it has none."""
        request = {"key": _b64(key), "serializable": serializable}
        kvs = (await self.call("/v3/kv/range", request)).get("kvs", [])
        return base64.b64decode(kvs[0]["value"]).decode() if kvs else None

    async def put(self, key: str, value: str) -> None:
        await self.call("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})

    async def cas(self, key: str, expected: str | None, new: str) -> bool:
        """Set `key` to `new` if it holds `expected` (None: if it has no value); True if it did."""
        if expected is None:
            compare = {"target": "CREATE", "create_revision": "0"}
        else:
            compare = {"target": "VALUE", "value": _b64(expected)}
        request = {
            "compare": [{"key": _b64(key), "result": "EQUAL", **compare}],
            "success": [{"request_put": {"key": _b64(key), "value": _b64(new)}}],
        }
        return (await self.call("/v3/kv/txn", request)).get("succeeded", False)
