# Two set-up commands (README): `make run` and `make test`. Only Python 3.11+ and make needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'

run: install
	$(BIN)/aggregator serve

test: install-test lint
	$(BIN)/python -m pytest

lint:
	$(BIN)/python -m ruff check aggregator tests
	$(BIN)/python -m mypy aggregator

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
