# Quick start targets; each creates its own virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test lint docs bench clean

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

# The site (docs/_build/html) from docs/ and the docstrings; any warning fails the build.
$(BIN)/sphinx-build: pyproject.toml $(BIN)/rain
	$(BIN)/pip install --quiet -e '.[docs]'
	touch $@

docs: $(BIN)/sphinx-build
	$(BIN)/sphinx-build -b html -W --keep-going -q -E docs docs/_build/html

clean:
	rm -rf $(VENV) docs/_build
