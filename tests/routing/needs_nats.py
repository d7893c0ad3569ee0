"""Tests that need a real nats-server: skipped without one locally, failed in CI.

`make test` on a learner's machine without nats-server skips these tests
with the command that installs it. Where the environment variable CI is
set, a missing nats-server is a failure: CI must run them, not skip them.
"""

from __future__ import annotations

import os

import pytest

from reference.routing.nats_server import NatsServerMissing, nats_server_executable


def require_nats_server() -> None:
    """Skip the calling test (or fail it, under CI) when nats-server is not installed."""
    try:
        nats_server_executable()
    except NatsServerMissing as missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} (CI must not skip the nats-server tests)")
        pytest.skip(str(missing))
