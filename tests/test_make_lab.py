"""`make lab` serves JupyterLab on loopback, opened at chapter 00.

Runs the real make target on a free port, reads the address it prints,
and fetches chapter 00 through the server's contents API.
"""

import os
import re
import signal
import subprocess
from pathlib import Path

from tests.lab import free_port, wait_for_json

ROOT = Path(__file__).resolve().parent.parent
URL = re.compile(r"(http://127\.0\.0\.1:(\d+)/lab/tree/chapters/00-start-here\.ipynb\?token=(\w+))")


def test_make_lab_prints_an_address_that_serves_chapter_00():
    port = free_port()
    lab = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"PORT={port}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        printed = []
        for line in lab.stdout:  # ends when the server exits; the test timeout bounds it
            printed.append(line)
            found = URL.search(line)
            if found:
                break
        assert found, "".join(printed)
        _, printed_port, token = found.groups()
        assert int(printed_port) == port
        api = f"http://127.0.0.1:{port}/api/contents/chapters/00-start-here.ipynb?token={token}"
        notebook = wait_for_json(api, lab)
        assert notebook["type"] == "notebook"
        assert notebook["content"]["cells"][0]["source"].startswith("# 00 · Start here")
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=30)
