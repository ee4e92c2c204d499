"""Data: long-memory tasks, IMDB, GloVe and a synthetic sentiment corpus."""

from lowlevel.apps.data import glove, imdb, synthetic, tasks

__all__ = ["glove", "imdb", "synthetic", "tasks"]
