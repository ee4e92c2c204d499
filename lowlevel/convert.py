"""Converters both ways: a Keras object to its lowlevel twin and back, architecture and weights.

``lowlevel.from_keras(keras_obj)`` and ``lowlevel.to_keras(lowlevel_obj)`` cover cells
(``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``), ``StackedRNNCells`` <-> :class:`StackedCells`,
sequence layers (``RNN``, ``SimpleRNN``, ``LSTM``, ``GRU``), ``Bidirectional``,
``Embedding``, and the tutorial's whole model: the Keras twin
``lowlevel_reference.build_model(cell, style)`` <-> :class:`lowlevel.models.SentimentClassifier`.

The architecture travels as a config (:mod:`lowlevel.keras_config` reads Keras's) and
the weights as one ``get_weights()`` / ``set_weights()`` copy: both sides list them in
the same order and layout (kernel ``[input_dim, G*units]``, recurrent kernel, bias; LSTM
gates i, f, c, o; GRU z, r, h), so no weight is reshaped or reordered. An unbuilt object
converts to an unbuilt one. ``tests/convert/test_convert.py`` checks equal outputs and gradients
after conversion in both directions.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from lowlevel import keras_config, kinds

_KERAS_CELLS = tuple(k.cell for k in kinds.KINDS.values())
_KERAS_LAYERS = ("SimpleRNN", "LSTM", "GRU")
_REFERENCE_MODELS = {"MyRNN": "cell", "MyLayerRNN": "layer"}  # lowlevel_reference.models


# ------------------------------------------------------------------ Keras -> lowlevel
def from_keras(obj: keras.layers.Layer | keras.Model) -> tf.Module:
    """The lowlevel twin of the Keras ``obj``: same configuration, same weights.

    Args:
        obj: a Keras ``SimpleRNNCell``/``LSTMCell``/``GRUCell``, ``StackedRNNCells``,
            ``RNN``/``SimpleRNN``/``LSTM``/``GRU``, ``Bidirectional`` or ``Embedding``,
            or a model from ``lowlevel_reference.build_model`` (->
            :class:`lowlevel.models.SentimentClassifier`). An unbuilt ``obj`` gives an
            unbuilt twin.

    Returns:
        The lowlevel object of the same class name (a ``tf.Module``), its weights a
        copy of ``obj.get_weights()``.

    Example::

        import keras
        import lowlevel

        ours = lowlevel.from_keras(keras.layers.GRU(4, "relu"))
        assert isinstance(ours, lowlevel.GRU) and not ours.built
    """
    name = type(obj).__name__
    if name in _REFERENCE_MODELS and type(obj).__module__.startswith("lowlevel_reference"):
        return _classifier_from_keras(obj, _REFERENCE_MODELS[name])
    if not isinstance(obj, keras.layers.Layer):
        raise TypeError(f"`obj` must be a Keras recurrent cell or layer, Embedding or a "
                        f"lowlevel_reference model; received {name}.")
    cls = keras_config.lowlevel_class(name)
    ours = cls.from_config(obj.get_config())
    weights = obj.get_weights()
    if weights:
        _build_from(ours, weights)
        ours.set_weights(weights)
    return ours


def _build_from(ours, weights):
    """Build an unbuilt lowlevel object for the input width its first kernel implies."""
    if hasattr(ours, "cell") and not ours.cell.built:
        ours.build(weights[0].shape[0])
    elif hasattr(ours, "cells") and not ours.built:
        ours.build(weights[0].shape[0])
    # Cells build themselves in set_weights; Bidirectional and Embedding need no build.


def _classifier_from_keras(model, style):
    from lowlevel.models import SentimentClassifier  # noqa: PLC0415 (models imports layers)

    config = model.get_config()
    ours = SentimentClassifier(
        cell=config["cell"], style=style, num_words=config["num_words"],
        embedding_dim=config["embedding_dim"], units=config["units"], num_layers=2,
        dropout=config["dropout"], head_units=config["units"],
        head_dropout=config["head_dropout"],
        trainable_embedding=config["trainable_embedding"], seed=config["seed"],
        dtype=model.embedding.embeddings.dtype)
    ours.set_weights(model.get_weights())  # both list Keras's model.weights order
    return ours


# ------------------------------------------------------------------ lowlevel -> Keras
def to_keras(obj: tf.Module, maxlen: int | None = None) -> keras.layers.Layer | keras.Model:
    """The Keras twin of the lowlevel ``obj``: same configuration, same weights.

    Args:
        obj: a lowlevel cell, :class:`~lowlevel.layers.StackedCells`, sequence layer,
            :class:`~lowlevel.layers.Bidirectional`, :class:`~lowlevel.layers.Embedding`
            or :class:`~lowlevel.models.SentimentClassifier`.
        maxlen: int or None. A ``SentimentClassifier`` only: the padded review length
            the Keras model is built for (``None``: the tutorial's 80); its cell style
            needs it, as it steps over time with a Python loop.

    Returns:
        The Keras layer, cell or model, built when ``obj`` is, its weights a copy of
        ``obj.get_weights()`` (a stateful layer's states start from zeros).

    Example::

        import numpy as np
        import lowlevel

        ours = lowlevel.LSTM(4, input_dim=3)
        theirs = lowlevel.to_keras(ours)
        x = np.ones([2, 5, 3], "float32")
        np.testing.assert_allclose(theirs(x), ours(x), rtol=1e-5, atol=1e-6)
        assert theirs.count_params() == ours.count_params()
    """
    import lowlevel  # noqa: PLC0415
    from lowlevel.models import SentimentClassifier  # noqa: PLC0415

    if isinstance(obj, SentimentClassifier):
        return _classifier_to_keras(obj, maxlen)
    if isinstance(obj, lowlevel.cells.RecurrentCell):
        theirs = _keras_cell(obj)
        if obj.built:
            theirs.build((None, obj.input_dim))
    elif isinstance(obj, lowlevel.StackedCells):
        theirs = keras.layers.StackedRNNCells([_keras_cell(c) for c in obj.cells],
                                              dtype=obj.dtype.name)
        if obj.built:
            theirs.build((None, obj.input_dim))
    elif isinstance(obj, lowlevel.RNN):
        theirs = _keras_layer(obj)
        if obj.cell.built:
            theirs.build((_stateful_batch(obj), None, obj.cell.input_dim))
    elif isinstance(obj, lowlevel.Bidirectional):
        theirs = keras.layers.Bidirectional(
            _keras_layer(obj.forward_layer), merge_mode=obj.merge_mode,
            backward_layer=_keras_layer(obj.backward_layer),
            dtype=obj.forward_layer.dtype.name)  # Keras's wrapper casts to its own dtype
        if obj.forward_layer.cell.built:
            theirs.build((_stateful_batch(obj.forward_layer), None,
                          obj.forward_layer.cell.input_dim))
    elif isinstance(obj, lowlevel.Embedding):
        return keras.layers.Embedding(obj.input_dim, obj.output_dim, mask_zero=obj.mask_zero,
                                      trainable=obj.trainable, dtype=obj.dtype.name,
                                      weights=[obj.embeddings.numpy()])
    else:
        raise TypeError(f"`obj` must be a lowlevel cell, StackedCells, sequence layer, "
                        f"Bidirectional, Embedding or SentimentClassifier; received "
                        f"{type(obj).__name__}.")
    if obj.weights:
        theirs.set_weights(obj.get_weights())
    return theirs


def _stateful_batch(layer):
    """The fixed batch size of a stateful layer (Keras builds its states with it), else
    ``None``. The states' values are not copied: the Keras layer starts from zeros."""
    if not layer.stateful:
        return None
    if layer.states is None:
        raise ValueError("`obj` is stateful and its batch size is not known yet: call it once "
                         "or build(input_dim, batch_size=...) before converting (Keras builds "
                         "a stateful layer's states with a static batch size).")
    return int(tf.nest.flatten(layer.states)[0].shape[0])


def _keras_cell(cell):
    config = dict(cell.get_config())
    config.pop("input_dim")
    return getattr(keras.layers, type(cell).__name__)(**config)


def _keras_layer(layer):
    """A Keras sequence layer of ``layer``'s configuration, unbuilt."""
    config = dict(layer.get_config())
    # The time loop is lowlevel's choice; every implementation computes the same function.
    config.pop("implementation")
    compute = config.pop("compute_dtype")
    options = {k: config.pop(k) for k in ("return_sequences", "return_state", "go_backwards",
                                          "zero_output_for_mask", "stateful")}
    if compute is not None:
        options["dtype"] = _mixed_policy(layer.dtype.name, compute)
    if type(layer).__name__ in _KERAS_LAYERS:
        config.pop("input_dim")
        if compute is not None:
            config.pop("dtype")
        return getattr(keras.layers, type(layer).__name__)(**config, **options)
    cell = to_keras(layer.cell) if layer.cell.built else _unbuilt_keras_cell(layer.cell)
    options.setdefault("dtype", layer.dtype.name)  # Keras's RNN casts to its own dtype
    return keras.layers.RNN(cell, **options)


def _unbuilt_keras_cell(cell):
    import lowlevel  # noqa: PLC0415

    if isinstance(cell, lowlevel.StackedCells):
        return keras.layers.StackedRNNCells([_keras_cell(c) for c in cell.cells],
                                            dtype=cell.dtype.name)
    return _keras_cell(cell)


def _mixed_policy(variable_dtype, compute_dtype):
    for policy, dtypes in keras_config._MIXED.items():
        if dtypes == (variable_dtype, compute_dtype):
            return policy
    raise ValueError(f"`compute_dtype` {compute_dtype} over {variable_dtype} variables has no "
                     "Keras dtype policy (Keras has mixed_bfloat16 and mixed_float16, over "
                     "float32).")


def _classifier_to_keras(model, maxlen):
    from lowlevel_reference import build_model  # noqa: PLC0415 (the Keras twin, optional)

    cells = model.rnn.cells if model.style == "cell" else [layer.cell for layer in model.rnn]
    if len(cells) != 2 or model.head.kernel.shape[1] != model.units:
        raise ValueError("`obj`: the Keras twin has two recurrent layers and a head of "
                         f"`units` units; received {len(cells)} layers and a head of "
                         f"{model.head.kernel.shape[1]} for units={model.units}.")
    theirs = build_model(
        cell=model.cell_kind, style=model.style, units=model.units,
        num_words=model.embedding.input_dim, embedding_dim=model.embedding.output_dim,
        maxlen=80 if maxlen is None else maxlen, dropout=cells[0].dropout,
        trainable_embedding=model.embedding.trainable, head_dropout=model.head_dropout)
    theirs.set_weights(model.get_weights())
    return theirs
