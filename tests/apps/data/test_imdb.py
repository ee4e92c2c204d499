"""Promises of the IMDB loader: Keras's transforms exactly, tutorial pipelines, clear errors.

Every test writes its own tiny npz in Keras's layout; nothing is downloaded.
"""

import json

import keras
import numpy as np
import pytest

from lowlevel.apps.data import imdb

NUM_WORDS = 30  # small, so that some ranks fall out of the vocabulary


def _object_array(lists):
    array = np.empty(len(lists), dtype=object)
    for i, item in enumerate(lists):
        array[i] = list(item)
    return array


def _raw_splits(seed=0, n_train=11, n_test=7):
    """Raw Keras-layout splits: ranks >= 1, no start char, no offset; lengths 0..120."""
    rng = np.random.default_rng(seed)

    def reviews(n):
        lengths = rng.integers(0, 121, size=n)
        lengths[0], lengths[1] = 120, 5  # one longer than maxlen, one short
        return [rng.integers(1, 40, size=length).tolist() for length in lengths]

    x_train, x_test = reviews(n_train), reviews(n_test)
    # label = parity of the review length, so a label can be checked against its review
    y_train = np.array([len(r) % 2 for r in x_train], dtype=np.int64)
    y_test = np.array([len(r) % 2 for r in x_test], dtype=np.int64)
    return x_train, y_train, x_test, y_test


@pytest.fixture
def raw():
    return _raw_splits()


@pytest.fixture
def npz_path(tmp_path, raw):
    x_train, y_train, x_test, y_test = raw
    path = tmp_path / "imdb.npz"
    np.savez(path, x_train=_object_array(x_train), y_train=y_train,
             x_test=_object_array(x_test), y_test=y_test)
    return path


def _expected_row(raw_review, num_words, maxlen):
    """Independent re-derivation: start 1, rank + 3 (or 2 if >= num_words), keep the end."""
    ids = [1] + [w + 3 if w + 3 < num_words else 2 for w in raw_review]
    kept = ids[-maxlen:]
    return [0] * (maxlen - len(kept)) + kept


def _keras_order(n_train, n_test, seed=113):
    rng = np.random.RandomState(seed)
    train, test = np.arange(n_train), np.arange(n_test)
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


# ---------------------------------------------------------------- load

def test_load_returns_int32_arrays_n_by_maxlen(npz_path):
    (x_train, y_train), (x_test, y_test) = imdb.load(NUM_WORDS, maxlen=80, path=npz_path)
    assert x_train.shape == (11, 80) and x_train.dtype == np.int32
    assert x_test.shape == (7, 80) and x_test.dtype == np.int32
    assert y_train.shape == (11,) and y_train.dtype == np.int32
    assert y_test.shape == (7,) and y_test.dtype == np.int32


def test_load_is_start_char_plus_offset_ranks_oov_replaced_padded_pre_keeping_the_end(
        npz_path, raw):
    x_train_raw, y_train_raw, x_test_raw, y_test_raw = raw
    (x_train, y_train), (x_test, y_test) = imdb.load(NUM_WORDS, maxlen=80, path=npz_path)
    train_order, test_order = _keras_order(len(x_train_raw), len(x_test_raw))
    for got, labels, order, reviews, raw_labels in (
            (x_train, y_train, train_order, x_train_raw, y_train_raw),
            (x_test, y_test, test_order, x_test_raw, y_test_raw)):
        expected = [_expected_row(reviews[i], NUM_WORDS, 80) for i in order]
        np.testing.assert_array_equal(got, np.array(expected))
        np.testing.assert_array_equal(labels, raw_labels[order])
    assert np.all(x_train < NUM_WORDS) and np.any(x_train == 2)


def test_load_labels_stay_with_their_reviews_through_the_shuffle(npz_path):
    # Raw labels are the parity of the raw review length; the padded row has
    # length + 1 (start char) non-zero ids when no id is 0 and the review fits.
    (x_train, y_train), _ = imdb.load(NUM_WORDS, maxlen=130, path=npz_path)
    lengths = (x_train != 0).sum(axis=1) - 1
    np.testing.assert_array_equal(lengths % 2, y_train)


