"""binder/ builds the same workbook that `make lab` installs.

repo2docker (without Docker: `--no-build`) must accept the configuration
and plan to install binder/requirements.txt on the pinned Python and run
postBuild; the pins must be the lock's; and pip must be able to resolve
them for that Python from wheels alone (this part asks PyPI).
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"


def pins(path):
    lines = path.read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def test_binder_pins_are_the_lock_pins():
    binder, lock = pins(BINDER / "requirements.txt"), pins(ROOT / "requirements.lock")
    assert {"jupyterlab", "ipywidgets", "trio", "cbor2", "nbval", "matplotlib"} <= set(binder)
    assert {name: lock.get(name) for name in binder} == binder


def test_repo2docker_accepts_the_configuration():
    run = subprocess.run(
        [sys.executable, "-m", "repo2docker", "--no-build", "--debug", str(ROOT)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    dockerfile = run.stdout + run.stderr
    version = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    assert f"python={version}" in dockerfile
    assert '-r "binder/requirements.txt"' in dockerfile
    assert "./binder/postBuild" in dockerfile


def test_binder_requirements_resolve_for_its_python(tmp_path):
    version = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
         "--python-version", version, "--only-binary=:all:", "--target", str(tmp_path),
         "-r", str(BINDER / "requirements.txt")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
