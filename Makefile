# The front door. `make report` and `make test` are the two commands a newcomer runs (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Azurite (Microsoft's Azure Storage emulator, from npm, version pinned in tests/azurite) for the storage tests
AZURITE := tests/azurite/node_modules/.installed-stamp

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# editable_mode=compat puts the checkout on sys.path: a folder named acrlib in the working directory
	@# cannot shadow the package (the default editable finder runs after it).
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' --config-settings editable_mode=compat
	@# notebooks/ stays without outputs even when JupyterLab saves them (.gitattributes names the filter)
	if git rev-parse --git-dir >/dev/null 2>&1; then $(BIN)/nbstripout --install --python $(abspath $(BIN))/python; fi
	touch $(STAMP)

$(AZURITE): tests/azurite/package.json tests/azurite/package-lock.json
	npm ci --prefix tests/azurite --no-audit --no-fund --loglevel=error
	touch $(AZURITE)

.PHONY: install report test test-fast lint format docs screenshot bench bench-apply bench-scale clean

install: $(STAMP)

## The demo report on the embedded emulator: reports/acr_report.html
report: $(STAMP)
	$(BIN)/acrlib report --source emulator:demo --out reports/
	@echo "open reports/acr_report.html in a browser"

## ruff, the docs site (every warning an error), then the whole pytest suite (browser tests need Debian's
## chromium; .ci/run installs it)
test: $(STAMP) $(AZURITE)
	$(BIN)/ruff check acrlib tests benchmarks docs examples
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	$(BIN)/python -m pytest -n auto --dist loadscope --durations=15

## the unit lane alone: in-process, no emulator process, under 30 s
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

## regenerate the table reference (docs/tables.md) from acrlib/schema.py (a test fails when they differ), then
## build the docs site into docs/_build/html
docs: $(STAMP)
	$(BIN)/python -c 'import acrlib.schema; acrlib.schema.write_docs("docs/tables.md")'
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

## the README's picture of the report's first screen (after make report; needs chromium)
screenshot: $(STAMP)
	$(BIN)/python docs/screenshot.py

lint: $(STAMP)
	$(BIN)/ruff check acrlib tests benchmarks docs examples

format: $(STAMP)
	$(BIN)/ruff format acrlib tests benchmarks

## acrlib against the stock SDK, side by side (not part of the test suite)
bench: $(STAMP)
	$(BIN)/python benchmarks/collect_bench.py

bench-apply: $(STAMP)
	$(BIN)/python benchmarks/apply_bench.py

## tenants larger than memory: streaming, workers, the listing parsers (pyarrow and msgspec: the bench extra),
## analysis beyond memory; about 40 minutes with --huge
bench-scale: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]' --config-settings editable_mode=compat
	$(BIN)/python benchmarks/scale_bench.py --layers --huge

clean:
	rm -rf $(VENV) reports .pytest_cache .ruff_cache docs/_build
