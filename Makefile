# Every target creates .venv and installs nbflow with its dev tools first, so each
# works on a fresh clone with only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint lab bench clean

# The editable install puts this folder on sys.path (editable_mode=compat) instead of an import
# hook: with the hook, a folder named nbflow next to a notebook was imported in place of the
# package (as an empty namespace package); on sys.path the real package comes first.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## run the example notebooks headless against the default store
	$(BIN)/python notebooks/run_all.py

test: $(STAMP)  ## ruff, mypy, the layer contracts and the whole test suite (gets Chromium for the browser tests if missing)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo
	$(BIN)/python -m tests.browser.chromium
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo

lab: $(STAMP)  ## JupyterLab on notebooks/
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: $(STAMP)  ## the benchmark figures (see bench/README.md)
	$(BIN)/python bench/fanout.py 1000
	$(BIN)/python bench/fanout.py 10000
	$(BIN)/python bench/fanout.py 100000
	$(BIN)/python bench/rerun.py 100000
	$(BIN)/python bench/partitions.py
	$(BIN)/python bench/sensor.py
	$(BIN)/python bench/views.py
	$(BIN)/python bench/clicks.py
	$(BIN)/python bench/dask_bench.py
	$(BIN)/python -m pip install --quiet pipefunc  # the peer of concurrency.py and vs_pipefunc.py: measured against, not a dependency
	$(BIN)/python bench/concurrency.py
	$(BIN)/python bench/vs_pipefunc.py --rounds 3
	$(BIN)/python -m pip install --quiet pipefunc sf-hamilton  # the peers of cold_start.py: measured against, not dependencies
	$(BIN)/python bench/cold_start.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache notebooks/.nbflow
