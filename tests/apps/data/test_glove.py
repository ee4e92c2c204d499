"""Promises of the GloVe loader: row = IMDB id, three file formats, errors with file:line."""

import gzip
import zipfile

import numpy as np
import pytest

from lowlevel.apps.data import glove

# ranks as in the Keras index (1 = most frequent); ids are rank + 3
WORD_INDEX = {"the": 1, "movie": 2, "it's": 3, "great": 4, "awful": 5, "plot": 6, "rare": 20}
VECTORS = {
    "the": [0.1, 0.2, 0.3],
    "movie": [1.0, -1.0, 0.5],
    "great": [2.0, 0.0, -2.5],
    "awful": [-3.0, 1e-3, 4.0],
    "rare": [9.0, 9.0, 9.0],  # rank 20 -> id 23, outside num_words=10
    "zebra": [7.0, 7.0, 7.0],  # not in the word index
}
NUM_WORDS = 10  # ids 4..9 = ranks 1..6


def _text(vectors=VECTORS):
    return "".join(f"{w} {' '.join(str(v) for v in vec)}\n" for w, vec in vectors.items())


@pytest.fixture
def txt_path(tmp_path):
    path = tmp_path / "glove.test.3d.txt"
    path.write_text(_text())
    return path


def _write_gz(path, text):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(text)
    return path


def _write_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def test_row_of_a_word_is_its_rank_plus_index_from(txt_path):
    matrix, _ = glove.load(txt_path, WORD_INDEX, num_words=NUM_WORDS)
    assert matrix.shape == (NUM_WORDS, 3) and matrix.dtype == np.float32
    for word in ("the", "movie", "great", "awful"):
        np.testing.assert_array_equal(matrix[WORD_INDEX[word] + 3],
                                      np.float32(VECTORS[word]))


def test_reserved_rows_and_words_without_a_vector_are_zero(txt_path):
    matrix, _ = glove.load(txt_path, WORD_INDEX, num_words=NUM_WORDS)
    np.testing.assert_array_equal(matrix[:4], 0.0)  # pad, start, oov, unused
    np.testing.assert_array_equal(matrix[WORD_INDEX["it's"] + 3], 0.0)
    np.testing.assert_array_equal(matrix[WORD_INDEX["plot"] + 3], 0.0)


def test_index_from_shifts_every_row(txt_path):
    matrix, _ = glove.load(txt_path, WORD_INDEX, num_words=NUM_WORDS, index_from=0)
    np.testing.assert_array_equal(matrix[1], np.float32(VECTORS["the"]))
    np.testing.assert_array_equal(matrix[0], 0.0)


def test_report_counts_vocabulary_words_found_and_missing_by_frequency(txt_path):
    _, report = glove.load(txt_path, WORD_INDEX, num_words=NUM_WORDS)
    # rows 4..9 hold the 6 words of rank 1..6; "rare" (id 23) has no row
    assert report.words_in_vocab == 6
    assert report.found == 4 and report.missing == 2
    assert report.missing_examples == ("it's", "plot")
    assert report.coverage == pytest.approx(4 / 6)
    assert report.dim == 3 and report.lines == len(VECTORS)


def test_txt_gz_and_zip_give_the_same_matrix(tmp_path, txt_path):
    gz = _write_gz(tmp_path / "glove.test.3d.txt.gz", _text())
    archive = _write_zip(tmp_path / "glove.test.zip", {"glove.test.3d.txt": _text()})
    expected, _ = glove.load(txt_path, WORD_INDEX, num_words=NUM_WORDS)
    for path in (gz, archive, f"{archive}::glove.test.3d.txt"):
        matrix, report = glove.load(path, WORD_INDEX, num_words=NUM_WORDS)
        np.testing.assert_array_equal(matrix, expected)
        assert report.found == 4


