"""Promises of the synthetic sentiment corpus: IMDB's format, its own label rule, learnability."""

import numpy as np
import pytest

from lowlevel.apps.data import imdb, synthetic

NUM_WORDS = 2000


@pytest.fixture(scope="module")
def corpus():
    return synthetic.make_corpus(2000, num_words=NUM_WORDS, seed=0)


@pytest.fixture(scope="module")
def lex():
    return synthetic.lexicon(NUM_WORDS)


def test_reviews_follow_the_imdb_id_convention(corpus):
    reviews, labels = corpus
    assert isinstance(reviews, list) and all(isinstance(r, list) for r in reviews)
    assert all(r[0] == 1 for r in reviews)
    flat = np.concatenate([np.array(r[1:]) for r in reviews])
    assert flat.min() >= 2 and flat.max() < NUM_WORDS
    assert not np.any(flat == 3)  # 3 is unused, as in IMDB
    assert 0.02 < np.mean(flat == 2) < 0.15  # some out-of-vocabulary words
    assert labels.dtype == np.int32 and set(np.unique(labels)) == {0, 1}


def test_filler_is_zipf_so_frequent_ids_dominate(corpus, lex):
    reviews, _ = corpus
    flat = np.concatenate([np.array(r[1:]) for r in reviews])
    counts = np.bincount(flat, minlength=NUM_WORDS)
    assert counts[4] > counts[5] > counts[6] > 10 * counts[1000]


def test_zipf_ranks_follow_log_one_plus_one_over_k():
    ranks = synthetic.zipf_ranks(np.random.default_rng(0), 200_000, 6)
    expected = np.log1p(1 / np.arange(1, 7)) / np.log(7)
    np.testing.assert_allclose(np.bincount(ranks, minlength=6) / ranks.size, expected, atol=0.005)


def test_label_is_the_sign_of_the_summed_sentiment(corpus, lex):
    reviews, labels = corpus
    scores = np.array([synthetic.sentiment_score(r, lex) for r in reviews])
    assert np.all(scores != 0)
    np.testing.assert_array_equal(labels, (scores > 0).astype(np.int32))


def test_sentiment_score_negation_flips_and_intensifier_doubles(lex):
    good, bad = lex.positive[0], lex.negative[0]
    neg, very, filler = lex.negations[0], lex.intensifiers[0], 4
    assert synthetic.sentiment_score([1, good, filler, bad, bad], lex) == -1
    assert synthetic.sentiment_score([1, neg, good], lex) == -1
    assert synthetic.sentiment_score([1, very, bad, good], lex) == -1
    assert synthetic.sentiment_score([1, neg, filler, bad, good], lex) == 2  # next polar word


def test_classes_are_balanced_exactly(corpus):
    _, labels = corpus
    assert labels.sum() == len(labels) // 2


def test_most_reviews_are_longer_than_80_so_truncation_matters(corpus):
    reviews, _ = corpus
    lengths = np.array([len(r) for r in reviews])
    assert lengths.min() >= 50 and lengths.max() <= 400
    assert np.mean(lengths > 80) > 0.85


def test_same_seed_same_corpus_other_seed_other_corpus():
    a = synthetic.make_corpus(50, num_words=NUM_WORDS, seed=3)
    b = synthetic.make_corpus(50, num_words=NUM_WORDS, seed=3)
    c = synthetic.make_corpus(50, num_words=NUM_WORDS, seed=4)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    assert a[0] != c[0]


def test_bag_of_polar_words_is_accurate_and_majority_class_is_chance(corpus, lex):
    reviews, labels = corpus
    accuracy = np.mean(synthetic.bag_of_polar_words(reviews, lex) == labels)
    majority = max(np.mean(labels == 0), np.mean(labels == 1))
    assert accuracy > 0.88
    assert majority == pytest.approx(0.5, abs=0.01)


def test_the_kept_end_of_each_review_still_predicts_its_label(lex):
    (x_train, y_train), _ = synthetic.load(1000, 10, num_words=NUM_WORDS, maxlen=80, seed=1)
    accuracy = np.mean(synthetic.bag_of_polar_words(x_train, lex) == y_train)
    assert accuracy > 0.75


def test_load_is_shaped_like_imdb_load_and_pads_make_corpus(lex):
    (x_train, y_train), (x_test, y_test) = synthetic.load(
        30, 20, num_words=NUM_WORDS, maxlen=80, seed=5)
    assert x_train.shape == (30, 80) and x_train.dtype == np.int32
    assert x_test.shape == (20, 80) and y_test.shape == (20,) and y_train.dtype == np.int32
    reviews, labels = synthetic.make_corpus(30, num_words=NUM_WORDS, seed=(5, 0))
    np.testing.assert_array_equal(x_train, imdb.pad(reviews, 80))
    np.testing.assert_array_equal(y_train, labels)
    assert not np.array_equal(x_train[:20], x_test)


def test_lexicon_words_are_distinct_in_vocabulary_and_partnered(lex):
    ids = lex.positive + lex.negative + lex.negations + lex.intensifiers
    assert len(set(ids)) == len(ids)
    assert min(ids) >= synthetic.FIRST_WORD_ID and max(ids) < NUM_WORDS
    assert len(lex.positive) == len(lex.negative) == synthetic.NUM_POLAR


@pytest.mark.parametrize(
    "kwargs, argument",
    [(dict(num_examples=0), "num_examples"), (dict(num_examples=5, num_words=100), "num_words"),
     (dict(num_examples=5, min_len=1), "min_len"),
     (dict(num_examples=5, min_len=60, max_len=50), "max_len")],
)
def test_make_corpus_rejects_bad_arguments_naming_them(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`.*received"):
        synthetic.make_corpus(**kwargs)
