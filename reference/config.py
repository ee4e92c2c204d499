"""The tutorial's hyper-parameters in one frozen dataclass.

Values from the classic "RNN in TensorFlow 2" IMDB sentiment tutorial
(``sentiment_analysis_cell.py`` / ``sentiment_analysis_layer.py``).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class TutorialConfig:
    """Hyper-parameters of the tutorial; ``build_model`` and ``train`` default to these."""

    num_words: int = 10_000  # `total_words`: vocabulary kept by imdb.load_data(num_words=...)
    embedding_dim: int = 100  # `embedding_len`: word-vector width (GloVe 100d in the pretrained variant)
    maxlen: int = 80  # `max_review_len`: pad_sequences pads/truncates at the front to this length
    units: int = 64  # state width of each of the two stacked RNNs, and of the head's first Dense
    dropout: float = 0.5  # input dropout of both cells, and the head's Dropout rate
    batch_size: int = 128  # `batchsz`; the tutorial drops the last partial batch, we do not need to
    learning_rate: float = 1e-3  # RMSprop(0.001) in the cell-style script
    epochs: int = 50  # the tutorial's `epochs`; tests use 1


TUTORIAL = TutorialConfig()
