"""Write requirements.lock and binder/requirements.txt (what `make lock` runs).

Resolves the project's dependencies with pip for the oldest Python the
workbook supports (3.11.0, binary wheels only), so every Python 3.11+ gets
the same pins, and writes:

- requirements.lock: everything, tests and tools included, plus the
  setuptools that `make` uses to install the package editable;
- binder/requirements.txt: the same pins, for the workbook's runtime only.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = "# Pinned by `make lock` (tests/lock.py) for Python 3.11+. Do not edit by hand.\n"


def resolve(*requirements: str) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
             "--python-version", "3.11", "--only-binary=:all:", "--target", f"{scratch}/target",
             "--report", str(report), *requirements],
            check=True, cwd=ROOT,
        )  # fmt: skip
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
    everything = resolve(".[dev]", "setuptools", "wheel")
    runtime = resolve(".")
    mismatched = {name for name, version in runtime.items() if everything.get(name) != version}
    if mismatched:
        sys.exit(f"runtime and full resolutions disagree on {sorted(mismatched)}")
    write(ROOT / "requirements.lock", everything, HEADER)
    write(ROOT / "binder" / "requirements.txt", runtime, HEADER.replace("Python 3.11+", "binder"))


if __name__ == "__main__":
    main()
