# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates .venv if missing and installs the project into it first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# TensorFlow's C++ start-up chatter would bury the tables; set it to 0 to see it.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/lowlevel verify

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m pytest benchmarks --benchmark-enable --benchmark-json=benchmarks/results.json

clean:
	rm -rf $(VENV) build *.egg-info
