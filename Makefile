# Ward GIS Platform — every set-up step a fresh Debian/Ubuntu machine needs lives here.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ASSETS_STAMP := node_modules/.assets-built
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: help install system-deps venv web-assets demo serve db-up db-down test lint fmt bench bench-% clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_%-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

install: system-deps venv web-assets  ## install what is missing: Debian packages, .venv with the package, web assets

web-assets: $(ASSETS_STAMP)  ## MapLibre GL JS and the style validator from npm, copied into the package

$(ASSETS_STAMP): package.json package-lock.json $(STAMP)
	npm ci --no-audit --no-fund --loglevel=error
	$(BIN)/python -m gis_platform.web.assets
	@touch $(ASSETS_STAMP)

system-deps:  ## Debian packages (PostgreSQL + PostGIS, GDAL tools), only those missing
	@bash .ci/install-system-deps.sh

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

db-up: install  ## start the private PostGIS cluster (or check DATABASE_URL)
	$(BIN)/gis-platform db up

db-down:  ## stop the private PostGIS cluster
	$(BIN)/gis-platform db down

demo: install  ## start PostGIS, load Ho Chi Minh City and its layers (LARGE=1 adds the 1M-feature ones), serve the map
	$(BIN)/gis-platform db up
	$(BIN)/gis-platform migrate
	$(BIN)/gis-platform demo load
	$(BIN)/gis-platform layers sync $(if $(LARGE),--large,)
	$(BIN)/gis-platform stats layers
	@echo "Layer aggregates are computed in the background by the server (a few minutes; see the log)."
	@echo "Ward GIS Platform: open http://$(HOST):$(PORT)/"
	$(BIN)/gis-platform serve --host $(HOST) --port $(PORT)

serve: install  ## serve without reloading data
	$(BIN)/gis-platform serve --host $(HOST) --port $(PORT)

test: install  ## the whole test suite against a real PostGIS
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install  ## ruff + mypy --strict
	$(BIN)/ruff check gis_platform tests migrations
	$(BIN)/ruff format --check gis_platform tests migrations
	$(BIN)/mypy --strict gis_platform

fmt: install  ## format the code
	$(BIN)/ruff format gis_platform tests migrations
	$(BIN)/ruff check --fix gis_platform tests migrations

bench: install  ## every benchmark; results in bench/results/
	@set -e; for b in $$(ls bench/bench_*.py 2>/dev/null | sed -E 's#bench/bench_(.*)\.py#\1#'); do \
		$(MAKE) --no-print-directory bench-$$b; done

bench-%: install  ## one benchmark: bench-ingest, bench-tiles, bench-features, bench-stats, bench-load, bench-scale
	@test -f bench/bench_$*.py || { echo "no benchmark named $* (bench/bench_$*.py)"; exit 2; }
	$(BIN)/python bench/bench_$*.py

clean:  ## remove caches (keeps the database)
	rm -rf .pytest_cache .mypy_cache .ruff_cache tiles/cache test-artifacts