def test_load_seed_113_reproduces_and_another_seed_reorders(npz_path):
    a = imdb.load(NUM_WORDS, path=npz_path)
    b = imdb.load(NUM_WORDS, path=npz_path, seed=113)
    c = imdb.load(NUM_WORDS, path=npz_path, seed=5)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    np.testing.assert_array_equal(a[1][0], b[1][0])
    assert not np.array_equal(a[0][0], c[0][0])


@pytest.mark.parametrize(
    "options",
    [
        dict(num_words=NUM_WORDS),
        dict(num_words=12, skip_top=5),
        dict(num_words=NUM_WORDS, oov_char=None, seed=3),
        dict(num_words=NUM_WORDS, start_char=None, index_from=2),
        dict(num_words=None),
    ],
)
def test_load_equals_keras_load_data_then_pad_sequences_on_the_same_file(
        npz_path, monkeypatch, options):
    keras_imdb = pytest.importorskip("keras.src.datasets.imdb")
    # Point Keras's downloader at our file (it would check a hash and download).
    monkeypatch.setattr(keras_imdb, "get_file", lambda *args, **kwargs: str(npz_path))
    (kx_train, ky_train), (kx_test, ky_test) = keras.datasets.imdb.load_data(**options)
    (x_train, y_train), (x_test, y_test) = imdb.load(maxlen=80, path=npz_path, **options)
    np.testing.assert_array_equal(x_train, keras.utils.pad_sequences(kx_train, maxlen=80))
    np.testing.assert_array_equal(x_test, keras.utils.pad_sequences(kx_test, maxlen=80))
    np.testing.assert_array_equal(y_train, ky_train)
    np.testing.assert_array_equal(y_test, ky_test)


def test_load_without_path_reads_the_keras_cache_file(npz_path, monkeypatch):
    monkeypatch.setattr(imdb, "keras_cache_path", lambda fname: str(npz_path))
    monkeypatch.setattr(keras.datasets.imdb, "load_data",
                        lambda **kwargs: pytest.fail("must not download"))
    np.testing.assert_array_equal(imdb.load(NUM_WORDS)[0][0],
                                  imdb.load(NUM_WORDS, path=npz_path)[0][0])


