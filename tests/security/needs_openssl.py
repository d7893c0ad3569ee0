"""Tests that need the `openssl` command: skipped without it locally, failed in CI.

`make test` on a learner's machine without the Debian `openssl` package
skips these tests and says how to install it. Where the environment
variable CI is set, a missing `openssl` is a failure: CI must run them.
"""

from __future__ import annotations

import os
import shutil

import pytest


def openssl_executable() -> str:
    """The path of `openssl`; skip the calling test (or fail it, under CI) without one."""
    executable = shutil.which("openssl")
    if executable is None:
        missing = "openssl is not installed (on Debian: apt-get install openssl)"
        if os.environ.get("CI"):
            pytest.fail(f"{missing} (CI must not skip the openssl tests)")
        pytest.skip(missing)
    return executable
