"""Write requirements.lock and binder/requirements.txt (what `make lock` runs).

Resolves the project's dependencies with pip for the oldest Python the
workbook supports (3.11.0, binary wheels only), so every Python 3.11+ gets
the same pins, and writes:

- requirements.lock: everything, tests, tools and benchmarks included, plus
  the setuptools that `make` uses to install the package editable;
- binder/requirements.txt: the same pins, for the workbook's runtime only.

The current requirements.lock constrains the resolution, so adding a
dependency pins only it and what it brings, and every other pin stays as it
was (a class keeps the set it installed). `--upgrade` (`make lock
UPGRADE=1`) ignores the current pins and takes the newest versions allowed.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
HEADER = "# Pinned by `make lock` (tests/lock.py) for Python 3.11+. Do not edit by hand.\n"


def resolve(*requirements: str, keep_pins: bool) -> dict[str, str]:
    constraints = ["--constraint", str(LOCK)] if keep_pins else []
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        run = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
             "--python-version", "3.11", "--only-binary=:all:", "--target", f"{scratch}/target",
             "--report", str(report), *constraints, *requirements],
            cwd=ROOT,
        )  # fmt: skip
        if run.returncode != 0:
            hint = " within the current pins: try --upgrade" if keep_pins else ""
            sys.exit(f"pip could not resolve {' '.join(requirements)}{hint}")
        installs = json.loads(report.read_text())["install"]
    pins = {item["metadata"]["name"]: item["metadata"]["version"] for item in installs}
    pins.pop("passing-messages")
    return pins


def write(path: Path, pins: dict[str, str], header: str) -> None:
    lines = [
        f"{name}=={version}\n" for name, version in sorted(pins.items(), key=lambda p: p[0].lower())
    ]
    path.write_text(header + "".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="ignore the current pins")
    keep_pins = not parser.parse_args().upgrade and LOCK.exists()
    everything = resolve(".[dev,bench]", "setuptools", "wheel", keep_pins=keep_pins)
    runtime = resolve(".", keep_pins=keep_pins)
    mismatched = {name for name, version in runtime.items() if everything.get(name) != version}
    if mismatched:
        sys.exit(f"runtime and full resolutions disagree on {sorted(mismatched)}")
    write(LOCK, everything, HEADER)
    write(ROOT / "binder" / "requirements.txt", runtime, HEADER.replace("Python 3.11+", "binder"))


if __name__ == "__main__":
    main()
