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
# Pinned to the versions the figures of docs/benchmarks.md were taken with.
BENCH_PEERS = dask==2026.8.0 distributed==2026.8.0 ray==2.60.0 hyperqueue==0.27.0 matplotlib==3.11.2 py-spy==0.4.3

$(BENCH_VENV)/bin/rain: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -e '.[test]' $(BENCH_PEERS)
	touch $@

bench-env: $(BENCH_VENV)/bin/rain

# Every side-by-side benchmark of docs/benchmarks.md, one after the other (40 minutes and more
# on a loaded 2-CPU machine); figures to bench/results/*.txt, charts to docs/images/bench-*.png.
BENCH_RUN = cd bench && ../$(BENCH_VENV)/bin/python
bench: bench-env
	mkdir -p bench/results
	$(BENCH_RUN) programs.py --plot ../docs/images/bench-programs.png | tee results/programs.txt
	$(BENCH_RUN) python_tasks.py --plot ../docs/images/bench-python-tasks.png | tee results/python_tasks.txt
	$(BENCH_RUN) round_trip.py --plot ../docs/images/bench-round-trip.png | tee results/round_trip.txt
	$(BENCH_RUN) big_object.py --plot ../docs/images/bench-big-object.png | tee results/big_object.txt
	$(BENCH_RUN) graph_building.py | tee results/graph_building.txt
	$(BENCH_RUN) compare.py --skip-million --runs 3 --plot ../docs/images/bench-compare.png | tee results/compare.txt

clean:
	rm -rf $(VENV) $(BENCH_VENV) docs/_build
