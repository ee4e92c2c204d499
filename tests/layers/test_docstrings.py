"""Every public class and function of ``lowlevel``, ``lowlevel.layers`` and
``lowlevel.cells`` has a docstring; a class whose constructor takes arguments documents
each of them under ``Args:`` and documents nothing else; every ``Example::`` runs."""

import inspect
import re
import textwrap

import pytest

import lowlevel

# Documented elsewhere (their modules' docstrings do not follow this layout yet): a
# failure there is expected, a pass welcome.
NOT_YET: set[str] = set()  # every public object is documented in full
# Members of these modules are held to the full layout, methods included.
FULL = ("lowlevel.cells", "lowlevel.layers.rnn", "lowlevel.layers.cell_layer",
        "lowlevel.layers.simple_rnn", "lowlevel.layers.lstm", "lowlevel.layers.gru",
        "lowlevel.layers.bidirectional", "lowlevel.layers.embedding", "lowlevel._describe",
        "lowlevel.convert")


def public_objects():
    names = {*lowlevel.__all__, *lowlevel.layers.__all__, *lowlevel.cells.__all__}
    found = {}
    for name in sorted(names):
        for module in (lowlevel, lowlevel.layers, lowlevel.cells):
            obj = getattr(module, name, None)
            if obj is not None:
                found[name] = obj
                break
    return {n: o for n, o in found.items() if inspect.isclass(o) or inspect.isfunction(o)}


def documented_arguments(doc: str) -> list[str] | None:
    """The names listed under ``Args:`` (Google style), or ``None`` without the section."""
    lines = inspect.cleandoc(doc).splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "Args:"]
    if not starts:
        return None
    head = lines[starts[0]]
    indent = len(head) - len(head.lstrip())
    names, entry_indent = [], None
    for line in lines[starts[0] + 1:]:
        if not line.strip():
            continue
        line_indent = len(line) - len(line.lstrip())
        if line_indent <= indent:
            break
        if entry_indent is None:
            entry_indent = line_indent
        if line_indent == entry_indent:
            match = re.match(r"\s*\*{0,2}(\w+)\s*(\(.*?\))?:", line)
            assert match, f"an Args entry without 'name:': {line!r}"
            names.append(match.group(1))
    return names


def signature_arguments(fn) -> list[str]:
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.name not in ("self", "cls")]


def check_documented(name, obj):
    doc = inspect.getdoc(obj)
    assert doc and doc.strip(), f"{name} has no docstring"
    target = obj.__init__ if inspect.isclass(obj) else obj
    arguments = signature_arguments(target) if target is not object.__init__ else []
    documented = documented_arguments(doc)
    if arguments:
        assert documented is not None, f"{name} takes {arguments} and has no Args section"
    if documented is not None:
        assert documented == arguments or set(documented) == set(arguments), (
            f"{name}: documented {sorted(set(documented) - set(arguments))} not in the "
            f"signature; in the signature, undocumented: "
            f"{sorted(set(arguments) - set(documented))}")


@pytest.mark.parametrize("name", sorted(public_objects()))
def test_every_public_object_documents_exactly_its_arguments(name):
    obj = public_objects()[name]
    if name in NOT_YET:
        try:
            check_documented(name, obj)
        except AssertionError as error:
            pytest.xfail(str(error))
        return
    check_documented(name, obj)


def own_members():
    """Public methods and properties of the public classes, defined in FULL's modules."""
    members = []
    for name, obj in sorted(public_objects().items()):
        if not inspect.isclass(obj):
            continue
        for attribute in dir(obj):
            if attribute.startswith("_") and attribute != "__call__":
                continue
            member = inspect.getattr_static(obj, attribute)
            fn = member.fget if isinstance(member, property) else member
            fn = fn.__func__ if isinstance(fn, (classmethod, staticmethod)) else fn
            if inspect.isfunction(fn) and fn.__module__.startswith(FULL):
                members.append((f"{name}.{attribute}", fn))
    return members


@pytest.mark.parametrize("name,fn", own_members(), ids=[n for n, _ in own_members()])
def test_every_public_method_has_a_docstring_and_its_args_are_its_arguments(name, fn):
    assert inspect.getdoc(fn), f"{name} has no docstring"
    documented = documented_arguments(inspect.getdoc(fn))
    if documented is not None:
        assert set(documented) == set(signature_arguments(fn)), name


def examples():
    found = []
    for name, obj in sorted(public_objects().items()):
        doc = inspect.getdoc(obj) or ""
        if "Example::" in doc:
            block = doc.split("Example::", 1)[1]
            lines = []
            for line in block.splitlines()[1:]:
                if line.strip() and not line.startswith("    "):
                    break
                lines.append(line)
            found.append((name, textwrap.dedent("\n".join(lines))))
    return found


@pytest.mark.parametrize("name,code", examples(), ids=[n for n, _ in examples()])
def test_every_example_runs(name, code):
    exec(compile(code, f"<{name} example>", "exec"), {})


def test_every_layer_and_cell_has_an_example_and_says_it_is_a_tf_module():
    for name in ("SimpleRNNCell", "LSTMCell", "GRUCell", "RNN", "SimpleRNN", "LSTM", "GRU",
                 "Bidirectional", "Embedding"):
        doc = " ".join(inspect.getdoc(getattr(lowlevel, name)).split())
        assert "Example::" in doc, name
        assert "tf.Module" in doc and "Keras layer" in doc, name


def test_the_args_parser_reads_names_and_stops_at_the_next_section():
    doc = """Summary.

    Args:
        units: int. Wide.
            Still units.
        name (str): The name.

    Returns:
        nothing: not an argument.
    """
    assert documented_arguments(doc) == ["units", "name"]
    assert documented_arguments("No sections.") is None
