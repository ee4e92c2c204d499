"""Keras's own layer config dicts, read as lowlevel configs.

``keras_layer.get_config()`` describes a layer in Keras's vocabulary: a ``name``, a
serialised dtype policy (``{'class_name': 'DTypePolicy', 'config': {'name':
'mixed_bfloat16'}}``), regularizers, constraints, ``stateful``, ``unroll``, ``use_cudnn``,
and nested layers as ``{'class_name': 'LSTMCell', 'config': {...}}``. :func:`translate`
turns such a dict into the dict the lowlevel class's own ``get_config`` would give,
so every ``from_config`` accepts either::

    lowlevel.LSTM.from_config(keras.layers.LSTM(8).get_config())

What maps to what:

- dtype policy ``'float32'`` / ``'float64'`` / ...   -> ``dtype``;
  ``'mixed_bfloat16'`` / ``'mixed_float16'`` (sequence layers) -> ``dtype='float32'`` and
  ``compute_dtype='bfloat16'`` / ``'float16'``;
- ``unroll=True`` -> ``implementation='unrolled'`` (every step written out: the same thing);
- ``stateful`` -> ``stateful`` (the same semantics: :mod:`lowlevel.layers.stateful`);
- ``use_cudnn`` -> dropped: lowlevel never calls cuDNN, and Keras's 'auto' computes the
  same function either way;
- nested ``{'class_name', 'config'}`` -> ``{'class', 'config'}`` with the lowlevel class.

What has no lowlevel equivalent is refused with an error naming it, never dropped
silently: a regularizer or constraint (add the penalty to the loss, clip after the
step), a frozen (``trainable=False``) recurrent layer, quantisation.
"""

from __future__ import annotations

from lowlevel import kinds

# Keys every Keras 3 layer config carries and no lowlevel config does.
_KERAS_ONLY_KEYS = {"name", "trainable", "unroll", "kernel_regularizer",
                    "embeddings_regularizer", "quantization_config"}
# Keras arguments that must keep their default here (value -> why it has no equivalent).
_NO_REGULARIZERS = "lowlevel layers have no regularizers: add the penalty to the loss"
_NO_CONSTRAINTS = "lowlevel layers have no constraints: project the weights after each step"
_UNSUPPORTED = {
    **{f"{w}_regularizer": _NO_REGULARIZERS
       for w in ("kernel", "recurrent", "bias", "activity", "embeddings")},
    **{f"{w}_constraint": _NO_CONSTRAINTS for w in ("kernel", "recurrent", "bias", "embeddings")},
    "quantization_config": "lowlevel layers are not quantised",
    "lora_rank": "lowlevel layers have no LoRA adapters",
}
_DROPPED = {"name", "use_cudnn", "lora_alpha"}
_CELL_CLASSES = {k.cell for k in kinds.KINDS.values()}
_LAYER_CLASSES = {"SimpleRNN", "LSTM", "GRU"}
_MIXED = {"mixed_bfloat16": ("float32", "bfloat16"), "mixed_float16": ("float32", "float16")}


def is_keras_config(config: object) -> bool:
    """True for a dict from a Keras layer's ``get_config()`` (not a lowlevel one)."""
    return isinstance(config, dict) and (isinstance(config.get("dtype"), dict)
                                         or bool(_KERAS_ONLY_KEYS & set(config)))


def translate(cls, config: dict) -> dict:
    """``config`` as ``cls.get_config()`` would give it: Keras's dicts translated,
    lowlevel's own returned unchanged."""
    if not is_keras_config(config):
        return config
    return _TRANSLATORS[_kind(cls)](dict(config), cls.__name__)


def lowlevel_class(class_name: str) -> type:
    """The lowlevel class for a Keras class name (``'StackedRNNCells'`` -> ``StackedCells``)."""
    import lowlevel  # noqa: PLC0415 (this module is imported by the classes themselves)

    name = {"StackedRNNCells": "StackedCells"}.get(class_name, class_name)
    if name not in _CELL_CLASSES | _LAYER_CLASSES | {"RNN", "StackedCells", "Bidirectional",
                                                      "Embedding"}:
        raise ValueError(f"`class_name` {class_name!r} has no lowlevel equivalent; expected "
                         "one of SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells, RNN, "
                         "SimpleRNN, LSTM, GRU, Bidirectional, Embedding.")
    return getattr(lowlevel, name)


