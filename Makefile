# Two set-up commands (README): `make run` and `make test`. Only Python 3.11+ and make needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

TOOLS := .venv-tools/bin

.PHONY: run test lint install install-test tools clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'

run: install
	$(BIN)/aggregator serve

# Command-line checkers the deployment tests run (kept apart: their pins clash with ours).
$(TOOLS)/python:
	$(PYTHON) -m venv .venv-tools
	$(TOOLS)/python -m pip install --quiet --upgrade pip

tools: $(TOOLS)/python
	$(TOOLS)/python -m pip install --quiet -r tools-requirements.txt

test: install-test tools lint
	$(BIN)/python -m pytest

lint:
	$(BIN)/python -m ruff check aggregator tests
	$(BIN)/python -m mypy aggregator

clean:
	rm -rf $(VENV) .venv-tools *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
