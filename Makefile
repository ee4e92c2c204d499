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

# The main job: parity table, the gradient lab's quick studies, a short training run.
demo: install
	$(BIN)/lowlevel verify
	$(BIN)/lowlevel gradients all --quick --out runs/gradients
	rm -rf runs/demo
	$(BIN)/lowlevel train --data synthetic --num-train 10000 --num-test 2000 --cell gru \
	    --style layer --units 32 --embedding-dim 32 --optimizer adam --lr 0.005 --epochs 5 \
	    --out runs/demo
	$(BIN)/lowlevel predict --run runs/demo "1 70 120 170" "1 95 145 195"

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m pytest benchmarks --benchmark-enable --benchmark-json=benchmarks/results.json

clean:
	rm -rf $(VENV) build *.egg-info