def nested(entry: dict) -> dict:
    """Keras's ``{'class_name', 'config'}`` -> lowlevel's ``{'class', 'config'}``."""
    cls = lowlevel_class(entry["class_name"])
    return {"class": cls, "config": translate(cls, entry["config"])}


# ------------------------------------------------------------------ per kind
def _kind(cls) -> str:
    name = cls.__name__
    if name in _CELL_CLASSES:
        return "cell"
    if name in _LAYER_CLASSES:
        return "layer"
    if name in ("RNN", "StackedCells", "Bidirectional", "Embedding"):
        return name
    raise TypeError(f"`cls` must be a lowlevel cell or layer class; received {name}.")


def _common(config: dict, owner: str) -> dict:
    """Refuse what has no equivalent, drop what does not matter, read the dtype."""
    for key, why in _UNSUPPORTED.items():
        if config.pop(key, None) not in (None, False):
            raise ValueError(f"`{key}` of the Keras config for {owner} must be None/False: {why}.")
    for key in _DROPPED:
        config.pop(key, None)
    if "dtype" in config:
        config["dtype"], compute = policy_dtypes(config["dtype"], owner)
        if compute is not None:
            config["compute_dtype"] = compute
    return config


def policy_dtypes(policy: dict | str | None,
                  owner: str = "the layer") -> tuple[str, str | None]:
    """``(variable dtype, compute dtype or None)`` of a Keras dtype policy (dict or name)."""
    name = policy
    if isinstance(policy, dict):
        name = policy.get("config", {}).get("name")
    if name is None:
        return "float32", None
    if name in _MIXED:
        return _MIXED[name]
    if name in ("float16", "bfloat16", "float32", "float64"):
        return name, None
    raise ValueError(f"`dtype` of the Keras config for {owner} must be a float policy "
                     f"(float32, float64, mixed_bfloat16, ...); received {name!r}.")


def _trainable(config: dict, owner: str) -> dict:
    config = _common(config, owner)
    if not config.pop("trainable", True):
        raise ValueError(f"`trainable` of the Keras config for {owner} must be True: a frozen "
                         "recurrent cell has no lowlevel equivalent (leave its variables "
                         "out of the optimizer instead).")
    return config


def _cell(config: dict, owner: str) -> dict:
    config = _trainable(config, owner)
    if "compute_dtype" in config:
        raise ValueError(f"`dtype` of the Keras config for {owner}: a cell computes in its "
                         "variables' dtype; give the mixed policy to the sequence layer.")
    return config


def _layer(config: dict, owner: str) -> dict:
    config = _trainable(config, owner)
    if isinstance(config.get("implementation"), int):
        config.pop("implementation")  # Keras's kernel fusion modes 0, 1, 2: no equivalent needed
    if config.pop("unroll", False):
        config["implementation"] = "unrolled"
    return config


def _rnn(config: dict, owner: str) -> dict:
    config = _layer(config, owner)
    config.pop("dtype", None)  # the cell's own config carries it
    config["cell"] = nested(config["cell"])
    return config


def _stacked(config: dict, owner: str) -> dict:
    config = _cell(config, owner)
    return {"cells": [nested(c) for c in config["cells"]]}


def _bidirectional(config: dict, owner: str) -> dict:
    config = _trainable(config, owner)  # the wrapped layers' configs carry the dtypes
    backward = config.get("backward_layer")
    return {"layer": nested(config["layer"]), "merge_mode": config.get("merge_mode", "concat"),
            "backward_layer": None if backward is None else nested(backward)}


def _embedding(config: dict, owner: str) -> dict:
    return _common(config, owner)


_TRANSLATORS = {"cell": _cell, "layer": _layer, "RNN": _rnn, "StackedCells": _stacked,
                "Bidirectional": _bidirectional, "Embedding": _embedding}
