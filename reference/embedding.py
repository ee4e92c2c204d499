"""The word embedding: random (the tutorial's default) or initialised from GloVe.

Fix (5) of the tutorial lives here. Its GloVe script builds ``embedding_matrix``
from names defined elsewhere in the notebook (``embeddings_index``,
``MAX_NUM_WORDS``, a ``word_index`` shifted by 3 for IMDB), and the line that
loads the matrix, ``self.embedding.set_weights([embedding_matrix])``, is
commented out, so its "pretrained, frozen" embedding is a frozen *random* one.
Here the matrix is an argument and goes in through ``Constant``.
"""

from __future__ import annotations

import keras
import numpy as np


def make_embedding(
    num_words: int,
    embedding_dim: int,
    embedding_matrix=None,
    trainable: bool = True,
) -> keras.layers.Embedding:
    """An ``Embedding`` that maps ``[batch, time]`` int ids to ``[batch, time, embedding_dim]``.

    With ``embedding_matrix`` (``[num_words, embedding_dim]``), the table starts
    equal to it and its shape wins over ``num_words`` / ``embedding_dim``;
    ``trainable=False`` freezes it (the tutorial's GloVe setting), ``True`` fine-tunes it.
    The layer is built, so its weights exist before the first call.
    """
    if embedding_matrix is None:
        layer = keras.layers.Embedding(num_words, embedding_dim, trainable=trainable)
    else:
        matrix = np.asarray(embedding_matrix, dtype=np.float32)
        if matrix.ndim != 2 or 0 in matrix.shape:
            raise ValueError(
                "embedding_matrix must be a non-empty 2-D array [num_words, embedding_dim]; "
                f"received shape {matrix.shape}."
            )
        layer = keras.layers.Embedding(
            matrix.shape[0],
            matrix.shape[1],
            embeddings_initializer=keras.initializers.Constant(matrix),
            trainable=trainable,
        )
    layer.build((None, None))
    return layer


def embedding_matrix_from_vectors(
    word_index: dict[str, int],
    vectors: dict[str, np.ndarray],
    num_words: int,
) -> np.ndarray:
    """The ``[num_words, dim]`` matrix whose row ``i`` is ``vectors[word]`` for ``word_index[word] == i``.

    Rows of words without a vector, and of ids ``>= num_words``, stay zero (as in
    the tutorial). ``word_index`` must use the ids the model sees: for
    ``keras.datasets.imdb.load_data`` (``index_from=3``) that is
    ``{w: i + 3 for w, i in imdb.get_word_index().items()}``. ``vectors`` maps a
    word to its GloVe vector (parse ``glove.6B.100d.txt`` one line per word).
    """
    if not vectors:
        raise ValueError("vectors must map at least one word to a vector; received an empty dict.")
    dim = len(next(iter(vectors.values())))
    matrix = np.zeros((num_words, dim), dtype=np.float32)
    for word, i in word_index.items():
        vector = vectors.get(word)
        if i < num_words and vector is not None:
            if len(vector) != dim:
                raise ValueError(
                    f"vectors[{word!r}] has length {len(vector)}; expected {dim} like the first vector."
                )
            matrix[i] = vector
    return matrix
