"""``lowlevel export --run DIR --out DIR``: a trained classifier as a TensorFlow SavedModel.

The SavedModel needs TensorFlow only (not lowlevel, not Keras) to serve::

    loaded = tf.saved_model.load("exported/")
    loaded.signatures["serving_default"](ids=tf.constant(ids, tf.int32))["probability"]
    loaded.signatures["serving_text"](text=tf.constant(["1 70 120"]))["probability"]

Signatures:

- ``serving_default``: ``ids [batch, maxlen]`` int32 (padded as the run's data) ->
  ``probability [batch, 1]`` = ``sigmoid(logits)``, p(positive), dropout off.
- ``serving_text``: ``text [batch]`` strings -> ``probability [batch, 1]``, with the
  run's encoding done in TensorFlow ops, the vocabulary inside the SavedModel:
  IMDB runs tokenise as ``lowlevel predict`` (Keras's ``text_to_word_sequence``: lowercase,
  punctuation to spaces, split; ``[1] + [rank + 3 if < num_words else 2]``; padded and
  truncated at the front to ``maxlen``), from the word index given with ``--word-index``
  or recorded in the run; synthetic runs read whitespace-separated ids, ``1`` prepended
  when absent. Written only when the vocabulary is at hand (an IMDB run without a word
  index gets ``serving_default`` alone, and a note says so).
"""

from __future__ import annotations

import os
import re
import sys

import tensorflow as tf

from lowlevel.apps.data import imdb, synthetic
from lowlevel.apps.experiment import run as experiment
# The flags are declared where TensorFlow is not imported (`lowlevel export --help`).
from lowlevel.apps.experiment.cli import add_export_parser as add_parser

INDEX_FROM = 3  # Keras's imdb.load_data: word rank r -> id r + 3 (0 pad, 1 start, 2 oov)


def run(args) -> int:
    """Execute ``lowlevel export``; return the exit status (0 ok, 2 bad arguments)."""
    try:
        signatures = export(args.run, args.out, args.word_index)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"lowlevel export: error: {error}", file=sys.stderr)
        return 2
    print(f"exported {args.run} -> {args.out}: signatures {', '.join(signatures)}")
    return 0


def export(run_dir, out_dir, word_index_path=None) -> list:
    """Write the SavedModel of ``run_dir``'s kept weights to ``out_dir``; return its
    signature names."""
    if os.path.exists(out_dir):
        raise FileExistsError(f"`--out`: {out_dir!r} exists; give a new directory.")
    config, model = experiment.load_run(run_dir)
    module = tf.Module()
    module.model = model  # tracked: its variables go into the SavedModel
    maxlen = config.maxlen

    @tf.function(input_signature=[tf.TensorSpec([None, maxlen], tf.int32, name="ids")])
    def serve_ids(ids):
        return {"probability": tf.sigmoid(model(ids, training=False))}  # [batch, 1]

    signatures = {"serving_default": serve_ids}
    encoder = _text_encoder(config, word_index_path)
    if encoder is not None:
        module.encoder = encoder

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve_text(text):
            return serve_ids(encoder(text))

        signatures["serving_text"] = serve_text
    else:
        print("note: no IMDB word index (--word-index) at hand: serving_text not written",
              file=sys.stderr)
    module.serve_ids = serve_ids
    tf.saved_model.save(module, out_dir, signatures=signatures)
    return list(signatures)


def _text_encoder(config, word_index_path):
    if config.data == "synthetic":
        return IdTextEncoder(config.num_words, config.maxlen)
    path = word_index_path or config.word_index
    if path is None:
        return None
    return WordTextEncoder(imdb.get_word_index(path), config.num_words, config.maxlen)


class WordTextEncoder(tf.Module):
    """Raw review texts ``[batch]`` -> ids ``[batch, maxlen]``, as ``imdb.encode_text``.

    The kept vocabulary (words whose ``rank + 3 < num_words``) is a lookup table inside
    the module, so it travels with the SavedModel.
    """

    def __init__(self, word_index: dict, num_words: int, maxlen: int):
        super().__init__()
        kept = {w: r + INDEX_FROM for w, r in word_index.items() if r + INDEX_FROM < num_words}
        words = sorted(kept)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(words, tf.string),
                                                tf.constant([kept[w] for w in words], tf.int32)),
            default_value=synthetic.OOV_CHAR)
        self.maxlen = maxlen
        self._filters = "[" + re.escape(imdb.KERAS_TEXT_FILTERS) + "]"

    def __call__(self, text):
        text = tf.strings.regex_replace(tf.strings.lower(text, encoding="utf-8"),
                                        self._filters, " ")
        words = tf.strings.split(text)  # ragged [batch, None]
        ids = tf.ragged.map_flat_values(self.table.lookup, words)
        return pad_front(_with_start(ids), self.maxlen)


class IdTextEncoder(tf.Module):
    """Whitespace-separated ids ``"1 70 120"`` ``[batch]`` -> ``[batch, maxlen]``, as the
    synthetic corpus's ``predict`` reads them (start id 1 prepended when absent)."""

    def __init__(self, num_words: int, maxlen: int):
        super().__init__()
        self.num_words, self.maxlen = num_words, maxlen

    def __call__(self, text):
        ids = tf.strings.to_number(tf.strings.split(text), tf.int32)  # ragged [batch, None]
        tf.debugging.assert_less(ids.flat_values, self.num_words,
                                 message=f"ids must be in [0, {self.num_words})")
        tf.debugging.assert_non_negative(ids.flat_values, message="ids must be >= 0")
        starts = ids[:, :1].to_tensor(default_value=-1)[:, 0] == synthetic.START_CHAR  # [batch]
        with_start = _with_start(ids)
        # Rows that began with the start id drop the one just prepended.
        first = tf.ragged.range(with_start.row_lengths()) == 0  # ragged [batch, None]
        ids = tf.ragged.boolean_mask(with_start, ~(first & starts[:, None]))
        return pad_front(ids, self.maxlen)


def _with_start(ids):
    """``[1] + row`` for every row of a ragged ``[batch, None]``."""
    start = tf.fill([ids.nrows(), 1], tf.constant(synthetic.START_CHAR, ids.dtype))
    return tf.concat([tf.RaggedTensor.from_tensor(start), ids], axis=1)


def pad_front(ids, maxlen):
    """Ragged ``[batch, None]`` -> ``[batch, maxlen]``: the last ``maxlen`` ids of each row,
    zeros in front, as ``pad_sequences(padding='pre', truncating='pre')``."""
    lengths = tf.cast(ids.row_lengths(), tf.int32)  # [batch]
    dense = ids.to_tensor(default_value=0)  # [batch, longest], right-padded
    dense = tf.pad(dense, [[0, 0], [0, 1]])  # a zero column to gather padding from
    # Output column j holds input position lengths - maxlen + j (padding when < 0).
    source = lengths[:, None] - maxlen + tf.range(maxlen)[None, :]  # [batch, maxlen]
    zero_column = tf.shape(dense)[1] - 1
    source = tf.where(source < 0, zero_column, source)
    return tf.gather(dense, source, batch_dims=1)  # [batch, maxlen]


__all__ = ["add_parser", "run", "export", "pad_front"]
