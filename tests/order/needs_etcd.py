"""Tests that need a real etcd: skipped without one locally, failed in CI.

`make test` on a learner's machine without etcd skips these tests with the
command that installs it. Where the environment variable CI is set, a
missing etcd is a failure: CI must run them, not skip them.
"""

from __future__ import annotations

import os

import pytest

from reference.order.etcd_cluster import EtcdMissing, etcd_executable


def require_etcd() -> None:
    """Skip the calling test (or fail it, under CI) when etcd is not installed."""
    try:
        etcd_executable()
    except EtcdMissing as missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} (CI must not skip the etcd tests)")
        pytest.skip(str(missing))
