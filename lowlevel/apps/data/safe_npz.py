"""Reading an ``.npz`` archive without ever running code from it.

NumPy stores an object array (IMDB's ragged reviews: lists of ints) as a pickle stream, and
unpickling lets the stream call any importable function: a crafted file can run a shell
command. So numeric members are read with pickling off, and an object member's pickle is
never unpickled: a reader here only parses it, taking each opcode and its argument
format from ``pickletools`` (the three int opcodes are read inline), it is decoded opcode
by opcode onto a stack of plain Python values kept here, and the array is built here with
``np.empty``.

Accepted, as NumPy 1 and 2 write an object array (pickle protocols 2-5): PROTO, FRAME, STOP,
MARK; ints, floats, strings (also Python 2's), bytes, None, True/False; EMPTY_LIST/TUPLE,
APPEND(S), TUPLE(1-3); the memo (BINPUT, LONG_BINPUT, MEMOIZE, BINGET, LONG_BINGET); GLOBAL,
STACK_GLOBAL, REDUCE, BUILD -- with these globals, as names that are never imported::

    numpy[._]core.multiarray._reconstruct, numpy.ndarray   the array: shape, elements
    numpy.dtype                                            its dtype, which must be 'O'
    _codecs.encode                                         bytes under protocol 2

Each REDUCE and BUILD must carry what NumPy writes for an object array; elements may be ints,
floats, strings, bytes, None, bools or lists/tuples of these (at most 8 deep). A memo read
of a list or tuple is refused, so the values form a tree no larger than the stream, and the
shape must multiply to the number of elements before anything is allocated. Anything else
-- another opcode or global, an unknown opcode byte, another structure, a truncated stream
-- is a ``ValueError`` naming the file, the member and what was found; nothing in the file
is ever called. As pickle does, the stream ends at STOP: bytes after it are not read.
A member is read whole, so one that expands past :data:`MAX_MEMBER_BYTES` is refused
without being read further.

One concept, the decoder, kept in one module although over 300 lines: every accepted
opcode and every refusal is spelled out here, where a reviewer checks them together.
"""

from __future__ import annotations

import io
import math
import pickletools
import reprlib
import zipfile

import numpy as np

_RECONSTRUCT = {"numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct"}
_GLOBALS = _RECONSTRUCT | {"numpy.ndarray", "numpy.dtype", "_codecs.encode"}
_SCALARS = frozenset({int, float, str, bytes, bool, type(None)})
_MAX_DEPTH = 8
# Opcodes whose argument, as pickletools' reader parses it, is the value pushed.
_VALUES = frozenset({"BININT", "BININT1", "BININT2", "LONG1", "LONG4", "BINFLOAT",
                     "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "SHORT_BINSTRING",
                     "BINSTRING", "SHORT_BINBYTES", "BINBYTES", "BINBYTES8"})


class _Refused(Exception):
    """The stream holds something other than a NumPy object array of plain values."""


class _TooLarge(Exception):
    """A member larger than the limit: refused before it is read whole."""


class _Global(str):
    """A global's ``module.name`` from GLOBAL / STACK_GLOBAL: compared, never imported."""

    def __repr__(self):
        return str(self)


class _Pending:
    """What a REDUCE would have built (the array or its dtype), filled in by BUILD."""

    def __init__(self, kind):
        self.kind, self.value = kind, None

    def __repr__(self):
        return f"<NumPy {self.kind}>"


