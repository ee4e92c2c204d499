"""The training-time recorder against an independent float64 computation.

A tiny SimpleRNN, LSTM and GRU (3 units, 5 steps) are re-implemented here from their
equations with plain TensorFlow ops; ∂L/∂h_t and ∂L/∂c_t come from one GradientTape over
that forward pass (each carried state an identity of its own, so the c_t of the next
step is held apart from the h_t computed from it), the Jacobians from its
batch_jacobian, the gate statistics and spectra from NumPy.
"""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.gradient_record import GradientRecorder, checkpoints
from lowlevel.tolerances import assert_close

F64 = tf.float64
UNITS, TIME, BATCH = 3, 5, 2


def _layer(kind, seed=0):
    layer = getattr(lowlevel, kind)(UNITS, input_dim=2, dtype=F64)
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.8, w.shape) for w in layer.get_weights()])
    return layer


def _split(w, n):
    return tf.split(w, n, axis=-1)


def _manual_step(kind, weights, x_t, h, c):
    """``(h_new, c_new, candidate, forget, update)`` from the cells' equations."""
    kernel, recurrent, bias = [tf.constant(w) for w in weights]
    if kind == "SimpleRNN":
        h_new = tf.tanh(x_t @ kernel + h @ recurrent + bias)
        return h_new, None, h_new, None, None
    if kind == "LSTM":
        z_i, z_f, z_c, z_o = _split(x_t @ kernel + h @ recurrent + bias, 4)
        i, f, g, o = tf.sigmoid(z_i), tf.sigmoid(z_f), tf.tanh(z_c), tf.sigmoid(z_o)
        c_new = f * c + i * g
        return o * tf.tanh(c_new), c_new, g, f, None
    x_z, x_r, x_h = _split(x_t @ kernel + bias[0], 3)  # GRU, reset_after
    h_z, h_r, h_h = _split(h @ recurrent + bias[1], 3)
    z, r = tf.sigmoid(x_z + h_z), tf.sigmoid(x_r + h_r)
    h_hat = tf.tanh(x_h + r * h_h)
    return z * h + (1 - z) * h_hat, None, h_hat, None, z