def test_zip_member_is_chosen_by_name_then_by_dim_then_first_txt(tmp_path):
    four = {w: v + [0.0] for w, v in VECTORS.items()}
    archive = _write_zip(tmp_path / "glove.6B.zip", {
        "README": "not vectors\n",
        "glove.t.3d.txt": _text(),
        "glove.t.4d.txt": _text(four),
    })
    assert glove.load(archive, WORD_INDEX, num_words=NUM_WORDS)[1].dim == 3
    matrix, report = glove.load(archive, WORD_INDEX, num_words=NUM_WORDS, dim=4)
    assert report.dim == 4 and report.source.endswith("::glove.t.4d.txt")
    assert glove.load(f"{archive}::glove.t.4d.txt", WORD_INDEX, num_words=NUM_WORDS)[1].dim == 4


def test_zip_without_a_matching_member_lists_the_members(tmp_path):
    archive = _write_zip(tmp_path / "g.zip", {"glove.t.3d.txt": _text()})
    with pytest.raises(ValueError, match=r"g\.zip.*'300d'.*glove\.t\.3d\.txt"):
        glove.load(archive, WORD_INDEX, num_words=NUM_WORDS, dim=300)
    with pytest.raises(ValueError, match=r"no member 'other\.txt'"):
        glove.load(f"{archive}::other.txt", WORD_INDEX, num_words=NUM_WORDS)


def test_wrong_number_of_values_names_the_file_and_1_based_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("the 0.1 0.2 0.3\nmovie 1 2 3\ngreat 1 2\n")
    with pytest.raises(ValueError, match=r"bad\.txt:3: expected .*3 values.*received 2"):
        glove.load(path, WORD_INDEX, num_words=NUM_WORDS)


def test_non_float_value_names_the_file_line_and_value(tmp_path):
    path = _write_gz(tmp_path / "bad.txt.gz", "the 0.1 0.2 0.3\nmovie 1 two 3\n")
    with pytest.raises(ValueError, match=r"bad\.txt\.gz:2: expected float.*'two'"):
        glove.load(path, WORD_INDEX, num_words=NUM_WORDS)


def test_dim_mismatch_is_reported_at_line_1(txt_path):
    with pytest.raises(ValueError, match=r"glove\.test\.3d\.txt:1: expected .*50 values.*received 3"):
        glove.load(txt_path, WORD_INDEX, num_words=NUM_WORDS, dim=50)


def test_malformed_line_inside_a_zip_names_archive_and_member(tmp_path):
    archive = _write_zip(tmp_path / "g.zip", {"v.txt": "the 1 2 3\nmovie 1 2\n"})
    with pytest.raises(ValueError, match=r"g\.zip::v\.txt:2:"):
        glove.load(archive, WORD_INDEX, num_words=NUM_WORDS)


def test_blank_lines_and_trailing_spaces_are_tolerated(tmp_path):
    path = tmp_path / "loose.txt"
    path.write_text("the 0.1 0.2 0.3 \n\nmovie 1 -1 0.5\r\n")
    matrix, report = glove.load(path, WORD_INDEX, num_words=NUM_WORDS)
    np.testing.assert_array_equal(matrix[5], np.float32([1, -1, 0.5]))
    assert report.lines == 2


def test_first_vector_of_a_repeated_word_wins(tmp_path):
    path = tmp_path / "dup.txt"
    path.write_text("the 1 1 1\nthe 2 2 2\n")
    matrix, _ = glove.load(path, WORD_INDEX, num_words=NUM_WORDS)
    np.testing.assert_array_equal(matrix[4], 1.0)


def test_empty_file_and_bad_arguments_are_errors(tmp_path, txt_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        glove.load(empty, WORD_INDEX, num_words=NUM_WORDS)
    with pytest.raises(ValueError, match="`num_words`.*received 3"):
        glove.load(txt_path, WORD_INDEX, num_words=3)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        glove.load(tmp_path / "nowhere.txt", WORD_INDEX)
