# Thin on purpose: each target is one or two visible commands.
PYTHON ?= python3
VENV   := .venv
V1     := .venv-v1
BIN    := $(VENV)/bin

.PHONY: install serve test lint types unit bench clean

# torch first, pinned: 2.13.0 is the CPU build on these machines' disk; the [train] extra keeps
# a range that it satisfies, so pip adds nothing (a bare `torch` would pull a CUDA build).
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,train]'
	touch $@

# The 1.5.x SDK shares the package name `together` with 3.x, so it lives in its own venv;
# the e2e tests run it there as a subprocess.
$(V1)/.installed:
	$(PYTHON) -m venv $(V1)
	$(V1)/bin/pip install -q --disable-pip-version-check 'together==1.5.35'
	touch $@

install: $(BIN)/.installed $(V1)/.installed

serve: $(BIN)/.installed
	$(BIN)/together-sim serve

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(BIN)/.installed
	$(BIN)/mypy

test: install lint types
	$(BIN)/pytest -q

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(V1) .together-sim .mypy_cache .ruff_cache .pytest_cache
