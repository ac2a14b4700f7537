# Quick start targets; each creates its own virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test lint docs bench bench-env clean

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

# The peers of bench/compare.py (Dask, Ray, HyperQueue) and the profiler live only here, never
# in the project's own environment: rain editable plus the systems it is compared with.
BENCH_VENV ?= .venv-bench
BENCH_PEERS = dask distributed ray hyperqueue matplotlib py-spy

$(BENCH_VENV)/bin/rain: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -e '.[test]' $(BENCH_PEERS)
	touch $@

bench-env: $(BENCH_VENV)/bin/rain

clean:
	rm -rf $(VENV) $(BENCH_VENV) docs/_build
