# The front door. `make report` and `make test` are the two commands a newcomer runs (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

.PHONY: install report test lint format bench clean

install: $(STAMP)

## The demo report on the embedded emulator: reports/acr_report.html
report: $(STAMP)
	$(BIN)/acrlib report --source emulator:demo --out reports/

## ruff, then the whole pytest suite (browser tests need Debian's chromium; .ci/run installs it)
test: $(STAMP)
	$(BIN)/ruff check acrlib tests benchmarks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check acrlib tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format acrlib tests benchmarks

## acrlib against the stock SDK, side by side (not part of the test suite)
bench: $(STAMP)
	$(BIN)/python benchmarks/collect_bench.py

clean:
	rm -rf $(VENV) reports .pytest_cache .ruff_cache
