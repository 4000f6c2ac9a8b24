# Everything a fresh machine needs: `make demo`, `make run`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup chromium test lint demo run bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Playwright drives Debian's Chromium; `playwright install` cannot download a browser here.
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup chromium lint
	$(BIN)/pytest

demo: setup
	$(BIN)/artwatch demo

run: setup
	$(BIN)/artwatch run

bench: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/accuracy.py
	$(BIN)/python benchmarks/speed.py
	$(BIN)/python -m benchmarks.crawl
	$(BIN)/python -m benchmarks.alerts

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
