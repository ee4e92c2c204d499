"""The tutorial's models written with Keras: the yardstick lowlevel is measured against.

The IMDB sentiment models of chapter 11 of Liangqu Long's *TensorFlow 深度学习*
(github.com/dragen1860/Deep-Learning-with-TensorFlow-book, ``ch11/``), in Keras 3, with its
bugs fixed (each listed at the top of ``models.py``, ``embedding.py``, ``training.py``).
This package never imports ``lowlevel``.

    model = build_model("lstm", style="cell")      # MyRNN: two LSTMCells stepped by hand
    compile_like_tutorial(model)                   # RMSprop(1e-3), binary cross-entropy
    train(model, train_ds, val_ds, epochs=1)
    prob = model(ids)                              # [batch, maxlen] -> [batch, 1]
    logits = model(ids, return_logits=True)        # [batch, 1]
"""

from lowlevel_reference.config import TUTORIAL, TutorialConfig
from lowlevel_reference.embedding import embedding_matrix_from_vectors, make_embedding
from lowlevel_reference.models import CELLS, LAYERS, STYLES, MyLayerRNN, MyRNN, build_model, make_head
from lowlevel_reference.training import (
    CLIP_MODES,
    clip_gradients,
    compile_like_tutorial,
    global_norm,
    make_train_step,
    merge_duplicate_rows,
    train,
)

__all__ = [
    "CELLS",
    "CLIP_MODES",
    "LAYERS",
    "STYLES",
    "TUTORIAL",
    "MyLayerRNN",
    "MyRNN",
    "TutorialConfig",
    "build_model",
    "clip_gradients",
    "compile_like_tutorial",
    "embedding_matrix_from_vectors",
    "global_norm",
    "make_embedding",
    "make_head",
    "make_train_step",
    "merge_duplicate_rows",
    "train",
]
