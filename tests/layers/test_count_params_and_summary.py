"""``count_params()`` counts what Keras's twin counts, and ``summary()`` prints it as the
total: every cell and layer kind (built), Bidirectional, Embedding, a stateful layer
(states are not parameters, in Keras as here), and the tutorial's classifier against
``lowlevel_reference.build_model``."""

import re

import keras
import numpy as np
import pytest

import lowlevel
from lowlevel.models import SentimentClassifier

FEATURES = 5


def twins():
    k = keras.layers
    return {
        "SimpleRNNCell": (lowlevel.SimpleRNNCell(4, use_bias=False),
                          k.SimpleRNNCell(4, use_bias=False)),
        "LSTMCell": (lowlevel.LSTMCell(4), k.LSTMCell(4)),
        "GRUCell": (lowlevel.GRUCell(4), k.GRUCell(4)),
        "GRUCell(reset_after=False)": (lowlevel.GRUCell(4, reset_after=False),
                                       k.GRUCell(4, reset_after=False)),
        "SimpleRNN": (lowlevel.SimpleRNN(3), k.SimpleRNN(3)),
        "LSTM": (lowlevel.LSTM(3, return_sequences=True), k.LSTM(3, return_sequences=True)),
        "GRU": (lowlevel.GRU(3), k.GRU(3)),
        "LSTM(stateful)": (lowlevel.LSTM(3, stateful=True), k.LSTM(3, stateful=True)),
        "RNN(stack)": (lowlevel.RNN([lowlevel.LSTMCell(2), lowlevel.GRUCell(3)]),
                       k.RNN([k.LSTMCell(2), k.GRUCell(3)])),
        "Bidirectional": (lowlevel.Bidirectional(lowlevel.GRU(3), "sum"),
                          k.Bidirectional(k.GRU(3), "sum")),
        "Embedding(frozen)": (lowlevel.Embedding(11, 4, trainable=False),
                              k.Embedding(11, 4, trainable=False)),
    }


def build_both(ours, theirs):
    batch = 2
    if isinstance(ours, lowlevel.Embedding):
        theirs.build((None, 7))
        return
    x = np.ones([batch, 6, FEATURES], "float32")
    if "Cell" in type(theirs).__name__:
        theirs.build((None, FEATURES))
        ours.build(FEATURES)
    else:
        theirs(x)
        ours(x)  # the first call builds (a stateful layer: its states too)


def total_printed(obj) -> int:
    lines = []
    obj.summary(print_fn=lines.append)
    (total,) = [line for line in lines if line.startswith("Total params:")]
    return int(re.sub(r"[^0-9]", "", total))


@pytest.mark.parametrize("name", sorted(twins()))
def test_count_params_is_the_keras_twin_s_and_summary_prints_it_as_the_total(name):
    ours, theirs = twins()[name]
    build_both(ours, theirs)
    assert ours.count_params() == theirs.count_params() > 0
    assert total_printed(ours) == theirs.count_params()


def test_stateful_states_are_not_parameters():
    layer = lowlevel.LSTM(3, stateful=True)
    layer(np.ones([2, 4, FEATURES], "float32"))
    assert layer.states is not None
    assert layer.count_params() == 4 * (FEATURES * 3 + 3 * 3 + 3)


@pytest.mark.parametrize("style", ["cell", "layer"])
def test_the_classifier_counts_what_its_keras_twin_counts(style):
    from lowlevel_reference import build_model

    ours = SentimentClassifier("gru", style, num_words=30, embedding_dim=3, units=4,
                               head_units=4)
    theirs = build_model("gru", style, units=4, num_words=30, embedding_dim=3, maxlen=6)
    theirs(np.ones([2, 6], "int32"))
    assert ours.count_params() == theirs.count_params() > 0
    assert total_printed(ours) == theirs.count_params()
    assert ours.head.count_params() == 4 * 4 + 4


def test_summary_lists_each_sub_layer_with_its_count_and_output_shape():
    model = SentimentClassifier("lstm", "layer", num_words=30, embedding_dim=3, units=4,
                                head_units=4)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "embedding (Embedding)" in text and "(None, None, 3)" in text
    rows = [line for line in lines if line.startswith("lstm (LSTM)")]
    assert len(rows) == 2
    assert rows[0].split()[-1] == f"{4 * (3 * 4 + 4 * 4 + 4):,}"
    assert "(None, None, 4)" in rows[0] and "(None, 4)" in rows[1]
    assert "Non-trainable params: 0" in text


def test_a_frozen_embedding_counts_as_non_trainable():
    lines = []
    lowlevel.Embedding(10, 3, trainable=False).summary(print_fn=lines.append)
    assert "Trainable params: 0" in lines and "Non-trainable params: 30" in lines


def test_count_params_of_an_unbuilt_layer_is_an_error_naming_what_builds_it():
    with pytest.raises(ValueError, match="build"):
        lowlevel.LSTM(3).count_params()
    lines = []
    lowlevel.LSTM(3).summary(print_fn=lines.append)
    assert any("unbuilt" in line for line in lines)


def test_stacked_cells_count_what_keras_stacked_rnn_cells_count():
    ours = lowlevel.StackedCells([lowlevel.LSTMCell(4, input_dim=3),
                                  lowlevel.GRUCell(5, input_dim=4)])
    theirs = keras.layers.RNN(keras.layers.StackedRNNCells(
        [keras.layers.LSTMCell(4), keras.layers.GRUCell(5)]))
    theirs(np.zeros((1, 2, 3), "float32"))
    assert ours.count_params() == theirs.count_params() == total_printed(ours)
