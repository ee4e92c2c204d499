"""Data files are read, never run: a malicious npz is refused before anything executes,
and every damaged or mistyped IMDB / word-index / GloVe file gets one ValueError naming
the file and the position, instead of a traceback or a silently wrong model."""

import gzip
import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

from lowlevel.apps.data import glove, imdb, safe_npz

REAL_IMDB = "/work/shared/data/imdb.npz"


def ragged(reviews):
    x = np.empty(len(reviews), dtype=object)
    x[:] = [list(r) for r in reviews]
    return x


def write_npz(path, x_train=None, y_train=None, x_test=None, y_test=None):
    arrays = dict(x_train=ragged([[1, 2, 3], [4, 5]]), y_train=np.array([0, 1]),
                  x_test=ragged([[6], [7, 8]]), y_test=np.array([1, 0]))
    given = dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    arrays.update({k: v for k, v in given.items() if v is not None})
    np.savez(path, **arrays)
    return str(path)


class _RunsAShellCommand:
    """What an attacker pickles: unpickling calls os.system(command)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def malicious_npz(path, marker):
    """An npz whose x_train.npy is an object-array header followed by a pickle that
    would create ``marker``."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    payload = (header.getvalue()  # magic, length and header dict
               + pickle.dumps(_RunsAShellCommand(f"touch {marker}")))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", payload)
        for key, value in (("y_train", np.array([1])), ("x_test", ragged([[1]])),
                           ("y_test", np.array([1]))):
            buffer = io.BytesIO()
            np.save(buffer, value, allow_pickle=True)
            archive.writestr(f"{key}.npy", buffer.getvalue())
    return str(path)


def test_a_malicious_npz_is_refused_and_its_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = malicious_npz(tmp_path / "evil.npz", marker)
    with pytest.raises(ValueError, match=r"evil\.npz: member 'x_train.npy' refused: .*system"):
        imdb.load(num_words=100, maxlen=5, path=path)
    assert not marker.exists()


def test_the_malicious_npz_of_these_tests_does_run_code_under_allow_pickle(tmp_path):
    # The control: the file really is hostile, so the test above can fail.
    marker = tmp_path / "pwned"
    path = malicious_npz(tmp_path / "evil.npz", marker)
    with np.load(path, allow_pickle=True) as f:
        f["x_train"]
    assert marker.exists()


def test_the_safe_reader_returns_what_numpy_saved(tmp_path):
    path = write_npz(tmp_path / "ok.npz")
    arrays = safe_npz.load_npz(path)
    with np.load(path, allow_pickle=True) as trusted:  # our own file: trusted here
        for key in trusted.files:
            assert [list(map(int, np.atleast_1d(a))) if isinstance(a, list) else a
                    for a in arrays[key]] == [a for a in trusted[key]]


@pytest.mark.skipif(not os.path.isfile(REAL_IMDB), reason=f"{REAL_IMDB} not present")
def test_the_safe_reader_reads_the_real_imdb_npz_as_keras_publishes_it():
    (x_train, y_train), _ = imdb.load(num_words=10000, maxlen=None, path=REAL_IMDB)
    first = x_train[0][x_train[0] != 0]
    assert list(first[:6]) == [1, 14, 22, 16, 43, 530] and len(first) == 218
    assert list(y_train[:10]) == [1, 0, 0, 1, 0, 0, 1, 0, 1, 0]


@pytest.mark.parametrize("damage, message", [
    ("not a zip", "expected an .npz"),
    ("truncated", "expected an .npz"),  # the zip directory sits at the end
    ("bit flipped", "member 'x_train.npy' is damaged"),  # the zip CRC catches it
])
def test_a_non_zip_truncated_or_damaged_npz_names_the_file(tmp_path, damage, message):
    path = tmp_path / "bad.npz"
    good = open(write_npz(tmp_path / "good.npz"), "rb").read()
    content = {"not a zip": b"not a zip at all", "truncated": good[:len(good) // 2],
               "bit flipped": good.replace(b"\x80\x04", b"\x80\x05", 1)}[damage]
    assert content != good
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"bad.npz.*{message}"):
        imdb.read_npz(path)


