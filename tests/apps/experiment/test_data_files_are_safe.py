"""Data files are read, never run: a malicious npz is refused before anything executes,
and every damaged or mistyped IMDB / word-index / GloVe file gets one ValueError naming
the file and the position, instead of a traceback or a silently wrong model."""

import builtins
import gzip
import io
import json
import os
import pickle
import pickletools
import re
import sys
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


# ------------------------------------------------- the npz decoder (never unpickles)

def object_array(shape, values, order="C"):
    """An object array holding ``values`` (in C order) as they are, lists included."""
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return array.reshape(shape).copy(order=order)


OBJECT_ARRAYS = {  # empty lists, ints from BININT1 up to LONG1, other plain values
    "int_lists": object_array((4,), [[1, 2, 3], [], [255, 256, 65535, 65536, 2**31 - 1,
                                     2**31, 2**40, 2**80, -1, -2**31, -2**70], []]),
    "mixed_2d": object_array((2, 3), [1, 2.5, "café", None, (1, "t", b"b"), [True, [2]]]),
    "fortran": object_array((2, 3), [[0], [1], [2], [10], [11], [12]], order="F"),
    "zero_d": object_array((), [[1, 2]]),
    "empty": object_array((0,), []),
}


def assert_same(got, want):
    assert got.dtype == object and got.shape == want.shape
    assert got.flags.f_contiguous == want.flags.f_contiguous
    assert [repr(e) for e in got.flat] == [repr(e) for e in want.flat]  # 1 != 1.0 != True


def npz_of_stream(path, stream, shape=(1,)):
    """An npz whose ``x_train.npy`` is an object-array header followed by ``stream``."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|O", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", header.getvalue() + stream)
    return str(path)


def as_numpy1(stream):
    """``stream`` naming ``numpy.core`` as NumPy 1 does (frames and memo redone)."""
    stream = stream.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    stream = stream.replace(b"\x8c\x16numpy._core.multiarray", b"\x8c\x15numpy.core.multiarray")
    return pickletools.optimize(stream)


def refusal(path, **options):
    """The one-line message ``load_npz(path, **options)`` refuses ``path`` with, no
    chained traceback."""
    with pytest.raises(ValueError) as caught:
        safe_npz.load_npz(path, **options)
    assert "\n" not in str(caught.value) and caught.value.__suppress_context__
    return str(caught.value)


class _Calls:
    """Pickles as the call ``function(*args)`` (what an attacker, or a bug, writes)."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize("numpy_names", ["as installed", "NumPy 1"])
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("case", sorted(OBJECT_ARRAYS))
def test_object_arrays_read_back_equal_for_every_pickle_protocol(
        tmp_path, case, protocol, numpy_names):
    want = OBJECT_ARRAYS[case]
    stream = pickle.dumps(want, protocol=protocol)
    if numpy_names == "NumPy 1":
        stream = as_numpy1(stream)
    path = npz_of_stream(tmp_path / "x.npz", stream, shape=want.shape)
    assert_same(safe_npz.load_npz(path)["x_train"], want)


class _Python2Pickler(pickle._Pickler):
    """Writes bytes and ASCII text as Python 2 wrote its ``str``: SHORT_BINSTRING."""

    def save_python2_str(self, obj):
        if type(obj) is str and not (obj.isascii() and len(obj) < 256):
            return self.save_str(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([len(obj)])
                   + (obj.encode() if type(obj) is str else obj))
        self.memoize(obj)

    dispatch = {**pickle._Pickler.dispatch, bytes: save_python2_str, str: save_python2_str}


def test_an_object_array_pickled_by_python_2_reads_back_equal(tmp_path):
    want = object_array((3,), [[1, 2**40], [], "text"])
    stream = io.BytesIO()
    _Python2Pickler(stream, protocol=2).dump(want)
    assert b"U\x01b" in stream.getvalue() and b"_codecs" not in stream.getvalue()
    path = npz_of_stream(tmp_path / "x.npz", as_numpy1(stream.getvalue()), shape=(3,))
    assert_same(safe_npz.load_npz(path)["x_train"], want)


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_files_written_by_numpy_read_back_equal(tmp_path, save):
    save(tmp_path / "x.npz", labels=np.array([0, 1]), **OBJECT_ARRAYS)
    arrays = safe_npz.load_npz(str(tmp_path / "x.npz"))
    assert sorted(arrays) == sorted([*OBJECT_ARRAYS, "labels"])
    for key, want in OBJECT_ARRAYS.items():
        assert_same(arrays[key], want)
    assert arrays["labels"].tolist() == [0, 1] and arrays["labels"].dtype.kind == "i"


