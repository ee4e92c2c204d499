"""A synthetic sentiment corpus shaped like IMDB, for offline runs and tests.

Reviews use ``imdb.load``'s id convention (0 pad, 1 start, 2 oov, 3 unused, words from 4,
every id ``< num_words``) and are built from four kinds of token:

- filler: Zipf-distributed over ``K ~= 2 * num_words`` word ranks, the rarest half of
  which becomes ``oov_char = 2`` as in the real data (about 6% of filler tokens). Ranks are
  ``floor((K + 1) ** u)`` for ``u ~ U[0, 1)``, the discretised continuous Zipf law
  ``p(k) = log(1 + 1/k) / log(K + 1) ~= 1 / (k log K)`` (exponent 1, one vectorised draw);
- polar words: ``Lexicon.positive`` (+1) and ``Lexicon.negative`` (-1), about
  ``POLAR_RATE`` of the tokens, spread uniformly over the whole review;
- negations, which flip the polarity of the next polar word;
- intensifiers, which double the weight of the next polar word.

The label is the sign of the summed sentiment, computed by ``sentiment_score``::

    score  = sum over polar words w of  polarity(w) * (-1 if negated) * (2 if intensified)
    label  = 1 if score > 0 else 0            (reviews with score 0 are never emitted)

Each review has a hidden tone ``z = +-1``; each polar word's effective sentiment agrees
with ``z`` with probability ``AGREEMENT``, so any window of the review -- in particular the
last 80 tokens that ``'pre'`` truncation keeps -- carries evidence about the label.
Classes are balanced exactly (``n // 2`` positives) by negating whole reviews
(swapping each positive word with its negative partner negates the score).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lowlevel.apps.data.imdb import _int_at_least, pad

START_CHAR, OOV_CHAR, FIRST_WORD_ID = 1, 2, 4  # ids 0 pad and 3 unused hold no word
MIN_NUM_WORDS = 500  # room for the lexicon (125 ids below 3,070) and for filler
POLAR_RATE = 0.08  # fraction of tokens that are polar words (one in 12.5)
AGREEMENT = 0.75  # P(a polar word's effective sentiment agrees with the review's tone)
NEGATION_RATE = 0.15  # P(negation before a polar word), if that slot is not polar
INTENSIFIER_RATE = 0.15  # P(intensifier before a polar word), likewise
NUM_POLAR = 60  # positive words, and as many negative ones


@dataclasses.dataclass(frozen=True)
class Lexicon:
    """The generator's word lists (ids); ``positive[k]`` and ``negative[k]`` are partners."""

    positive: tuple
    negative: tuple
    negations: tuple
    intensifiers: tuple


def lexicon(num_words: int = 10000) -> Lexicon:
    """The lexicon for a vocabulary of ``num_words`` ids; a fixed function of ``num_words``.

    Modifiers are frequent words (like "not" and "very" in IMDB); polar words alternate
    along an even stride through ids ``[70, min(num_words, 3070))``.
    """
    num_words = _int_at_least(num_words, "num_words", MIN_NUM_WORDS)
    candidates = np.arange(70, min(num_words, 3070))
    step = len(candidates) // (2 * NUM_POLAR)
    polar = candidates[: 2 * NUM_POLAR * step: step]  # [2 * NUM_POLAR]
    return Lexicon(
        positive=tuple(int(i) for i in polar[0::2]),
        negative=tuple(int(i) for i in polar[1::2]),
        negations=(24, 35),
        intensifiers=(50, 57, 63),
    )


def sentiment_score(review, lex: Lexicon) -> int:
    """The label's definition, token by token: ``sum polarity * (-1 if negated) * (2 if intensified)``.

    A negation (intensifier) applies to the next polar word after it, however far.
    """
    positive, negative = set(lex.positive), set(lex.negative)
    negations, intensifiers = set(lex.negations), set(lex.intensifiers)
    score, sign, weight = 0, 1, 1
    for token in review:
        token = int(token)
        if token in negations:
            sign = -sign
        elif token in intensifiers:
            weight = 2
        elif token in positive or token in negative:
            score += (1 if token in positive else -1) * sign * weight
            sign, weight = 1, 1
    return score


def bag_of_polar_words(x, lex: Lexicon) -> np.ndarray:
    """Reference classifier: 1 if ``#positive >= #negative`` polar words else 0.

    Ignores order, negations and intensifiers. ``x``: ``[n, maxlen]`` ids (padded rows)
    or a list of id lists. Returns ``[n]`` int32 predictions.
    """
    pos = np.isin(np.arange(max(max(lex.positive), max(lex.negative)) + 1), lex.positive)
    neg = np.isin(np.arange(len(pos)), lex.negative)
    votes = []
    for review in x:
        review = np.asarray(review)
        review = review[review < len(pos)]
        votes.append(int(pos[review].sum()) - int(neg[review].sum()))
    return (np.array(votes) >= 0).astype(np.int32)


def _filler_ids(num_words: int, lex: Lexicon) -> np.ndarray:
    """Filler vocabulary in rank order: ids ``4 .. 2*num_words`` minus the lexicon."""
    reserved = np.array(lex.positive + lex.negative + lex.negations + lex.intensifiers)
    ids = np.arange(FIRST_WORD_ID, 2 * num_words)
    return ids[~np.isin(ids, reserved)]


def zipf_ranks(rng, size, num_ranks: int) -> np.ndarray:
    """0-based ranks with ``p(k) = log(1 + 1/(k+1)) / log(num_ranks + 1)`` (Zipf, exponent 1)."""
    ranks = np.floor(np.exp(rng.random(size) * np.log(num_ranks + 1.0))).astype(np.int64)
    return np.minimum(ranks, num_ranks) - 1  # [*size] in [0, num_ranks)