def test_load_offline_without_a_file_says_how_to_pass_one(tmp_path, monkeypatch):
    monkeypatch.setattr(imdb, "keras_cache_path", lambda fname: str(tmp_path / fname))

    def offline(**kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...")

    monkeypatch.setattr(keras.datasets.imdb, "load_data", offline)
    with pytest.raises(RuntimeError, match=r"path=.*--imdb-path"):
        imdb.load()


def test_load_missing_key_names_the_file_and_the_key(tmp_path, raw):
    x_train, y_train, x_test, _ = raw
    path = tmp_path / "broken.npz"
    np.savez(path, x_train=_object_array(x_train), y_train=y_train,
             x_test=_object_array(x_test))
    with pytest.raises(ValueError, match=r"broken\.npz.*'y_test'"):
        imdb.load(path=path)


def test_load_split_length_mismatch_names_the_file(tmp_path, raw):
    x_train, y_train, x_test, y_test = raw
    path = tmp_path / "short.npz"
    np.savez(path, x_train=_object_array(x_train), y_train=y_train[:-1],
             x_test=_object_array(x_test), y_test=y_test)
    with pytest.raises(ValueError, match=r"short\.npz.*y_train"):
        imdb.load(path=path)


def test_load_missing_file_raises_file_not_found_with_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        imdb.load(path=tmp_path / "nowhere.npz")


@pytest.mark.parametrize(
    "kwargs, argument",
    [(dict(num_words=3), "num_words"), (dict(num_words=0), "num_words"),
     (dict(maxlen=0), "maxlen"), (dict(skip_top=-1), "skip_top")],
)
def test_load_rejects_bad_arguments_naming_them(npz_path, kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`.*received"):
        imdb.load(path=npz_path, **kwargs)


# ---------------------------------------------------------------- words

WORD_INDEX = {"the": 1, "movie": 2, "was": 3, "great": 4, "it's": 5, "br": 6, "rare": 40}


def test_get_word_index_reads_a_local_json(tmp_path):
    path = tmp_path / "imdb_word_index.json"
    path.write_text(json.dumps(WORD_INDEX))
    assert imdb.get_word_index(path) == WORD_INDEX


def test_text_to_word_sequence_lowercases_and_strips_keras_filters_keeping_apostrophes():
    assert imdb.text_to_word_sequence("<br /><br />It's GREAT!!  (really)") == [
        "br", "br", "it's", "great", "really"]


def test_encode_text_is_start_plus_offset_ranks_with_unknown_and_rare_as_oov_padded_pre():
    row = imdb.encode_text("The movie was GREAT, unseen rare!", WORD_INDEX, num_words=30,
                           maxlen=10)
    # the=1+3, movie=2+3, was=3+3, great=4+3, unseen -> 2, rare=40+3 >= 30 -> 2
    np.testing.assert_array_equal(row, [0, 0, 0, 1, 4, 5, 6, 7, 2, 2])
    assert row.dtype == np.int32


def test_encode_text_truncates_keeping_the_end():
    row = imdb.encode_text("the movie was great", WORD_INDEX, num_words=30, maxlen=2)
    np.testing.assert_array_equal(row, [6, 7])


def test_decode_review_uses_the_tutorial_reserved_tokens():
    ids = [0, 1, 4, 5, 2, 3, 7, 99]
    assert imdb.decode_review(ids, WORD_INDEX) == (
        "<PAD> <START> the movie <UNK> <UNUSED> great ?")
    assert imdb.decode_review(ids, WORD_INDEX, skip_padding=True).startswith("<START> the")


def test_decode_review_inverts_encode_text_for_known_words():
    row = imdb.encode_text("It's a GREAT movie", WORD_INDEX, num_words=30, maxlen=6)
    assert imdb.decode_review(row, WORD_INDEX) == "<PAD> <START> it's <UNK> great movie"


# ---------------------------------------------------------------- tf.data

def _arrays(n_train=7, n_test=5, maxlen=4):
    x_train = np.arange(n_train * maxlen, dtype=np.int32).reshape(n_train, maxlen)
    x_test = np.arange(n_test * maxlen, dtype=np.int32).reshape(n_test, maxlen)
    return x_train, np.arange(n_train, dtype=np.int32), x_test, np.arange(n_test, dtype=np.int32)


def test_evaluation_dataset_counts_every_example_in_order():
    train, test = imdb.make_datasets(*_arrays(), batch_size=2)
    labels = [y.numpy().tolist() for _, y in test]
    assert labels == [[0, 1], [2, 3], [4]]


def test_training_dataset_drops_the_incomplete_batch():
    train, _ = imdb.make_datasets(*_arrays(), batch_size=2)
    sizes = [int(x.shape[0]) for x, _ in train]
    assert sizes == [2, 2, 2]
    assert train.element_spec[0].shape.as_list() == [2, 4]


def test_training_dataset_shuffles_reproducibly_with_a_seed_and_keeps_pairs():
    x_train, y_train, x_test, y_test = _arrays(n_train=40)
    first, _ = imdb.make_datasets(x_train, y_train, x_test, y_test, batch_size=8, seed=1)
    second, _ = imdb.make_datasets(x_train, y_train, x_test, y_test, batch_size=8, seed=1)
    order = np.concatenate([y.numpy() for _, y in first])
    np.testing.assert_array_equal(order, np.concatenate([y.numpy() for _, y in second]))
    assert sorted(order.tolist()) == list(range(40)) and order.tolist() != list(range(40))
    for x, y in first:
        np.testing.assert_array_equal(x.numpy(), x_train[y.numpy()])


def test_make_datasets_rejects_a_batch_larger_than_the_training_set():
    with pytest.raises(ValueError, match="`batch_size`.*received 8"):
        imdb.make_datasets(*_arrays(n_train=7), batch_size=8)
