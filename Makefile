# Quick start targets; each creates its own virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/rain: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]' -e tests/example_plugin
	touch $@

demo: $(BIN)/rain
	$(BIN)/python examples/demo.py

test: $(BIN)/rain
	$(BIN)/python -m pytest -n 2 tests

lint: $(BIN)/rain
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV)