class _Decoder:
    """The pickle machine's stack, memo and marks, holding plain values only."""

    def __init__(self):
        self.stack, self.memo, self.marks = [], {}, []

    def pop(self, n=None):
        """The top ``n`` values (``None``: those above the last MARK, closing it)."""
        if n is None and not self.marks:
            raise ValueError("the pickle closes a MARK it never opened")
        start = self.marks.pop() if n is None else len(self.stack) - n
        if start < (self.marks[-1] if self.marks else 0):
            raise ValueError(f"the pickle takes {n} values from a shorter stack")
        values = self.stack[start:]
        del self.stack[start:]
        return values

    def push(self, value):
        self.stack.append(value)

    def put(self, index):
        self.memo[index] = self.pop(1)[0]
        self.push(self.memo[index])

    def get(self, index):
        if index not in self.memo:
            raise ValueError(f"the pickle reads memo slot {index}, never stored")
        value = self.memo[index]
        if type(value) not in _SCALARS and type(value) is not _Global:
            raise _Refused(f"refers back to {reprlib.repr(value)} (shared or "
                           "self-referencing lists, tuples or arrays are not read)")
        self.push(value)

    def extend(self, values):
        target = self.pop(1)[0]
        if type(target) is not list:
            raise _Refused(f"appends to {reprlib.repr(target)}, not to a list")
        target.extend(values)
        self.push(target)

    def push_global(self, module, name):
        full = ".".join(s if type(s) is str else reprlib.repr(s) for s in (module, name))
        if type(module) is not str or type(name) is not str or full not in _GLOBALS:
            raise _Refused(f"asks for {full[:80]}{'...' if len(full) > 80 else ''}")
        self.push(_Global(full))


def _check_protocol(protocol):
    if not 2 <= protocol <= 5:
        raise _Refused(f"uses pickle protocol {protocol}; expected 2 to 5")


_HANDLERS = {
    "PROTO": lambda d, arg: _check_protocol(arg),
    "FRAME": lambda d, arg: None,
    "STOP": lambda d, arg: None,
    "MARK": lambda d, arg: d.marks.append(len(d.stack)),
    "NONE": lambda d, arg: d.push(None),
    "NEWTRUE": lambda d, arg: d.push(True),
    "NEWFALSE": lambda d, arg: d.push(False),
    "EMPTY_LIST": lambda d, arg: d.push([]),
    "EMPTY_TUPLE": lambda d, arg: d.push(()),
    "APPEND": lambda d, arg: d.extend(d.pop(1)),
    "APPENDS": lambda d, arg: d.extend(d.pop()),
    "TUPLE": lambda d, arg: d.push(tuple(d.pop())),
    "TUPLE1": lambda d, arg: d.push(tuple(d.pop(1))),
    "TUPLE2": lambda d, arg: d.push(tuple(d.pop(2))),
    "TUPLE3": lambda d, arg: d.push(tuple(d.pop(3))),
    "BINPUT": lambda d, arg: d.put(arg),
    "LONG_BINPUT": lambda d, arg: d.put(arg),
    "MEMOIZE": lambda d, arg: d.put(len(d.memo)),
    "BINGET": lambda d, arg: d.get(arg),
    "LONG_BINGET": lambda d, arg: d.get(arg),
    "GLOBAL": lambda d, arg: d.push_global(*arg.split(" ", 1)),  # read: "module name"
    "STACK_GLOBAL": lambda d, arg: d.push_global(*d.pop(2)),
    "REDUCE": lambda d, arg: d.push(_reduce(*d.pop(2))),
    "BUILD": lambda d, arg: d.push(_build(*d.pop(2))),
}


def _reduce(function, args):
    """What NumPy's own calls return, as values or placeholders; any other call refused."""
    name = function if type(function) is _Global else None
    if name in _RECONSTRUCT and type(args) is tuple and len(args) == 3 \
            and type(args[0]) is _Global and args[0] == "numpy.ndarray" \
            and args[1:] in (((0,), b"b"), ((0,), "b")):
        return _Pending("array")
    if name == "numpy.dtype" and args in (("O8", False, True), ("O4", False, True)):
        return _Pending("dtype")
    if name == "_codecs.encode" and type(args) is tuple and len(args) == 2 \
            and type(args[0]) is str and args[1] == "latin1":
        return args[0].encode("latin-1")
    raise _Refused(f"calls {name or reprlib.repr(function)}{reprlib.repr(args)}, which is "
                   "not how NumPy writes an object array")


