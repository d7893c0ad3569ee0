"""What do integrity and encryption cost? Envelopes per second, and TLS against plain TCP. One run.

Run: .venv/bin/python bench/security.py

Envelopes, in one process, no sockets: each round makes one message and
checks it again, as a sender and a receiver would, with a body of 256 bytes
and of 64 KiB (a byte string, so the codec does little but copy it):

- plain framed CBOR: `encode_frame` of the canonical CBOR of ``[header,
  body]``; then `FrameDecoder.feed` and `loads_untrusted`. The baseline:
  framing and encoding, no cryptography.
- HMAC-SHA256: the same, with `seal_hmac` / `open_hmac`.
- Ed25519: `sign_envelope` / `verify_signed`.
- AEAD: `Sealer.seal` / `open_sealed` (ChaCha20-Poly1305).

TLS against TCP: the same Trio client pushes 64 KiB writes to a server
that reads and discards them over loopback, then waits for the server's
one-byte answer that it has read everything. Once over a plain TCP stream,
once over `trio.SSLStream` on it (TLS 1.3, certificates from a throwaway
`trustme` CA, the hostname checked). The handshake happens before the clock
starts: this is the cost per byte of an open connection, not of opening it.

Each figure is the best of several runs, taken in turn so that a busy
moment on the machine hits every kind alike.

What bounds the two ratios: at 64 KiB the plain round is little more than
a few copies of the body, while an AEAD round also passes every byte
through ChaCha20-Poly1305 twice (seal, then open), so the ratio cannot
exceed copy speed over cipher speed on this CPU; the TLS stream adds a
pass of AES-GCM each way and Python-level record handling in
`trio.SSLStream` (a memory BIO) against a kernel-only TCP copy. The last line is JSON:
`aead_vs_plain_64k` (AEAD envelopes/s ÷ plain framed CBOR/s at 64 KiB) and
`tls_vs_tcp_64k` (TLS bytes/s ÷ TCP bytes/s, 64 KiB writes).
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from functools import partial

import trio
import trustme
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reference.security.aead import Sealer, open_sealed
from reference.security.envelopes import (
    Header,
    canonical,
    open_hmac,
    seal_hmac,
    sign_envelope,
    verify_signed,
)
from reference.wire.framing import FrameDecoder, encode_frame
from reference.wire.untrusted import loads_untrusted

SIZES = {"256 B": 256, "64 KiB": 64 * 1024}
REPETITIONS = 5
SECONDS_PER_RUN = 0.25
STREAM_BYTES = 32 * 1024 * 1024  # per TCP or TLS run
WRITE_SIZE = 64 * 1024
KEY = bytes(range(32))
SIGNING_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
TRUSTED = {"bench-1": SIGNING_KEY.public_key()}
HEADER = Header("bench", "data", 0)


def round_trips(body: bytes) -> dict[str, Callable[[], object]]:
    """One sender-then-receiver round per kind of envelope, each through a frame."""
    sealer, decoder = Sealer(KEY, "bench"), FrameDecoder()

    def through_frame(envelope: bytes) -> bytes:
        (frame,) = decoder.feed(encode_frame(envelope))
        return frame

    return {
        "plain framed CBOR": lambda: loads_untrusted(
            through_frame(canonical([HEADER.to_cbor_value(), body]))
        ),
        "HMAC-SHA256": lambda: open_hmac(KEY, through_frame(seal_hmac(KEY, HEADER, body))),
        "Ed25519": lambda: verify_signed(
            TRUSTED, through_frame(sign_envelope(SIGNING_KEY, "bench-1", HEADER, body))
        ),
        "ChaCha20-Poly1305": lambda: open_sealed(KEY, through_frame(sealer.seal("data", body))),
    }


def rate(one_round: Callable[[], object]) -> float:
    """Rounds per second over about SECONDS_PER_RUN."""
    rounds, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < SECONDS_PER_RUN:
        for _ in range(10):
            one_round()
        rounds += 10
    return rounds / elapsed


def measure_envelopes() -> dict[tuple[str, str], float]:
    best: dict[tuple[str, str], float] = {}
    for _ in range(REPETITIONS):
        for size_name, size in SIZES.items():
            for kind, one_round in round_trips(bytes(size)).items():
                figure = rate(one_round)
                best[kind, size_name] = max(best.get((kind, size_name), 0.0), figure)
    return best


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.minimum_version = ssl.TLSVersion.TLSv1_3
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    client_context.minimum_version = ssl.TLSVersion.TLSv1_3
    ca.configure_trust(client_context)
    return server_context, client_context


async def discard_then_answer(wrap: Callable[[trio.SocketStream], trio.abc.Stream], stream):
    stream = wrap(stream)
    received = 0
    while received < STREAM_BYTES:
        data = await stream.receive_some(256 * 1024)
        if not data:
            return
        received += len(data)
    await stream.send_all(b"k")
    await stream.aclose()


async def push(stream: trio.abc.Stream) -> float:
    """The client: STREAM_BYTES in 64 KiB writes, then the server's answer; seconds taken."""
    chunk = bytes(WRITE_SIZE)
    start = time.perf_counter()
    for _ in range(STREAM_BYTES // WRITE_SIZE):
        await stream.send_all(chunk)
    assert await stream.receive_some(1) == b"k"
    return time.perf_counter() - start


async def measure_streams(best: dict[str, float], cipher: list[str]) -> None:
    server_context, client_context = tls_contexts()
    plain = partial(discard_then_answer, lambda stream: stream)
    tls = partial(
        discard_then_answer,
        lambda stream: trio.SSLStream(stream, server_context, server_side=True),
    )
    async with trio.open_nursery() as nursery:
        plain_port = (await nursery.start(partial(trio.serve_tcp, plain, 0, host="127.0.0.1")))[0]
        tls_port = (await nursery.start(partial(trio.serve_tcp, tls, 0, host="127.0.0.1")))[0]
        for _ in range(REPETITIONS):
            port = plain_port.socket.getsockname()[1]
            async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
                keep_best(best, "TCP", STREAM_BYTES / await push(stream))
            port = tls_port.socket.getsockname()[1]
            tcp = await trio.open_tcp_stream("127.0.0.1", port)
            async with trio.SSLStream(tcp, client_context, server_hostname="localhost") as stream:
                await stream.do_handshake()
                cipher[:] = [stream.version(), stream.cipher()[0]]
                keep_best(best, "TLS", STREAM_BYTES / await push(stream))
        nursery.cancel_scope.cancel()


def keep_best(best: dict[str, float], name: str, figure: float) -> None:
    best[name] = max(best.get(name, 0.0), figure)


def main() -> None:
    envelopes = measure_envelopes()
    streams: dict[str, float] = {}
    cipher: list[str] = []
    trio.run(measure_streams, streams, cipher)

    print(f"envelopes: make and check one message per round; best of {REPETITIONS} runs")
    print(f"{'envelope':<20} {'body':>7} {'messages/s':>12} {'MB/s':>9} {'vs plain':>9}")
    for (kind, size_name), figure in envelopes.items():
        baseline = envelopes["plain framed CBOR", size_name]
        megabytes = figure * SIZES[size_name] / 1e6
        print(
            f"{kind:<20} {size_name:>7} {figure:>12,.0f} {megabytes:>9,.1f}"
            f" {figure / baseline:>9.2f}"
        )
    print(f"\nstreams: {STREAM_BYTES >> 20} MiB in {WRITE_SIZE >> 10} KiB writes over loopback")
    print(f"TLS: {' '.join(cipher)}")
    for name, figure in streams.items():
        print(f"{name:<4} {figure / 1e6:>9,.0f} MB/s")
    aead_vs_plain = (
        envelopes["ChaCha20-Poly1305", "64 KiB"] / envelopes["plain framed CBOR", "64 KiB"]
    )
    tls_vs_tcp = streams["TLS"] / streams["TCP"]
    print(f"AEAD / plain envelopes (64 KiB):  {aead_vs_plain:.2f}")
    print(f"TLS / TCP throughput (64 KiB):    {tls_vs_tcp:.2f}")
    print(
        json.dumps(
            {"aead_vs_plain_64k": round(aead_vs_plain, 3), "tls_vs_tcp_64k": round(tls_vs_tcp, 3)}
        )
    )


if __name__ == "__main__":
    main()
