"""The tutorial's ``tf.data`` pipelines over padded reviews and their labels."""

from __future__ import annotations

import tensorflow as tf

from lowlevel.apps.data._arguments import int_at_least


def make_datasets(x_train, y_train, x_test, y_test, batch_size=128, shuffle_buffer=1000,
                  seed=None):
    """The tutorial's ``tf.data`` pipelines: ``(train, test)`` of ``(x [b, maxlen], y [b])``.

    Training: shuffled (buffer ``shuffle_buffer``, reshuffled each epoch, ``seed`` for
    repeatability) and batched with ``drop_remainder=True`` so every step has a full,
    static batch. Evaluation: in order, batched WITHOUT dropping the remainder, so every
    test example is counted (the last batch may be smaller).
    """
    batch_size = int_at_least(batch_size, "batch_size", 1)
    shuffle_buffer = int_at_least(shuffle_buffer, "shuffle_buffer", 1)
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(x) != len(y):
            raise ValueError(
                f"`x_{name}` has {len(x)} rows but `y_{name}` has {len(y)}; expected equal."
            )
    if len(x_train) < batch_size:
        raise ValueError(
            f"`batch_size` must be <= the {len(x_train)} training examples (the training "
            f"set drops incomplete batches, so it would be empty); received {batch_size}."
        )
    train = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
             .shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
             .batch(batch_size, drop_remainder=True)
             .prefetch(tf.data.AUTOTUNE))
    test = (tf.data.Dataset.from_tensor_slices((x_test, y_test))
            .batch(batch_size)
            .prefetch(tf.data.AUTOTUNE))
    return train, test