def _build(target, state):
    """BUILD on a placeholder: the dtype's state checked, the array's checked and built."""
    if type(target) is not _Pending or target.value is not None:
        raise _Refused(f"sets the state of {reprlib.repr(target)}")
    if target.kind == "array":
        target.value = _array(state)
    elif type(state) is tuple and state[:2] == (3, "|"):
        target.value = np.dtype(object)
    else:
        raise _Refused(f"gives dtype 'O' the state {reprlib.repr(state)}")
    return target


def _array(state):
    """NumPy's ndarray state ``(1, shape, dtype, fortran order, elements)`` as an array."""
    if type(state) is not tuple or len(state) != 5 or state[0] != 1:
        raise _Refused(f"gives the array the state {reprlib.repr(state)}; expected (1, "
                       "shape, dtype, fortran order, elements)")
    _, shape, dtype, fortran, elements = state
    if type(shape) is not tuple or not all(type(n) is int and n >= 0 for n in shape):
        raise _Refused(f"gives the array the shape {reprlib.repr(shape)}")
    if type(dtype) is not _Pending or dtype.kind != "dtype" or dtype.value is None:
        raise _Refused(f"gives the array the dtype {reprlib.repr(dtype)}; expected 'O'")
    if type(fortran) is not bool or type(elements) is not list:
        raise _Refused(f"gives the array the order {reprlib.repr(fortran)} and the "
                       f"elements {reprlib.repr(elements)}; expected a bool and a list")
    if math.prod(shape) != len(elements):  # before anything is allocated
        raise _Refused(f"gives the shape {shape} to {len(elements)} elements")
    array = np.empty(len(elements), dtype=object)
    for i, element in enumerate(elements):
        _check_element(element)
        array[i] = element
    array = array.reshape(shape)  # the elements are in C order, whatever `fortran` says
    return array.copy(order="F") if fortran else array


def _check_element(value, depth=0):
    """``value`` must be plain data: a scalar, or lists/tuples of these nested <= 8 deep."""
    if type(value) in _SCALARS:
        return
    if type(value) not in (list, tuple):
        raise _Refused(f"puts {reprlib.repr(value)} in the array; elements must be ints, "
                       "floats, strings, bytes, None or lists/tuples of these")
    if depth == _MAX_DEPTH:
        raise _Refused(f"nests lists or tuples more than {_MAX_DEPTH} deep in an element")
    for item in value:
        if type(item) not in _SCALARS:
            _check_element(item, depth + 1)


def _read_ints(data: bytes, pos: int, push) -> int:
    """Pushes the run of BININT1 / BININT2 / BININT opcodes at ``data[pos:]``; returns
    the position of the first other opcode, or of an int in the stream's last 4 bytes.

    These three are nearly every opcode of an IMDB stream (one per word of every review),
    so they are read here, inline, as int arithmetic on the bytes: an opcode lookup and
    a pickletools reader call for each is where nearly all the decoding time went. An int
    in the last 4 bytes is left to the general path in ``_decode``, so one whose argument
    is cut short is reported by its pickletools reader, as any truncation is.
    """
    end = len(data) - 4  # from here on the longest argument (BININT's 4 bytes) may not fit
    while pos < end:
        code = data[pos]
        if code == 0x4B:  # K, BININT1: 1 unsigned byte
            push(data[pos + 1])
            pos += 2
        elif code == 0x4D:  # M, BININT2: 2 bytes, little-endian unsigned
            push(data[pos + 1] | data[pos + 2] << 8)
            pos += 3
        elif code == 0x4A:  # J, BININT: 4 bytes, little-endian signed
            push(int.from_bytes(data[pos + 1:pos + 5], "little", signed=True))
            pos += 5
        else:
            break
    return pos