@pytest.mark.parametrize("gadget, found", [
    (lambda marker: _Calls(os.system, f"touch {marker}"), r"(posix|nt|os)\.system"),
    (lambda marker: _Calls(builtins.eval, f"open({str(marker)!r}, 'w').close()"),
     r"builtins\.eval"),
])
def test_a_hostile_global_inside_an_object_array_is_refused_and_never_runs(
        tmp_path, gadget, found):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    np.savez(path, x_train=object_array((2,), [[1, 2], gadget(marker)]))
    message = refusal(str(path))
    assert re.search(rf"evil\.npz: member 'x_train.npy' refused: its pickle asks for {found}",
                     message), message
    assert not marker.exists()
    with np.load(path, allow_pickle=True) as trusted:  # the control: it is hostile
        trusted["x_train"]
    assert marker.exists()


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]


@pytest.mark.parametrize("element, found", [
    # allowed names, called otherwise than NumPy does for an object array
    (_Calls(np.dtype, "i8", False, True), r"calls numpy\.dtype\('i8', False, True\)"),
    (_Calls(np.ndarray, (3,)), r"calls numpy\.ndarray\(\(3,\),\)"),
    (_Calls(_RECONSTRUCT, np.ndarray, (10**12,), b"b"),
     r"calls numpy\._?core\.multiarray\._reconstruct\(numpy\.ndarray, \(10+,\), b'b'\)"),
    # values that are not plain data, or opcodes outside the accepted subset
    (np.arange(3), r"calls numpy\.dtype\('i8'"),  # a nested numeric array
    (object_array((1,), [[1]]),  # a nested object array: its dtype 'O' is a memo read
     r"(refers back to <NumPy dtype>|puts <NumPy array> in the array)"),
    (np.dtype, r"puts numpy\.dtype in the array"),
    ([[[[[[[[[[1]]]]]]]]]], r"nests lists or tuples more than 8 deep"),
    ({"a": 1}, r"uses the opcode EMPTY_DICT"),
    ({1, 2}, r"(uses the opcode EMPTY_SET|asks for builtins\.set)"),  # protocol 4 | 3
])
def test_an_element_outside_the_accepted_subset_is_refused_in_one_line(
        tmp_path, element, found):
    np.savez(tmp_path / "odd.npz", x_train=object_array((2,), [[1], element]))
    message = refusal(str(tmp_path / "odd.npz"))
    assert re.search(rf"odd\.npz: member 'x_train.npy' refused: its pickle {found}",
                     message), message


def test_shared_lists_are_refused_so_values_stay_a_tree_no_larger_than_the_file(tmp_path):
    shared = [1, 2]
    np.savez(tmp_path / "odd.npz", x_train=object_array((2,), [shared, shared]))
    assert "refused: its pickle refers back to [1, 2]" in refusal(str(tmp_path / "odd.npz"))


def test_a_shape_larger_than_the_elements_decoded_is_refused_before_allocating(tmp_path):
    stream = pickle.dumps(object_array((2,), [[1], [2]]), protocol=3)
    assert stream.count(b"(K\x01K\x02\x85") == 1  # the state: (1, shape (2,), ...
    huge = stream.replace(b"(K\x01K\x02\x85",
                          b"(K\x01\x8a\x08" + (2**62).to_bytes(8, "little") + b"\x85")
    message = refusal(npz_of_stream(tmp_path / "big.npz", huge, shape=(2,)))
    assert f"its pickle gives the shape ({2**62},) to 2 elements" in message


