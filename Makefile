# The two commands of the quick start: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed
# The view tests drive headless Chromium (tests/cli/test_view.py). Where none is on the PATH it
# is installed with apt (Debian's `chromium` package); where one is, nothing is done.
CHROMIUM ?= $(or $(shell command -v chromium),/usr/bin/chromium)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: demo test test-deps chromium lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check $(TORCH)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/neurongraph demo

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "install Chromium (the view tests need it) as $(CHROMIUM)"; exit 1; }
	$(SUDO) apt-get update
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium

chromium: $(CHROMIUM)

# What the tests need besides the Python packages.
test-deps: $(STAMP) chromium

test: test-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) neurongraph-store demo-output
