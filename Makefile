# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates .venv if missing and installs the project into it first.
# Python 3.11-3.13 (pyproject.toml says so too).
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 \
                  || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# TensorFlow's C++ start-up chatter would bury the tables; set it to 0 to see it.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test bench accuracy install clean

$(BIN)/python:
	@echo "==> creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "==> installing the project and its test tools into $(VENV)" \
	      "(the first time downloads TensorFlow: several minutes)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The main job: parity table, quick speed table, the gradient lab's quick studies,
# a short training run.
demo: install
	@echo "==> lowlevel verify: the parity matrix against Keras"
	$(BIN)/lowlevel verify
	@echo "==> lowlevel bench --quick: step speed against Keras (runs/bench/)"
	$(BIN)/lowlevel bench --quick --out runs/bench
	@echo "==> lowlevel gradients --quick: the gradient lab (runs/gradients/)"
	$(BIN)/lowlevel gradients all --quick --out runs/gradients
	@echo "==> lowlevel train: a short run on the synthetic corpus (runs/demo/)"
	rm -rf runs/demo
	$(BIN)/lowlevel train --data synthetic --num-train 10000 --num-test 2000 --cell gru \
	    --style layer --units 32 --embedding-dim 32 --optimizer adam --lr 0.005 --epochs 5 \
	    --out runs/demo
	@echo "==> lowlevel predict: two synthetic reviews, positive then negative"
	$(BIN)/lowlevel predict --run runs/demo "1 70 120 170" "1 95 145 195"

# Up to 4 worker processes (pytest-xdist); a plain `pytest` runs serially. No test has
# a wall-clock limit, so a busy machine makes the suite slower, not red. `worksteal`: a
# worker that runs dry takes tests queued on a busy one, so a few long tests do not end
# the run on one worker while the other idles (docs/testing.md has the measurement).
test: install
	@echo "==> running the test suite (tests/, README and docs blocks included) in up to 4 processes"
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist worksteal

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
