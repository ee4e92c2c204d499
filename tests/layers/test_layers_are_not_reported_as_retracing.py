"""Many layers, each traced once, are not reported by TensorFlow as one function retraced."""

import numpy as np

import lowlevel


def test_six_layers_each_traced_once_log_no_retracing_warning(caplog):
    x = np.zeros([2, 3, 4], np.float32)
    layers = [lowlevel.LSTM(5, input_dim=4) for _ in range(6)]
    with caplog.at_level("WARNING", logger="tensorflow"):
        for layer in layers:
            layer(x)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