@pytest.mark.parametrize("damage, found", [
    ("truncated", r"is damaged or not a NumPy array \(ValueError: .*"),
    ("not an array", r"refused: its pickle describes \[1, 2\], not a NumPy array"),
    ("header disagrees", r"is damaged .*header gives the shape \(3,\), its pickle \(2,\)"),
])
def test_a_truncated_or_mismatched_object_member_is_refused_in_one_line(
        tmp_path, damage, found):
    stream = pickle.dumps(object_array((2,), [[1, 2], [3]]), protocol=3)
    stream, shape = {"truncated": (stream[:len(stream) // 2], (2,)),
                     "not an array": (pickle.dumps([1, 2], protocol=3), (2,)),
                     "header disagrees": (stream, (3,))}[damage]
    message = refusal(npz_of_stream(tmp_path / "bad.npz", stream, shape=shape))
    assert re.search(rf"bad\.npz: member 'x_train.npy' {found}", message), message


@pytest.mark.parametrize("opcode, argument, kept", [
    (b"K", (7).to_bytes(1, "little"), 0),       # BININT1, no byte of its 1
    (b"M", (300).to_bytes(2, "little"), 1),     # BININT2, 1 byte of its 2
    (b"J", (70000).to_bytes(4, "little"), 2),   # BININT, 2 bytes of its 4
])
def test_an_int_opcode_cut_short_mid_argument_is_refused_as_damaged(
        tmp_path, opcode, argument, kept):
    # These three are read inline, apart from the other opcodes: a short argument must
    # still be caught, not read past the end or as another value.
    value = int.from_bytes(argument, "little")
    stream = pickle.dumps(object_array((1,), [[1, value]]), protocol=4)
    cut = stream[:stream.index(opcode + argument) + 1 + kept]
    message = refusal(npz_of_stream(tmp_path / "cut.npz", cut))
    assert re.search(r"cut\.npz: member 'x_train.npy' is damaged or not a NumPy array "
                     r"\(ValueError: not enough data in stream to read u?int[124]\)",
                     message), message


@pytest.mark.parametrize("where", ["after PROTO", "among a list's ints"])
def test_an_unknown_opcode_byte_is_refused_naming_the_byte_and_its_position(
        tmp_path, where):
    stream = pickle.dumps(object_array((1,), [[1, 2, 3]]), protocol=3)
    assert "\xff" not in pickletools.code2op and stream.count(b"K\x01K\x02") == 1
    position = 2 if where == "after PROTO" else stream.index(b"K\x01K\x02") + 2
    odd = stream[:position] + b"\xff" + stream[position:]
    message = refusal(npz_of_stream(tmp_path / "odd.npz", odd))
    assert (f"odd.npz: member 'x_train.npy' refused: its pickle uses the unknown opcode "
            f"byte 0xff (byte {position})") in message, message


def test_a_member_expanding_past_the_limit_is_refused_without_being_read_whole(tmp_path):
    """A decompression bomb: a small zip whose member expands far past the limit is
    refused naming the member and the limit, having read at most limit + 1 bytes of it."""
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x_train.npy", b"\0" * 10_000_000)  # 10 MB of zeros: ~10 kB zipped
    assert path.stat().st_size < 100_000
    message = refusal(str(path), max_member_bytes=1_000_000)
    assert re.search(r"bomb\.npz: member 'x_train.npy' expands to more than 1,000,000 bytes",
                     message), message
    assert safe_npz.MAX_MEMBER_BYTES >= 1 << 30  # the default leaves real archives alone
    # a member of exactly the limit is read
    small = write_npz(tmp_path / "ok.npz")
    with zipfile.ZipFile(small) as archive:
        largest = max(info.file_size for info in archive.infolist())
    assert safe_npz.load_npz(small, max_member_bytes=largest)["y_test"].tolist() == [1, 0]
    assert "expands to more than" in refusal(small, max_member_bytes=largest - 1)


def test_the_reader_never_runs_the_pickle_machine_nor_np_load(tmp_path, monkeypatch):
    """No unpickler (C or Python, subclassed or not), pickle.load(s) or np.load runs while
    a valid archive is read: its pickle is only parsed (opcode table and argument readers
    from pickletools, a parser that never builds objects)."""
    path = write_npz(tmp_path / "ok.npz")
    unpicklers, loaders = (pickle.Unpickler, pickle._Unpickler), (pickle.load, pickle.loads)
    ran = []

    def watch(frame, event, arg):
        code = frame.f_code
        if event == "c_call" and (any(arg is f for f in loaders)
                                  or isinstance(getattr(arg, "__self__", None), unpicklers)):
            ran.append(arg)
        elif event == "call" and (code.co_name == "find_class" or (
                code.co_filename == pickle.__file__ and code.co_name != "decode_long")):
            ran.append(code.co_qualname)  # decode_long: read_long1's int parser, no machine

    def forbidden(*args, **kwargs):
        raise AssertionError("the pickle machine or np.load was called")
    for name in ("Unpickler", "_Unpickler", "load", "loads", "_load", "_loads"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(np, "load", forbidden)
    sys.setprofile(watch)
    try:
        arrays = safe_npz.load_npz(path)
    finally:
        sys.setprofile(None)
    assert ran == []
    assert [list(r) for r in arrays["x_train"]] == [[1, 2, 3], [4, 5]]
    assert arrays["y_test"].tolist() == [1, 0]


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
