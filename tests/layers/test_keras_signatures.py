"""Constructors read as Keras's: the positional arguments are Keras's, at Keras's
positions, with Keras's defaults; lowlevel's own arguments are keyword-only; no
``*args``/``**kwargs`` hides an argument; an unknown keyword is a ``TypeError``."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.tolerances import assert_close

PAIRS = {
    "SimpleRNNCell": keras.layers.SimpleRNNCell, "LSTMCell": keras.layers.LSTMCell,
    "GRUCell": keras.layers.GRUCell, "SimpleRNN": keras.layers.SimpleRNN,
    "LSTM": keras.layers.LSTM, "GRU": keras.layers.GRU, "RNN": keras.layers.RNN,
    "Bidirectional": keras.layers.Bidirectional, "Embedding": keras.layers.Embedding,
}
POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def parameters(cls):
    return [p for p in inspect.signature(cls).parameters.values() if p.name != "self"]


def positional_names(cls):
    return [p.name for p in parameters(cls) if p.kind in POSITIONAL]


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_positional_arguments_are_keras_s_at_keras_s_positions(name):
    """Ours are Keras's first positional arguments, as many as we support in a row: each
    Keras positional argument we take positionally sits where Keras has it, and the next
    Keras argument is one we do not take (a regularizer, a constraint) — else it could
    have been positional too."""
    ours, theirs = positional_names(getattr(lowlevel, name)), positional_names(PAIRS[name])
    assert ours == theirs[:len(ours)], (ours, theirs)
    our_names = {p.name for p in parameters(getattr(lowlevel, name))}
    if len(ours) < len(theirs):
        assert theirs[len(ours)] not in our_names, (
            f"{name}: Keras's positional {theirs[len(ours)]!r} is accepted but keyword-only")


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_arguments_shared_with_keras_have_keras_s_defaults(name):
    theirs = {p.name: p.default for p in parameters(PAIRS[name])}
    for p in parameters(getattr(lowlevel, name)):
        if p.name in theirs:
            assert p.default == theirs[p.name], (name, p.name, p.default, theirs[p.name])


def public_classes():
    return sorted({*lowlevel.__all__, *lowlevel.layers.__all__, *lowlevel.cells.__all__})


@pytest.mark.parametrize("name", public_classes())
def test_no_public_signature_hides_arguments_in_args_or_kwargs(name):
    obj = getattr(lowlevel, name, None) or getattr(lowlevel.layers, name, None) \
        or getattr(lowlevel.cells, name)
    if not callable(obj):
        pytest.skip(f"{name} is a constant")
    callables = [obj]
    if inspect.isclass(obj):
        callables += [m for n, m in vars(obj).items()
                      if callable(m) and (not n.startswith("_") or n == "__call__")]
    for fn in callables:
        hidden = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in VARIADIC]
        assert not hidden, f"{name}.{getattr(fn, '__name__', '')}: *{hidden}"


@pytest.mark.parametrize("name", ["SimpleRNNCell", "LSTMCell", "GRUCell", "SimpleRNN",
                                  "LSTM", "GRU", "Embedding"])
def test_an_unknown_keyword_is_a_type_error_naming_it(name):
    args = (4, 3) if name == "Embedding" else (3,)
    with pytest.raises(TypeError, match="kernel_regularizer"):
        getattr(lowlevel, name)(*args, kernel_regularizer="l2")
    with pytest.raises(TypeError, match="colour"):
        getattr(lowlevel, name)(*args, colour="blue")


def test_an_unknown_keyword_of_rnn_and_bidirectional_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="use_cudnn"):
        lowlevel.RNN(lowlevel.LSTMCell(3), use_cudnn=True)
    with pytest.raises(TypeError, match="colour"):
        lowlevel.Bidirectional(lowlevel.LSTM(3), colour="blue")


# The same layer spelled positionally and by keyword, and Keras's reading of the positional.
POSITIONAL_CASES = [
    ("LSTM", (8, "tanh"), {"activation": "tanh"}),
    ("GRU", (4, "relu", "sigmoid"), {"activation": "relu", "recurrent_activation": "sigmoid"}),
    ("SimpleRNN", (3, "relu"), {"activation": "relu"}),
    ("SimpleRNN", (3, "relu", False), {"activation": "relu", "use_bias": False}),
    ("LSTM", (5, "relu", "hard_sigmoid", True, "glorot_uniform", "orthogonal", "ones", False),
     {"activation": "relu", "recurrent_activation": "hard_sigmoid",
      "bias_initializer": "ones", "unit_forget_bias": False}),
    ("GRU", (4, "tanh", "hard_sigmoid", False), {"recurrent_activation": "hard_sigmoid",
                                                 "use_bias": False}),
    ("LSTMCell", (3, "relu", "sigmoid", False), {"activation": "relu", "use_bias": False}),
    ("GRUCell", (3, "relu"), {"activation": "relu"}),
    ("SimpleRNNCell", (3, "relu"), {"activation": "relu"}),
]


@pytest.mark.parametrize("name,args,kwargs", POSITIONAL_CASES,
                         ids=[f"{n}{a}" for n, a, _ in POSITIONAL_CASES])
def test_positional_form_builds_the_keyword_form_and_computes_what_keras_computes(
        name, args, kwargs):
    cls = getattr(lowlevel, name)
    positional, keyword = cls(*args), cls(args[0], **kwargs)
    assert positional.get_config() == keyword.get_config()

    theirs = PAIRS[name](*args)
    x = np.random.default_rng(0).normal(size=[2, 5, 4]).astype("float32")
    if name.endswith("Cell"):
        theirs.build((None, 4))
        positional.set_weights(theirs.get_weights())
        sizes = theirs.state_size if isinstance(theirs.state_size, list) \
            else [theirs.state_size]
        states = [tf.fill([2, s], 0.3) for s in sizes]
        expected, ours = theirs(x[:, 0], states), positional(x[:, 0], states)
    else:
        theirs.build((None, 5, 4))
        positional.set_weights(theirs.get_weights())
        expected, ours = theirs(x), positional(x)
    assert_close(tf.nest.flatten(ours), tf.nest.flatten(expected), tf.float32,
                 f"{name}{args}")


def test_rnn_bidirectional_and_embedding_take_keras_s_positional_arguments():
    """``RNN(cell, True, True, True)`` is return_sequences, return_state and go_backwards;
    ``Bidirectional(layer, 'sum', weights)`` starts from ``weights``;
    ``Embedding(9, 3, 'ones')`` is initialised with ones."""
    rnn = lowlevel.RNN(lowlevel.GRUCell(3), True, True, True)
    assert (rnn.return_sequences, rnn.return_state, rnn.go_backwards) == (True, True, True)
    source = lowlevel.Bidirectional(lowlevel.LSTM(2), "sum")
    source.forward_layer.build(4)
    source.backward_layer.build(4)
    copy = lowlevel.Bidirectional(lowlevel.LSTM(2), "sum", source.get_weights())
    for a, b in zip(copy.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(lowlevel.Embedding(9, 3, "ones").embeddings.numpy(),
                                  np.ones([9, 3]))


OWN_MODULES = ("lowlevel.cells", "lowlevel.layers.rnn", "lowlevel.layers.cell_layer",
               "lowlevel.layers.simple_rnn", "lowlevel.layers.lstm", "lowlevel.layers.gru",
               "lowlevel.layers.bidirectional", "lowlevel.layers.embedding", "lowlevel.layers.stateful", "lowlevel._describe",
               "lowlevel.convert", "lowlevel.keras_config")


def annotated_callables():
    """Public functions of the modules above, and the public methods and properties of
    their public classes."""
    import importlib
    import pkgutil

    modules = [importlib.import_module(m) for m in OWN_MODULES]
    modules += [importlib.import_module(f"lowlevel.cells.{m.name}")
                for m in pkgutil.iter_modules(lowlevel.cells.__path__)]
    found = {}
    for module in modules:
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                found[f"{module.__name__}.{name}"] = obj
            elif inspect.isclass(obj):
                for attribute, member in vars(obj).items():
                    if attribute.startswith("_") and attribute not in ("__init__", "__call__"):
                        continue
                    fn = member.fget if isinstance(member, property) else member
                    fn = fn.__func__ if isinstance(fn, (classmethod, staticmethod)) else fn
                    if inspect.isfunction(fn):
                        found[f"{module.__name__}.{name}.{attribute}"] = fn
    return found


@pytest.mark.parametrize("name", sorted(annotated_callables()))
def test_public_signatures_are_type_annotated(name):
    fn = annotated_callables()[name]
    signature = inspect.signature(fn)
    missing = [p.name for p in signature.parameters.values()
               if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty]
    assert not missing, f"{name}: unannotated {missing}"
    assert signature.return_annotation is not inspect.Signature.empty, f"{name}: no return type"
