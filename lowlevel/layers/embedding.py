"""``Embedding``: a lookup table ``[input_dim, output_dim]`` indexed by token ids."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lowlevel import _checks, keras_config
from lowlevel._describe import Describable
from lowlevel._weights import KerasOrderedWeights
from lowlevel.cells.base import DTypeLike, Initializer, _initial_value


class Embedding(KerasOrderedWeights, Describable, tf.Module):
    """A lookup table ``[input_dim, output_dim]`` indexed by token ids:
    ``ids [batch, time]`` -> ``[batch, time, output_dim]``::

        out[b, t] = embeddings[ids[b, t]]

    Keras's ``keras.layers.Embedding``: the same positional arguments and defaults,
    the same weight. A ``tf.Module``, not a Keras layer: it does not go into
    ``keras.Sequential``; ``lowlevel.to_keras(layer)`` / ``lowlevel.from_keras(keras_layer)``
    convert, and ``layer.set_weights(keras_layer.get_weights())`` copies the table
    (:mod:`lowlevel.layers`, "What these objects are").

    The gradient with respect to ``embeddings`` is an ``IndexedSlices`` (only looked-up
    rows). An id outside ``[0, input_dim)`` raises an error naming it, on every
    device: a GPU gather would silently return zeros instead.

    Args:
        input_dim: int. Positive: the vocabulary size (ids lie in ``[0, input_dim)``).
        output_dim: int. Positive: the width of each vector.
        embeddings_initializer: str, callable or ``keras.initializers.Initializer``.
            How the table starts. Default ``'uniform'`` (Keras's: U[-0.05, 0.05]).
        mask_zero: bool. Keyword-only. Id 0 is padding: :meth:`compute_mask` gives
            ``ids != 0`` for the sequence layer's ``mask``. Default ``False``.
        weights: array ``[input_dim, output_dim]``, a one-element list of it, or
            None. Keyword-only. The table's starting values (e.g. GloVe vectors), as
            Keras 3 accepts them. Default ``None``.
        trainable: bool. Keyword-only. ``False`` (e.g. frozen GloVe vectors) keeps the
            table out of ``trainable_variables``. Default ``True``.
        dtype: ``tf.DType`` or str. Keyword-only, lowlevel's own. The table's float
            dtype. Default ``tf.float32``.
        name: str or None. Keyword-only. The module's name.

    Call arguments:
        ids: ``[batch, time]`` integers in ``[0, input_dim)``.

    Returns:
        ``[batch, time, output_dim]``, the looked-up vectors.

    Attributes:
        embeddings: ``tf.Variable [input_dim, output_dim]``, the table.

    Example::

        import lowlevel

        embedding = lowlevel.Embedding(10, 3, mask_zero=True)
        assert embedding([[1, 2, 0]]).shape == (1, 3, 3)
        assert embedding.compute_mask([[1, 2, 0]]).numpy().tolist() == [[True, True, False]]
        assert embedding.count_params() == 30
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Initializer = "uniform",
        *,
        mask_zero: bool = False,
        weights: np.ndarray | list[np.ndarray] | None = None,
        trainable: bool = True,
        dtype: DTypeLike = tf.float32,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.input_dim = _checks.positive_int(input_dim, "input_dim")
        self.output_dim = _checks.positive_int(output_dim, "output_dim")
        self.embeddings_initializer = embeddings_initializer
        self.trainable = bool(trainable)
        self.mask_zero = bool(mask_zero)
        self.dtype = _checks.float_dtype(dtype)
        with self.name_scope:
            self.embeddings = tf.Variable(
                _initial_value(embeddings_initializer, [self.input_dim, self.output_dim],
                               self.dtype, "embeddings_initializer"),
                trainable=self.trainable, name="embeddings")
        if weights is not None:
            # Keras takes the matrix itself or a one-element list of it.
            if not (isinstance(weights, (list, tuple)) and len(weights) == 1):
                weights = [weights]
            self.set_weights(weights)

    @property
    def weights(self) -> list[tf.Variable]:
        """``[embeddings]``."""
        return [self.embeddings]

    @property
    def output_shape(self) -> tuple:
        """``(None, None, output_dim)``: ``[batch, time, output_dim]``."""
        return (None, None, self.output_dim)

    @tf.autograph.experimental.do_not_convert  # Python control flow only, as RNN.__call__
    def __call__(self, ids: tf.Tensor) -> tf.Tensor:
        """``ids [batch, time]`` -> ``[batch, time, output_dim]`` (out-of-range ids raise)."""
        ids = self._check_ids(ids)
        return tf.gather(self.embeddings, ids)  # [batch, time, output_dim]

    def compute_mask(self, ids: tf.Tensor) -> tf.Tensor | None:
        """``ids != 0`` when ``mask_zero`` (id 0 is padding), else ``None``.

        Args:
            ids: ``[batch, time]`` integers.
        """
        if not self.mask_zero:
            return None
        return tf.not_equal(tf.convert_to_tensor(ids), 0)

    def get_config(self) -> dict:
        """The constructor's arguments (the table's values are weights, not config)."""
        return {"input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": self.embeddings_initializer,
                "trainable": self.trainable, "mask_zero": self.mask_zero,
                "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: dict) -> Embedding:
        """From :meth:`get_config`, or from ``keras.layers.Embedding(...).get_config()``.

        Args:
            config: dict. The configuration.
        """
        return cls(**keras_config.translate(cls, config))

    def _check_ids(self, ids):
        ids = tf.convert_to_tensor(ids)
        if not ids.dtype.is_integer:
            raise TypeError(f"`ids` must be an integer tensor; received dtype {ids.dtype.name}.")
        ids = tf.cast(ids, tf.int64) if ids.dtype not in (tf.int32, tf.int64) else ids
        valid = (ids >= 0) & (ids < self.input_dim)
        if tf.executing_eagerly():
            if not bool(tf.reduce_all(valid)):
                bad = np.argwhere(~valid.numpy())[0]
                raise ValueError(
                    f"`ids` must lie in [0, input_dim={self.input_dim}); received id "
                    f"{int(ids.numpy()[tuple(bad)])} at position {tuple(int(i) for i in bad)}."
                )
            return ids
        # In a graph the check runs with the data; Assert is a host op, so it fires on
        # GPU too.
        check = tf.debugging.Assert(
            tf.reduce_all(valid),
            [f"`ids` must lie in [0, input_dim={self.input_dim}); received out-of-range id(s):",
             tf.boolean_mask(ids, tf.logical_not(valid))],
            summarize=10)
        with tf.control_dependencies([check]):
            return tf.identity(ids)
