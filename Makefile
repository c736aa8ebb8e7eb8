# ZT Console: `make demo` runs the whole console on embedded defaults; `make test` is what CI runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo manage test lint bench install clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "ZT Console needs Python 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) scripts/demo.py

# One management command with the demo's settings: make manage ARGS="verify_audit"
manage: $(VENV)/.installed
	$(PY) scripts/demo.py manage $(ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(VENV)/.installed
	bash scripts/test.sh

bench: $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --ignore-requires-python -e '.[bench]'
	$(PY) -m bench

clean:
	rm -rf var/test-*.sqlite3* var/screenshots
