"""Shared fixtures: the devices every parity test runs on, with TF32 off; whether a
function is kept out of AutoGraph."""

import pytest
import tensorflow as tf

# TF32 would silently round float32 matmuls to 10-bit mantissas on Ampere+ GPUs,
# which breaks a 1e-5 comparison; parity is about the equations, not the hardware.
tf.config.experimental.enable_tensor_float_32_execution(False)

_GPUS = tf.config.list_logical_devices("GPU")


def _device_params():
    params = [pytest.param("/CPU:0", id="cpu")]
    gpu_mark = pytest.mark.skipif(
        not _GPUS, reason="no GPU visible to TensorFlow on this machine"
    )
    params.append(pytest.param("/GPU:0", id="gpu", marks=gpu_mark))
    return params


DEVICES = _device_params()


@pytest.fixture(params=DEVICES)
def device(request):
    """Runs the test body under ``tf.device`` for the CPU and, when present, the GPU."""
    with tf.device(request.param):
        yield request.param


@pytest.fixture
def kept_out_of_autograph():
    """``is_kept_out(fn)``: whether ``fn`` is marked
    ``tf.autograph.experimental.do_not_convert`` (traced as written inside a user's
    ``tf.function``). Every function that decorator returns shares one code object."""
    marked = tf.autograph.experimental.do_not_convert(lambda: None).__code__
    return lambda fn: fn.__code__ is marked
