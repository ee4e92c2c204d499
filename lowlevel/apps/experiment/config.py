"""The experiment's settings: one frozen dataclass, from which `lowlevel train` builds its
flags (``num_words`` -> ``--num-words``; see :mod:`lowlevel.apps.experiment.cli`).

Defaults are the tutorial's; the comment beside each field says where it comes from.
Every field is checked on construction, and a bad value raises an error naming its flag.

``clip`` holds a :class:`lowlevel.train.Clip`, parsed once from the flag's text
(``'none'``, ``'global_norm:5'``) when the config is built; ``config.json`` stores that
text again (:meth:`ExperimentConfig.to_json`, :meth:`~ExperimentConfig.from_json`).

This module imports no TensorFlow, so that ``lowlevel train --help`` and a mistyped flag
answer at once: the choices below are names, and each list that mirrors a library
registry (the loops, the strategies, the optimisers) is checked against it by
``tests/apps/experiment/test_config_choices.py``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import TYPE_CHECKING

from lowlevel import kinds

if TYPE_CHECKING:  # lowlevel.train imports TensorFlow: only when a config is built
    from lowlevel.train import Clip

DATA = ("imdb", "synthetic")
STYLES = ("cell", "layer")  # lowlevel.models.STYLES
IMPLEMENTATIONS = ("reference", "fast", "bptt", "unrolled", "auto")  # lowlevel.loops.registry
DEFAULT_IMPLEMENTATION = "auto"  # lowlevel.loops.registry.DEFAULT_IMPLEMENTATION
STRATEGIES = ("default", "mirrored", "multiworker")  # lowlevel.distribute.STRATEGIES
# Optimiser name -> its class in lowlevel.optimizers, resolved on use (optimizer_class).
OPTIMIZERS = {"rmsprop": "RMSprop", "adam": "Adam", "sgd": "SGD"}
KEEP = ("best", "last")
# Integer fields and their ranges. The upper ends keep a typo from asking for terabytes
# (e.g. --maxlen 1000000000) and the seed within what NumPy/TensorFlow seeding accepts.
INT_RANGES = {"num_train": (1, 10**7), "num_test": (1, 10**7), "num_words": (4, 10**7),
              "maxlen": (1, 100_000), "units": (1, 65_536), "layers": (1, 64),
              "embedding_dim": (1, 65_536), "epochs": (1, 10**6), "batch_size": (1, 2**20),
              "seed": (0, 2**32 - 1), "checkpoint_every": (0, 10**9),
              "record_gradients": (0, 10**9)}
# Fields that may differ between a run and its resumption.
# (`out`: a run directory may be moved or reached by another path.)
RESUMABLE_CHANGES = ("resume", "out", "epochs", "checkpoint_every")


def _field(default, help, choices=None, metavar=None):
    """A config field whose metadata makes its command-line flag (help, choices, metavar)."""
    return dataclasses.field(default=default,
                             metadata={"help": help, "choices": choices, "metavar": metavar})


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Everything a run depends on; command-line flags are built from these fields
    (``num_words`` -> ``--num-words``; see ``lowlevel.apps.experiment.cli``)."""

    # Data.
    data: str = _field("imdb", "corpus: IMDB or the offline synthetic one", DATA)  # the tutorial's
    imdb_path: str | None = _field(None, "Keras-layout imdb.npz (default: Keras's cache or "
                                         "download)", metavar="PATH")  # None: as the tutorial
    word_index: str | None = _field(None, "IMDB word index json, for --glove and predict "
                                          "(default: Keras's cache or download)", metavar="PATH")
    num_train: int = _field(25000, "synthetic corpus: training reviews")  # IMDB's 25,000
    num_test: int = _field(25000, "synthetic corpus: test reviews")  # IMDB's 25,000
    num_words: int = _field(10000, "vocabulary size (ids >= it become oov)")  # total_words
    maxlen: int = _field(80, "review length after pre-padding/truncating")  # max_review_len
    val_split: float = _field(0.1, "fraction of the training set held out for validation"
                              )  # 2,500 IMDB reviews; the tutorial validated on the test set
    # Model.
    cell: str = _field("simple", "recurrent cell", kinds.NAMES)  # the tutorial's SimpleRNNCell
    style: str = _field("cell", "'cell': a stack of cells stepped at every word (MyRNN); "
                        "'layer': sequence layers", STYLES)  # the tutorial's first script
    implementation: str = _field(DEFAULT_IMPLEMENTATION,
                                 "time loop of the recurrent layers, or of --style cell's "
                                 "stack of cells (README, Speed)",
                                 IMPLEMENTATIONS)  # the layers' default
    units: int = _field(64, "units of each recurrent layer and of the head")  # tutorial's 64
    layers: int = _field(2, "stacked recurrent layers")  # tutorial's two cells
    dropout: float = _field(0.5, "cell input dropout and head dropout")  # tutorial's 0.5
    embedding_dim: int = _field(100, "embedding width (ignored with --glove: the file's)")  # 100
    glove: str | None = _field(None, "GloVe vectors (.txt, .txt.gz, .zip) for the embedding",
                               metavar="PATH")
    glove_scale: float = _field(1.0, "multiply the GloVe vectors by this before training "
                                     "(see README: 0.1 lets RMSprop fine-tune them)"
                                )  # 1: the vectors as read, as the tutorial
    freeze_embedding: bool = _field(False, "do not train the embedding")  # tutorial trains it
    # Optimisation.
    optimizer: str = _field("rmsprop", "optimiser", tuple(OPTIMIZERS))  # tutorial: RMSprop
    lr: float = _field(1e-3, "learning rate")  # tutorial: RMSprop(1e-3)
    # A Clip; given (and defaulted) as the flag's text, parsed once on construction.
    clip: Clip = _field("none", "gradient clipping 'none' or MODE:THRESHOLD, MODE in "
                                "value|norm|global_norm (e.g. global_norm:5)",
                        metavar="MODE:THRESHOLD")  # off by default: clipping is a study option
    epochs: int = _field(10, "training epochs")  # tutorial: 50, long past the best epoch
    batch_size: int = _field(128, "examples per step")  # tutorial's batchsz
    seed: int = _field(0, "seed of weights, dropout, data order and validation split"
                       )  # fixed: the same flags give the same run, bit for bit
    strategy: str = _field("default", "data parallelism: none, MirroredStrategy over the "
                                      "local GPUs (else logical CPUs), or MultiWorker"
                                      "MirroredStrategy from TF_CONFIG (see lowlevel.distribute)",
                           STRATEGIES)  # one device, as the tutorial
    # Run management.
    out: str = _field("runs/experiment", "run directory", metavar="DIR")  # relative to cwd
    resume: bool = _field(False, "continue the run in --out from its last checkpoint"
                          )  # off: an existing run is never overwritten by accident
    keep: str = _field("best", "weights kept at the end: best validation accuracy or last",
                       KEEP)  # best: the tutorial kept the last, overfitted ones
    checkpoint_every: int = _field(0, "also checkpoint every N steps (0: epoch ends only)",
                                   metavar="N")
    record_gradients: int = _field(
        0, "at step 0 and every N steps, record the recurrent layers' |dL/dh_t|, U's "
           "spectra, step-Jacobian singular values and gate statistics on a fixed probe "
           "batch into gradients_record.npz and TensorBoard (0: off)",
        metavar="N")  # off: it costs a pass over the probe batch per layer and step

    def __post_init__(self):
        for name in ("data", "cell", "style", "implementation", "optimizer", "keep",
                     "strategy"):
            choices = _choices(name)
            if getattr(self, name) not in choices:
                _bad(name, f"one of {list(choices)}", getattr(self, name))
        for name, (low, high) in INT_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                _bad(name, f"an integer in [{low}, {high}]", value)
        if not (isinstance(self.val_split, (int, float)) and 0 <= self.val_split < 1):
            _bad("val_split", "a number in [0, 1)", self.val_split)
        if not (isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1):
            _bad("dropout", "a number in [0, 1)", self.dropout)
        for name in ("lr", "glove_scale"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                _bad(name, "a finite number > 0", value)
        object.__setattr__(self, "clip", as_clip(self.clip))  # frozen: set once, here
        if self.keep == "best" and self.val_split == 0:
            raise ValueError("`--keep best` needs a validation set: `--val-split` > 0 or "
                             "`--keep last`; received --val-split 0.")
        if self.style == "cell" and self.implementation == "bptt":
            raise ValueError("`--implementation bptt` differentiates one cell by hand and "
                             "cannot run `--style cell`, whose cells are stepped together; "
                             "use `--style layer` (its layers run in turn) or another "
                             "implementation.")
        if self.glove is not None and self.data != "imdb":
            raise ValueError("`--glove` needs `--data imdb` (it maps IMDB words to vectors); "
                             f"received --data {self.data}.")
        if self.glove_scale != 1 and self.glove is None:
            raise ValueError("`--glove-scale` needs `--glove` (it scales the GloVe vectors); "
                             f"received --glove-scale {self.glove_scale:g} without it.")

    def to_json(self) -> dict:
        """``{field: value}`` for ``config.json``: the clip as the flag's text."""
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
                "clip": clip_text(self.clip)}

    @classmethod
    def from_json(cls, saved: dict) -> "ExperimentConfig":
        """The config of :meth:`to_json`'s ``saved``; fields it lacks (newer than the run)
        take their defaults, and keys that are no field are ignored."""
        if not isinstance(saved, dict):
            raise ValueError(f"a config must be a JSON object; received {type(saved).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})

    def check_files(self):
        """FileNotFoundError naming the flag for each given path that does not exist."""
        from lowlevel.apps.data import glove  # noqa: PLC0415

        for name in ("imdb_path", "word_index", "glove"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(glove.split_path(path)[0]):
                raise FileNotFoundError(f"`{flag(name)}`: no file at {path!r}.")


def as_clip(value) -> Clip:
    """A ``Clip`` from itself, from the flag's text (``'none'``, ``'global_norm:5'``) or
    from its fields (``{'mode', 'threshold'}``, as ``dataclasses.asdict`` gives them);
    a ``ValueError`` naming ``--clip`` otherwise."""
    from lowlevel.train import Clip  # noqa: PLC0415

    try:
        if isinstance(value, Clip):
            return value
        if isinstance(value, dict):
            return Clip(**value)
        if isinstance(value, str):
            return Clip.parse(value)
        raise ValueError(f"a Clip or its text was expected, not {type(value).__name__}")
    except (ValueError, TypeError) as error:
        raise ValueError(f"`--clip` must be 'none' or MODE:THRESHOLD with MODE in "
                         f"value|norm|global_norm and THRESHOLD finite and > 0; received "
                         f"{value!r} ({error})") from None


def clip_text(clip: Clip) -> str:
    """The ``--clip`` text of ``clip``, which :func:`as_clip` reads back to an equal one."""
    return "none" if clip.mode == "none" else f"{clip.mode}:{clip.threshold!r}"


def flag_value(name: str, value):
    """``value`` of the field ``name`` as its flag spells it (a Clip as its text)."""
    return clip_text(value) if name == "clip" else value


def optimizer_class(name: str):
    """The ``lowlevel.optimizers`` class of the optimiser called ``name``."""
    from lowlevel import optimizers  # noqa: PLC0415

    return getattr(optimizers, OPTIMIZERS[name])


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _choices(name):
    return {f.name: f.metadata["choices"] for f in dataclasses.fields(ExperimentConfig)}[name]


def _bad(name, expected, value):
    raise ValueError(f"`{flag(name)}` must be {expected}; received {value!r}.")
