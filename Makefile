# One set of commands for people, hooks and CI. Each creates .venv when it is missing.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck pytest bench install native browser clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,spark,postgres]'
	touch $(STAMP)

# The click hot path compiled with mypyc (src/seedcart/native.py); rebuilt when a hot module changes.
# Without it (or when stale) the same modules run interpreted.
HOT_SOURCES := src/seedcart/collect/clicks.py src/seedcart/collect/redirect.py src/seedcart/serve/clickedge.py
NATIVE := src/seedcart/_native/manifest.json

$(NATIVE): $(HOT_SOURCES) src/seedcart/native.py | $(STAMP)
	$(BIN)/seedcart native

native: $(NATIVE)

install: $(STAMP) $(NATIVE)

demo: $(STAMP) $(NATIVE)
	$(BIN)/seedcart demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# Chromium for the dashboard test, from the OS packages, when we may install them (root).
# (and a CJK font, so the Chinese pages render in its screenshots).
browser:
	@if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi wqy; then \
	  echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei \
	    >/dev/null) || echo "could not install chromium; the dashboard browser test will be skipped"; \
	else echo "chromium missing: sudo apt-get install chromium fonts-wqy-zenhei (the browser test will be skipped)"; fi

pytest: $(STAMP) $(NATIVE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: $(STAMP) browser lint pytest

bench: $(STAMP) $(NATIVE)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .seedcart .mypy_cache .ruff_cache .pytest_cache src/seedcart/_native
