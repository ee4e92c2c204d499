"""``lowlevel verify --golden``: every implementation against Keras's results computed on
a GPU (``keras_gpu_golden.npz``, Keras 3.15 / JAX on an NVIDIA H200, TF32 off).

What this shows: lowlevel, computed here (on this machine's CPU unless a GPU is
visible), equals Keras computed on a GPU, outputs and gradients, to the float32 and
float64 tolerances. What it does not show: lowlevel itself running on a GPU (that is
``tests/parity/test_parity.py``'s GPU rows, skipped where no GPU is visible).
The file is optional: the tests skip, visibly, when it is absent.
"""

import io
import os

import numpy as np
import pytest
import tensorflow as tf

from lowlevel.apps import cli, verify
from lowlevel.layers.rnn import IMPLEMENTATIONS

GOLDEN = os.environ.get("LOWLEVEL_GOLDEN", "/work/shared/data/keras_gpu_golden.npz")
needs_golden = pytest.mark.skipif(not os.path.isfile(GOLDEN),
                                  reason=f"no golden file at {GOLDEN} (optional data)")


@pytest.fixture(autouse=True)
def no_tf32():
    tf.config.experimental.enable_tensor_float_32_execution(False)


@needs_golden
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_every_implementation_equals_keras_gpu_outputs_and_gradients(implementation):
    out = io.StringIO()
    rows = verify.golden_rows(GOLDEN, implementations=[implementation], out=out)
    cases = {(r["case"], r["dtype"]) for r in rows}
    # SimpleRNN, LSTM (cuDNN path in float32), both GRU forms; with and without masks.
    assert {"simple_rnn", "lstm", "gru", "gru_reset_before", "lstm_mask"} <= {c for c, _ in cases}
    assert len(cases) == len(verify.golden_cases(np.load(GOLDEN)))
    bad = [r for r in rows if not r["ok"]]
    assert not bad, bad


@needs_golden
def test_golden_comparison_fails_on_a_perturbed_golden_value(tmp_path):
    """The comparison can fail: one gradient entry moved by 1e-4 of its scale."""
    data = dict(np.load(GOLDEN))
    key = "gru/float64/grad:recurrent_kernel"
    data[key] = data[key].copy()
    data[key][0, 0] += 1e-4 * np.max(np.abs(data[key]))
    path = tmp_path / "perturbed.npz"
    np.savez(path, **data)
    row = verify.golden_row(np.load(path), "gru", "float64", "fast")
    assert row["output_error"] <= row["tolerance"] < row["gradient_error"] and not row["ok"]


def test_verify_golden_without_the_file_is_one_clear_error(tmp_path, capsys):
    status = cli.main(["verify", "--golden", str(tmp_path / "absent.npz")])
    assert status == 2
    assert capsys.readouterr().err.strip() == (
        f"lowlevel verify: error: `--golden`: no file at '{tmp_path / 'absent.npz'}'.")
