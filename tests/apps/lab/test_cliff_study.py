"""The cliff study: the one-unit network's gradient is exact (float64 tape and finite
differences), its loss surface has a wall, and clipping bounds the step at it."""

import numpy as np
import pytest
import tensorflow as tf

from lowlevel.apps.lab import cliff
from lowlevel.tolerances import assert_close

CONFIG = cliff.CliffConfig()


def test_forward_mode_gradient_equals_a_float64_tape_and_finite_differences():
    w, b = np.array([3.0, 6.5, 7.9]), np.array([-1.5, -2.5, -3.3])
    loss, gw, gb = cliff.loss_and_gradient(w, b, CONFIG)
    wv, bv = tf.Variable(w), tf.Variable(b)
    with tf.GradientTape() as tape:
        x = tf.constant(CONFIG.x0, tf.float64)
        for _ in range(CONFIG.time_steps):
            x = wv * tf.sigmoid(x) + bv  # x_t = w σ(x_{t-1}) + b
        tape_loss = tf.reduce_sum((x - CONFIG.target) ** 2)
    tape_gw, tape_gb = tape.gradient(tape_loss, [wv, bv])
    assert_close(gw, tape_gw, tf.float64, "∂L/∂w")
    assert_close(gb, tape_gb, tf.float64, "∂L/∂b")
    eps = 1e-6
    fd_w = (cliff.loss_and_gradient(w + eps, b, CONFIG)[0]
            - cliff.loss_and_gradient(w - eps, b, CONFIG)[0]) / (2 * eps)
    np.testing.assert_allclose(gw, fd_w, rtol=1e-6)


def test_the_surface_has_a_wall_where_the_gradient_is_hundreds_of_times_its_median():
    ww, bb = np.meshgrid(np.linspace(*CONFIG.w_range, 121), np.linspace(*CONFIG.b_range, 121))
    _, gw, gb = cliff.loss_and_gradient(ww, bb, CONFIG)
    norm = np.hypot(gw, gb)
    assert norm.max() > 100 * np.median(norm)


def test_clipping_bounds_every_step_by_lr_times_threshold_and_the_unclipped_is_thrown():
    unclipped = cliff.descend(CONFIG)
    clipped = cliff.descend(CONFIG, CONFIG.clip)

    def steps(path):
        return np.hypot(np.diff(path[:, 0]), np.diff(path[:, 1]))

    assert steps(clipped).max() <= CONFIG.learning_rate * CONFIG.clip * (1 + 1e-12)
    assert steps(unclipped).max() > 10 * steps(clipped).max()  # lr ‖∇L‖ at the wall
    assert clipped[-1, 2] < 0.01 < unclipped[-1, 2]  # this start: clipped descent settles


def test_run_writes_surface_paths_plot_and_report(tmp_path):
    result = cliff.run(tmp_path, cliff.CliffConfig(grid=31, steps=5))
    for name in result["files"]:
        assert (tmp_path / name).stat().st_size > 0
    saved = np.load(tmp_path / "cliff.npz")
    assert saved["loss"].shape == (31, 31) and saved["unclipped"].shape == (6, 4)
    assert "](cliff.png)" in (tmp_path / "cliff.md").read_text()
