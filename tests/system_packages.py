"""Tests that need a system package: skipped without it on a learner's machine, failed in CI.

Some tests run real programs that pip cannot install: `nats-server` (chapter 05), `etcd`
(chapter 06), `openssl` (chapter 07). `make test` on a machine without one skips those tests,
with the command that installs it. Where the environment variable CI is set, a missing program
is a failure: CI installs them (`.ci/run`), so it must run those tests, never skip them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import pytest

from reference.order.etcd_cluster import EtcdMissing, etcd_executable
from reference.routing.nats_server import NatsServerMissing, nats_server_executable


class OpensslMissing(RuntimeError):
    """The `openssl` command is not installed."""


def _openssl() -> str:
    executable = shutil.which("openssl")
    if executable is None:
        raise OpensslMissing("openssl is not installed (on Debian: apt-get install openssl)")
    return executable


def require(find: Callable[[], str], missing: type[Exception]) -> str:
    """What `find()` returns; skip the calling test (or fail it, in CI) if it raises `missing`."""
    try:
        return find()
    except missing as error:
        if os.environ.get("CI"):
            pytest.fail(f"{error} (CI must not skip the tests that need it)")
        pytest.skip(str(error))


def require_nats_server() -> str:
    return require(nats_server_executable, NatsServerMissing)


def require_etcd() -> str:
    return require(etcd_executable, EtcdMissing)


def openssl_executable() -> str:
    return require(_openssl, OpensslMissing)
