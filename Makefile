# The first two commands of the README: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint bench install lock clean soak

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,sandbox]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/syncd demo

# ruff (lint and format check) and mypy (strict for syncd/domain and contracts); `make test` runs it first
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -n 2 --dist loadgroup -q

# The long reliability soak: syncd run SIGKILLed 50 times at random moments under 20 % faults against a sandbox
# subprocess (tests/reliability/soak.py; summary in bench/results/soak-results.json), then the hostile-record
# fuzzing with 200 batches and every wrong value of every config field. The short versions run in `make test`.
SOAK_ARGS ?= --kills 50
soak: $(STAMP)
	$(PY) tests/reliability/soak.py $(SOAK_ARGS) --out bench/results
	SYNCD_FUZZ_EXAMPLES=200 SYNCD_FUZZ_REPORT=bench/results/fuzz-results.json \
	  $(PY) -m pytest -q -p no:cacheprovider tests/reliability/test_hostile_records.py
	SYNCD_CONFIG_ABUSE_ALL=1 $(PY) -m pytest -q -p no:cacheprovider tests/unit/test_config_abuse.py

# every benchmark section (bench/README.md), the full sizes: writes bench/results.json and prints a table;
# `$(PY) bench/run_all.py --quick` is a smoke run. BENCH_ARGS passes options (--memory-contacts N ...).
BENCH_ARGS ?=
bench: $(STAMP)
	$(PY) bench/run_all.py $(BENCH_ARGS)

# requirements.lock: every package the image installs (the runtime dependencies, the `sandbox` extra that
# `syncd sandbox` and the compose demo need, and the build backend), exact versions with their hashes, for
# Python 3.11 on Linux like the image. It keeps the pins it holds unless pyproject.toml needs others;
# `make lock LOCK_ARGS=--upgrade` moves every package to its newest allowed version.
LOCK_TOOL ?= uv==0.13.8
LOCK_ARGS ?=
lock: $(STAMP)
	$(PY) -m pip install --quiet $(LOCK_TOOL)
	$(PY) -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')" \
	  | $(VENV)/bin/uv pip compile --quiet pyproject.toml - --extra sandbox --generate-hashes \
	    --python-version 3.11 --python-platform linux --custom-compile-command 'make lock' \
	    $(LOCK_ARGS) -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache bench/results
