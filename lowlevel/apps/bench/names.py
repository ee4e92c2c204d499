"""What the bench can measure, by name: sizes, cell kinds, phases, implementations.

No TensorFlow here: the ``lowlevel bench`` flags are built from these names, and
``lowlevel bench --help`` should answer without loading TensorFlow.
"""

from __future__ import annotations

from lowlevel import kinds

SEED = 0

# Shapes; every size stacks ``layers`` layers (all but the top return sequences).
SIZES = {
    "quick": dict(batch=8, time=10, input=6, units=5, layers=2),        # smoke tests only
    "tutorial": dict(batch=128, time=80, input=100, units=64, layers=2),
    "large": dict(batch=64, time=200, input=256, units=256, layers=2),
}
DEFAULT_SIZES = ("tutorial", "large")

KINDS = kinds.NAMES
PHASES = ("forward", "train_step")
GATES = {name: k.gates for name, k in kinds.KINDS.items()}  # fused gate blocks of each kernel

# ``lowlevel`` is the layers' default implementation; ``lowlevel_<name>`` forces one.
LOWLEVEL_IMPLEMENTATIONS = {"lowlevel": None, "lowlevel_reference": "reference",
                            "lowlevel_fast": "fast", "lowlevel_bptt": "bptt"}
# The baseline comes first, so that it is built and traced first.
IMPLEMENTATIONS = ("keras_layer", *LOWLEVEL_IMPLEMENTATIONS, "lowlevel_sequential",
                   "lowlevel_stacked",
                   "lowlevel_unrolled",
                   "lowlevel_bfloat16",
                   "keras_mixed_bfloat16", "keras_cell_loop_function",
                   "keras_cell_loop_eager", "block_lstm", "keras_cudnn", "torch")
BASELINE = "keras_layer"

DEFAULT_IMPLEMENTATIONS = ("keras_layer", "lowlevel_sequential", "lowlevel", "lowlevel_stacked",
                           "lowlevel_unrolled", "lowlevel_reference", "lowlevel_bptt",
                           "lowlevel_bfloat16", "keras_mixed_bfloat16",
                           "keras_cell_loop_function", "block_lstm", "keras_cudnn", "torch")
QUICK_IMPLEMENTATIONS = ("keras_layer", "lowlevel_sequential", "lowlevel", "lowlevel_stacked",
                         "lowlevel_unrolled", "lowlevel_bfloat16", "keras_mixed_bfloat16", "torch")
# The update of the training step: RMSprop (the tutorial's) or plain SGD, both at
# LEARNING_RATE, each library's own (lowlevel's, Keras's, PyTorch's).
OPTIMIZERS = ("rmsprop", "sgd")
DEFAULT_OPTIMIZER = "rmsprop"
# The implementations whose first training step is also timed in a process of its own
# (what a user's first step costs): the baseline and the default path.
OWN_PROCESS_FIRST_CALL = ("keras_layer", "lowlevel_sequential")

QUICK_REPEATS = 5
DEFAULT_REPEATS = 11


def baseline_of(implementation: str) -> str:
    """The implementation a row's ratio is taken against."""
    return "keras_mixed_bfloat16" if implementation == "lowlevel_bfloat16" else BASELINE
