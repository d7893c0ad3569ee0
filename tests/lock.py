"""Write requirements.lock, bench/requirements.txt and binder/requirements.txt (`make lock`).

Resolves the project's dependencies with pip for the oldest Python the
workbook supports (3.11.0, binary wheels only), so every Python 3.11+ gets
the same pins, and writes:

- requirements.lock: the workbook, its tests and tools, plus the setuptools
  that `make` uses to install the package editable (what `make lab` and
  `make test` install);
- bench/requirements.txt: what only the benchmarks need (grpcio, the peer
  bench/rpc.py compares with), installed by `make bench` alone, so a
  learner's install stays small;
- binder/requirements.txt: the same pins, for the workbook's runtime only.

All three come from one resolution of everything, so they never disagree.

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
BENCH_LOCK = ROOT / "bench" / "requirements.txt"
HEADER = "# Pinned by `make lock` (tests/lock.py) for Python 3.11+. Do not edit by hand.\n"


def resolve(*requirements: str, keep_pins: bool) -> dict[str, str]:
    constraints = []
    for pins in (LOCK, BENCH_LOCK) if keep_pins else ():
        if pins.exists():
            constraints += ["--constraint", str(pins)]
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
    development = resolve(".[dev]", "setuptools", "wheel", keep_pins=keep_pins)
    runtime = resolve(".", keep_pins=keep_pins)
    for name, part in (("development", development), ("runtime", runtime)):
        mismatched = {pin for pin, version in part.items() if everything.get(pin) != version}
        if mismatched:
            sys.exit(f"{name} and full resolutions disagree on {sorted(mismatched)}")
    bench_only = {name: version for name, version in everything.items() if name not in development}
    write(LOCK, development, HEADER)
    write(BENCH_LOCK, bench_only, HEADER.replace("Python 3.11+", "the benchmarks (make bench)"))
    write(ROOT / "binder" / "requirements.txt", runtime, HEADER.replace("Python 3.11+", "binder"))


if __name__ == "__main__":
    main()
