"""Helpers for the tests that start a real JupyterLab server."""

import json
import socket
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_json(url: str, process, within: float = 60.0):
    """GET `url` until the server answers (it logs its address before it listens)."""
    give_up = time.monotonic() + within
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response)
        except OSError:
            time.sleep(0.2)  # polling for readiness, not timing a result
    raise TimeoutError(f"no answer at {url} within {within:g} s")


def shut_down_kernels(base_url: str) -> None:
    """Stop every kernel the server runs, so finished notebooks do not hold on to CPU or memory."""
    with urllib.request.urlopen(f"{base_url}/api/kernels", timeout=10) as response:
        kernels = json.load(response)
    for kernel in kernels:
        request = urllib.request.Request(f"{base_url}/api/kernels/{kernel['id']}", method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()