def _generate_chunk(rng, count, num_words, min_len, max_len, lex, filler):
    """``count`` raw reviews: ``(tokens [count, max_len], lengths [count], scores [count])``.

    Row ``b`` is ``tokens[b, :lengths[b]]``, starting with ``START_CHAR``.
    """
    width = max_len - 1  # word positions after the start character
    lengths = rng.integers(min_len, max_len + 1, size=count)  # [count], start char included
    valid = np.arange(width)[None, :] < (lengths - 1)[:, None]  # [count, width]
    words = filler[zipf_ranks(rng, (count, width), len(filler))]  # [count, width]
    words = np.where(words < num_words, words, OOV_CHAR)

    polar = valid & (rng.random((count, width)) < POLAR_RATE)  # [count, width]
    tone = rng.choice([-1, 1], size=(count, 1))  # [count, 1] hidden tone z
    effective = np.where(rng.random((count, width)) < AGREEMENT, tone, -tone)  # [count, width]
    # A modifier takes the position just before its polar word, if that is filler.
    free_before = np.zeros_like(polar)
    free_before[:, 1:] = polar[:, 1:] & ~polar[:, :-1]
    u = rng.random((count, width))
    negated = free_before & (u < NEGATION_RATE)
    intensified = free_before & (u >= NEGATION_RATE) & (u < NEGATION_RATE + INTENSIFIER_RATE)
    shown = effective * np.where(negated, -1, 1)  # polarity of the word written

    choice = rng.integers(0, NUM_POLAR, size=(count, width))
    polar_ids = np.where(shown > 0, np.array(lex.positive)[choice], np.array(lex.negative)[choice])
    words = np.where(polar, polar_ids, words)
    modifier_of_next = np.zeros_like(words)
    modifier_of_next[:, :-1] = np.where(
        negated[:, 1:], rng.choice(lex.negations, size=(count, width - 1)),
        rng.choice(lex.intensifiers, size=(count, width - 1)))
    before_modified = np.zeros_like(polar)
    before_modified[:, :-1] = negated[:, 1:] | intensified[:, 1:]
    words = np.where(before_modified, modifier_of_next, words)

    scores = (polar * effective * np.where(intensified, 2, 1)).sum(axis=1)  # [count]
    tokens = np.concatenate([np.full((count, 1), START_CHAR), words], axis=1)
    return tokens, lengths, scores


def make_corpus(num_examples: int, num_words: int = 10000, min_len: int = 50,
                max_len: int = 400, seed=0):
    """``num_examples`` reviews in ``imdb.load``'s id convention, BEFORE padding.

    Args:
        num_examples: reviews to make, >= 1.
        num_words: ids are ``< num_words``; >= ``MIN_NUM_WORDS``.
        min_len, max_len: review length (start character included) is uniform in
            ``[min_len, max_len]``; the defaults put ~91% of reviews above 80 tokens.
        seed: anything ``np.random.default_rng`` takes; same seed, same corpus.

    Returns:
        ``(reviews, labels)``: a list of int lists (each starts with 1) and ``[n]`` int32
        labels, ``label = sentiment_score(review, lexicon(num_words)) > 0``.
    """
    num_examples = _int_at_least(num_examples, "num_examples", 1)
    num_words = _int_at_least(num_words, "num_words", MIN_NUM_WORDS)
    min_len = _int_at_least(min_len, "min_len", 2)
    max_len = _int_at_least(max_len, "max_len", min_len)
    rng = np.random.default_rng(seed)
    lex = lexicon(num_words)
    filler = _filler_ids(num_words, lex)

    reviews, scores = [], []
    while len(reviews) < num_examples:  # chunks bound memory; ties are rejected
        needed = num_examples - len(reviews)
        count = min(needed + needed // 4 + 8, 4096)
        tokens, lengths, chunk_scores = _generate_chunk(
            rng, count, num_words, min_len, max_len, lex, filler)
        for row, length, score in zip(tokens, lengths, chunk_scores):
            if score != 0:
                reviews.append(row[:length])
                scores.append(int(score))
    reviews, scores = reviews[:num_examples], np.array(scores[:num_examples])

    # Balance exactly: negate the reviews whose label differs from a balanced target.
    targets = rng.permutation(np.arange(num_examples) % 2)  # [n]
    swap = np.arange(2 * num_words)
    swap[list(lex.positive)], swap[list(lex.negative)] = lex.negative, lex.positive
    for i in np.flatnonzero((scores > 0).astype(int) != targets):
        reviews[i] = swap[reviews[i]]
    return [r.tolist() for r in reviews], targets.astype(np.int32)


def load(num_train: int = 25000, num_test: int = 25000, num_words: int = 10000,
         maxlen: int = 80, seed=0, min_len: int = 50, max_len: int = 400):
    """Synthetic splits shaped exactly like ``imdb.load``'s output.

    Train and test are independent corpora (seeds ``(seed, 0)`` and ``(seed, 1)``),
    padded by ``imdb.pad`` (keras ``pad_sequences``, ``'pre'``: long reviews keep the end).

    Returns:
        ``(x_train [num_train, maxlen] int32, y_train [num_train] int32),
        (x_test [num_test, maxlen] int32, y_test [num_test] int32)``.
    """
    maxlen = _int_at_least(maxlen, "maxlen", 1)
    splits = []
    for part, count in enumerate((num_train, num_test)):
        reviews, labels = make_corpus(count, num_words, min_len, max_len, seed=(seed, part))
        splits.append((pad(reviews, maxlen), labels))
    return tuple(splits)