def _decode(data: bytes):
    """The object array a NumPy pickle stream describes, decoded without unpickling."""
    decoder = _Decoder()
    stream = io.BytesIO(data)  # for pickletools' argument readers
    pos = 0
    while True:
        pos = _read_ints(data, pos, decoder.stack.append)
        if pos >= len(data):
            raise ValueError("pickle exhausted before seeing STOP")
        opcode = pickletools.code2op.get(chr(data[pos]))
        if opcode is None:
            raise _Refused(f"uses the unknown opcode byte {data[pos]:#04x} (byte {pos})")
        arg = None
        if opcode.arg is not None:  # parses only; raises ValueError if truncated
            stream.seek(pos + 1)
            arg = opcode.arg.reader(stream)
        if opcode.name in _VALUES:
            decoder.push(arg)
        elif opcode.name in _HANDLERS:
            _HANDLERS[opcode.name](decoder, arg)
        else:
            raise _Refused(f"uses the opcode {opcode.name} (byte {pos})")
        if opcode.name == "STOP":  # as pickle: whatever follows STOP is not read
            break
        pos = stream.tell() if opcode.arg is not None else pos + 1
    result = decoder.stack[0] if len(decoder.stack) == 1 else decoder.stack
    if type(result) is not _Pending or result.kind != "array" or result.value is None:
        raise _Refused(f"describes {reprlib.repr(result)}, not a NumPy array")
    return result.value


def _read_member(raw: bytes):
    """One ``.npy`` member: numeric with pickling off, object through ``_decode``."""
    stream = io.BytesIO(raw)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version in ((2, 0), (3, 0)):  # 3.0 differs from 2.0 only by a utf-8 header
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if not dtype.hasobject:
        stream.seek(0)
        return np.lib.format.read_array(stream, allow_pickle=False)
    array = _decode(raw[stream.tell():])
    if array.shape != shape:
        raise ValueError(f"its header gives the shape {shape}, its pickle {array.shape}")
    return array


# A member is read whole, so its size is bounded before it is: 1 GiB, about 70 times
# the largest member of Keras's IMDB archive (x_train.npy, 14 MB), against a
# decompression bomb (a few kB of zip that expand to more memory than the machine has).
MAX_MEMBER_BYTES = 1 << 30


def _member_bytes(archive: zipfile.ZipFile, member: str, limit: int) -> bytes:
    """The member's bytes, never more than ``limit`` of them read (its declared size may lie)."""
    with archive.open(member) as stream:
        raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise _TooLarge(f"expands to more than {limit:,} bytes")
    return raw


def load_npz(path: str, max_member_bytes: int = MAX_MEMBER_BYTES) -> dict:
    """``{member name without .npy: array}`` of the archive at ``path``; object members
    are decoded from their pickle opcodes, never unpickled.

    Raises:
        ValueError: not a zip archive, a damaged or truncated member, a member that
            expands past ``max_member_bytes``, or a pickle holding anything but a NumPy
            object array of plain values (``... refused: its pickle asks for
            os.system``), naming ``path`` and the member.
    """
    arrays = {}
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{path}: expected an .npz (zip) archive; could not open it "
                         f"({error}).") from None
    with archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            try:
                array = _read_member(_member_bytes(archive, member, max_member_bytes))
            except _TooLarge as error:
                raise ValueError(
                    f"{path}: member {member!r} {error} (the limit); refused unread: the "
                    "file may be a decompression bomb.") from None
            except _Refused as error:
                raise ValueError(
                    f"{path}: member {member!r} refused: its pickle {error}, and only "
                    "NumPy arrays of lists of ints (or other plain values) are read; "
                    "nothing in it was run (the file may be malicious).") from None
            except Exception as error:  # zlib, truncation, header: damaged data
                raise ValueError(
                    f"{path}: member {member!r} is damaged or not a NumPy array "
                    f"({type(error).__name__}: {error}).") from None
            arrays[member[:-len(".npy")]] = array
    return arrays