def _expected(kind, layer, x):
    weights = layer.get_weights()
    h = tf.zeros((BATCH, UNITS), F64)
    c = tf.zeros((BATCH, UNITS), F64)
    hs, cs, stats, jac = [], [], [], []
    with tf.GradientTape(persistent=True) as tape:
        for t in range(TIME):
            s = tf.concat([h, c], -1) if kind == "LSTM" else h
            with tf.GradientTape() as jtape:
                jtape.watch(s)
                hh, cc = (tf.split(s, 2, -1) if kind == "LSTM" else (s, c))
                h_new, c_new, a, f, z = _manual_step(kind, weights, x[:, t], hh, cc)
                s_new = tf.concat([h_new, c_new], -1) if kind == "LSTM" else h_new
            jac.append(np.linalg.svd(jtape.batch_jacobian(s_new, s).numpy(), compute_uv=False))
            stats.append((a.numpy(), None if f is None else f.numpy(),
                          None if z is None else z.numpy()))
            h = tf.identity(h_new)
            tape.watch(h)  # an intermediate source: its gradient is through later steps
            hs.append(h)
            if kind == "LSTM":
                c = tf.identity(c_new)
                tape.watch(c)
                cs.append(c)
        loss = 0.5 * tf.reduce_sum(h * h)
    norm = lambda gs: np.array([np.linalg.norm(g.numpy()) for g in gs])  # noqa: E731
    grads_c = tape.gradient(loss, cs, unconnected_gradients="zero") if cs else None
    return (norm(tape.gradient(loss, hs)), None if grads_c is None else norm(grads_c),
            np.stack(jac), stats)


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_recorder_equals_an_independent_tape_and_numpy_computation(kind):
    layer = _layer(kind)
    x = np.random.default_rng(1).normal(0, 1.0, (BATCH, TIME, 2))
    recorder = GradientRecorder(steps=[0])
    record = recorder.record(0, layer, x, lambda y: 0.5 * tf.reduce_sum(y * y))
    grad_h, grad_c, singular, stats = _expected(kind, layer, tf.constant(x))
    assert_close(record["grad_h"], grad_h, F64, "‖∂L/∂h_t‖")
    if kind == "LSTM":
        assert_close(record["grad_c"], grad_c, F64, "‖∂L/∂c_t‖")
        assert_close(record["grad_state"], np.sqrt(grad_h ** 2 + grad_c ** 2), F64, "state")
    else:
        assert np.all(np.isnan(record["grad_c"]))
    assert_close(record["jacobian_norm"], singular[..., 0].mean(axis=1), F64, "‖J_t‖")
    assert_close(record["jacobian_singular_values"], singular.mean(axis=(0, 1)), F64, "σ(J)")
    candidates = np.stack([s[0] for s in stats])
    assert record["saturated_fraction"] == pytest.approx(np.mean(np.abs(candidates) > 0.95))
    if kind == "LSTM":
        forget = np.stack([s[1] for s in stats])
        assert record["forget_mean"] == pytest.approx(forget.mean(), rel=1e-12)
        assert record["forget_open_fraction"] == pytest.approx(np.mean(forget > 0.9))
    if kind == "GRU":
        update = np.stack([s[2] for s in stats])
        assert record["update_mean"] == pytest.approx(update.mean(), rel=1e-12)
    u = layer.get_weights()[1]  # [units, G * units], one block per gate
    for g, block in enumerate(np.split(u, u.shape[1] // UNITS, axis=1)):
        assert record["spectral_radius"][g] == pytest.approx(
            np.max(np.abs(np.linalg.eigvals(block))), rel=1e-12)
        assert record["sigma_max"][g] == pytest.approx(np.linalg.norm(block, 2), rel=1e-12)


def test_recorder_arrays_have_checkpoint_time_and_checkpoint_unit_layouts(tmp_path):
    layer = _layer("LSTM")
    x = np.random.default_rng(2).normal(0, 1.0, (BATCH, TIME, 2))
    recorder = GradientRecorder(steps=checkpoints(10, 3), tensorboard_dir=tmp_path / "tb")
    assert recorder.steps == (0, 4, 9) and recorder.wants(4) and not recorder.wants(5)
    for step in recorder.steps:
        recorder.record(step, layer, x, tf.reduce_sum)
    recorder.close()
    recorder.save(tmp_path / "record.npz")
    arrays = np.load(tmp_path / "record.npz")
    assert arrays["step"].tolist() == [0, 4, 9]
    assert arrays["grad_h"].shape == arrays["grad_c"].shape == (3, TIME)
    assert arrays["jacobian_singular_values"].shape == (3, 2 * UNITS)  # s = (h, c)
    assert arrays["spectral_radius"].shape == (3, 4)
    assert arrays["gates"].tolist() == ["i", "f", "c", "o"]
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_checkpoints_refuse_a_non_positive_count():
    with pytest.raises(ValueError, match="`count` must be an integer >= 1; received 0"):
        checkpoints(10, 0)


def test_recorder_reads_the_gates_the_cell_names_and_none_gives_nan(monkeypatch):
    layer = _layer("LSTM")
    x = np.random.default_rng(1).normal(0, 1.0, (BATCH, TIME, 2))
    loss_fn = lambda y: 0.5 * tf.reduce_sum(y * y)  # noqa: E731
    named = GradientRecorder(steps=[0]).record(0, layer, x, loss_fn)
    monkeypatch.setattr(layer.cell, "gate_values", lambda saved: {})
    unnamed = GradientRecorder(steps=[0]).record(0, layer, x, loss_fn)
    assert np.isfinite(named["forget_mean"]) and np.isfinite(named["saturated_fraction"])
    for key in ("forget_mean", "forget_open_fraction", "update_mean", "saturated_fraction"):
        assert np.isnan(unnamed[key]), key
    assert_close(unnamed["grad_h"], named["grad_h"], F64, "‖∂L/∂h_t‖ without gate names")