@pytest.mark.parametrize("labels, bad", [([0, 2], "2"), ([-1, 1], "-1"),
                                         ([0.0, np.nan], "dtype float64")])
def test_labels_other_than_0_or_1_are_refused_naming_the_value(tmp_path, labels, bad):
    path = write_npz(tmp_path / "labels.npz", y_train=np.array(labels))
    with pytest.raises(ValueError, match=f"labels.npz: `y_train`.*{bad}"):
        imdb.read_npz(path)


@pytest.mark.parametrize("reviews, bad", [
    (ragged([[1, 2.7], [3]]), "review 0 holds 2.7"),            # float id: no truncation
    (ragged([[1, "good"], [3]]), "review 0 holds 'good'"),      # strings
    (ragged([[1, [2, 3]], [3]]), r"review 0 holds \[2, 3\]"),   # nested lists
    (ragged([[1, -4], [3]]), "review 0 holds -4"),              # negative rank
    (np.array(["a review", "another"]), "1-d object array"),    # raw text
    (np.array([[1.0, 2.0], [3.0, 4.0]]), "1-d object array"),   # float matrix
])
def test_reviews_that_are_not_int_lists_of_ranks_are_refused(tmp_path, reviews, bad):
    path = write_npz(tmp_path / "reviews.npz", x_train=reviews)
    with pytest.raises(ValueError, match=f"reviews.npz: `x_train`.*{bad}"):
        imdb.read_npz(path)


# --------------------------------------------------------------------- word index

@pytest.mark.parametrize("content, message", [
    (b'{"good": 1, ', r"words.json:1:\d+: expected a json object"),
    (b'["good", "bad"]', "expected a json object .* received list"),
    (b'{"good": "1"}', "entry 'good': '1'; expected .* integer rank >= 1"),
    (b'{"the": 1, "guys": -2}', "entry 'guys': -2"),
    (b'{"the": 1, "x": 1.5}', "entry 'x': 1.5"),
    (b'{}', "the word index is empty"),
    (b'{"caf\xe9": 1}', "expected UTF-8 json; byte 5"),
])
def test_a_bad_word_index_names_the_file_and_the_entry(tmp_path, content, message):
    path = tmp_path / "words.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        imdb.get_word_index(str(path))


# -------------------------------------------------------------------------- GloVe

def test_a_truncated_glove_gz_names_the_file(tmp_path):
    data = gzip.compress(("\n".join(f"w{i} 0.1 0.2" for i in range(2000)) + "\n").encode())
    path = tmp_path / "g.txt.gz"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"g\.txt\.gz:\d+: .*damaged or truncated"):
        glove.load(str(path), {"w1": 1}, num_words=10)


def test_a_glove_gz_that_is_not_gzip_names_the_file(tmp_path):
    path = tmp_path / "g.txt.gz"
    path.write_text("the 0.1 0.2\n")
    with pytest.raises(ValueError, match=r"g\.txt\.gz:1: .*damaged or truncated"):
        glove.load(str(path), {"the": 1}, num_words=10)


def test_a_glove_zip_that_is_not_a_zip_names_the_file(tmp_path):
    path = tmp_path / "g.zip"
    path.write_text("the 0.1 0.2\n")
    with pytest.raises(ValueError, match=r"g\.zip:1: .*damaged or truncated"):
        glove.load(str(path), {"the": 1}, num_words=10)


def test_a_non_utf8_glove_line_names_the_file_and_line(tmp_path):
    path = tmp_path / "g.txt"
    path.write_bytes(b"the 0.1 0.2\ncaf\xe9 0.3 0.4\n")
    with pytest.raises(ValueError, match=r"g\.txt:2: expected UTF-8"):
        glove.load(str(path), {"the": 1}, num_words=10)


def test_glove_refuses_a_word_index_with_non_positive_ranks(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("the 0.1 0.2\nguys 0.3 0.4\n")
    with pytest.raises(ValueError, match="entry 'guys': 0"):
        glove.load(str(path), {"the": 1, "guys": 0}, num_words=10)


def test_a_missing_word_index_names_the_word_index_flag_not_the_imdb_one(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"imdb_word_index\.json once.*--word-index"):
        imdb.get_word_index(str(tmp_path / "absent.json"))
