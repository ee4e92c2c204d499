# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates .venv if missing and installs the project into it first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# TensorFlow's C++ start-up chatter would bury the tables; set it to 0 to see it.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test bench accuracy install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The main job: parity table, quick speed table, the gradient lab's quick studies,
# a short training run.
demo: install
	$(BIN)/lowlevel verify
	$(BIN)/lowlevel bench --quick --out runs/bench
	$(BIN)/lowlevel gradients all --quick --out runs/gradients
	rm -rf runs/demo
	$(BIN)/lowlevel train --data synthetic --num-train 10000 --num-test 2000 --cell gru \
	    --style layer --units 32 --embedding-dim 32 --optimizer adam --lr 0.005 --epochs 5 \
	    --out runs/demo
	$(BIN)/lowlevel predict --run runs/demo "1 70 120 170" "1 95 145 195"

# Up to 4 worker processes (pytest-xdist); a plain `pytest` runs serially.
test: install
	$(BIN)/python -m pytest -n auto --maxprocesses 4

bench: install
	$(BIN)/python -m pytest benchmarks --benchmark-enable --benchmark-json=benchmarks/results.json

# The README's accuracy table on the real IMDB data: every cell x style, then the
# GloVe-initialised LSTM frozen, fine-tuned, and fine-tuned from vectors scaled by 0.1.
# Point it at local files, e.g.
#   make accuracy IMDB=data/imdb.npz WORD_INDEX=data/imdb_word_index.json GLOVE=data/glove.6B.100d.txt
# (IMDB and WORD_INDEX empty: Keras's cache or download). A stopped run resumes.
IMDB       ?=
WORD_INDEX ?=
GLOVE      ?= glove.6B.100d.txt
EPOCHS     ?= 10
RUNS       ?= runs/imdb
IMDB_FLAGS  = --data imdb --epochs $(EPOCHS) $(if $(IMDB),--imdb-path $(IMDB))
GLOVE_FLAGS = --cell lstm --style layer --glove $(GLOVE) $(if $(WORD_INDEX),--word-index $(WORD_INDEX))
resume      = $$(test -d $(RUNS)/$(1)/checkpoints && echo --resume)

accuracy: install
	for cell in simple lstm gru; do for style in cell layer; do \
	    $(BIN)/lowlevel train $(IMDB_FLAGS) --cell $$cell --style $$style \
	        --out $(RUNS)/$$cell-$$style $(call resume,$$cell-$$style) || exit 1; done; done
	$(BIN)/lowlevel train $(IMDB_FLAGS) $(GLOVE_FLAGS) --freeze-embedding \
	    --out $(RUNS)/lstm-glove-frozen $(call resume,lstm-glove-frozen)
	$(BIN)/lowlevel train $(IMDB_FLAGS) $(GLOVE_FLAGS) \
	    --out $(RUNS)/lstm-glove-tuned $(call resume,lstm-glove-tuned)
	$(BIN)/lowlevel train $(IMDB_FLAGS) $(GLOVE_FLAGS) --glove-scale 0.1 \
	    --out $(RUNS)/lstm-glove-tuned-x0.1 $(call resume,lstm-glove-tuned-x0.1)
	$(BIN)/python benchmarks/accuracy_table.py $(RUNS)

clean:
	rm -rf $(VENV) build *.egg-info
