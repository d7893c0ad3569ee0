# Passing Messages: the commands a learner and a maintainer use.
#   make lab     set up .venv (once) and open JupyterLab on chapter 00
#   make test    set up .venv (once) and run lint + the whole test suite
#   make check   grade your exercise notebooks (CH=01 for one chapter)
# Re-running a target reuses .venv; it reinstalls only when requirements.lock
# or pyproject.toml change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
PORT ?= 8888
CH ?=
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test check lint format exercises notebooks lock bench clean

$(STAMP): $(LOCK) pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Passing Messages needs Python 3.11 or newer (set PYTHON=python3.12, say)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --ip=127.0.0.1 --port=$(PORT) $(ALLOW_ROOT) \
		--LabApp.news_url=None \
		--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
		--LabApp.default_url=/lab/tree/chapters/00-start-here.ipynb

test: $(STAMP) lint
	$(BIN)/python -m pytest tests chapters \
		--nbval --nbval-current-env --nbval-sanitize-with tests/nbval-sanitize.cfg

check: $(STAMP)
	$(BIN)/python -m exercises.scorecard $(CH)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Write the learner notebooks exercises/NN-*.ipynb from exercises/solutions/.
exercises: $(STAMP)
	$(BIN)/python -m exercises.generate

# Execute every chapter notebook top to bottom in a fresh kernel and save it.
notebooks: $(STAMP)
	$(BIN)/python -m tests.execute_notebooks chapters/*.ipynb

# The benchmarks' own peers (grpcio) are pinned apart, so `make lab` stays small.
$(VENV)/.bench-installed: bench/requirements.txt $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@touch $@

bench: $(VENV)/.bench-installed
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Re-resolve the pinned versions from pyproject.toml (needs the network):
# requirements.lock (workbook, tests, tools), bench/requirements.txt (the
# benchmarks' peers) and binder/requirements.txt (the runtime).
# Current pins are kept; UPGRADE=1 moves every pin to the newest version allowed.
lock:
	$(PYTHON) tests/lock.py $(if $(UPGRADE),--upgrade,)

clean:
	rm -rf $(VENV) .hypothesis
