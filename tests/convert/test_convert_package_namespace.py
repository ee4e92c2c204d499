"""The package namespace, as a Keras user expects it: ``lowlevel.from_keras`` /
``lowlevel.to_keras``, and every public submodule reachable after ``import lowlevel``
(as ``keras.optimizers`` after ``import keras``), imported on first use."""

import os
import subprocess
import sys

import pytest

import lowlevel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUBMODULES = ["optimizers", "train", "models", "gradients", "clipping", "distribute", "parity",
              "tolerances", "cells", "loops", "layers", "convert", "keras_config", "apps"]


@pytest.mark.parametrize("name", SUBMODULES)
def test_every_public_submodule_is_an_attribute_of_the_package(name):
    module = getattr(lowlevel, name)
    assert module.__name__ == f"lowlevel.{name}"
    assert name in dir(lowlevel)


def test_keras_user_spelling_works_after_import_lowlevel_alone():
    script = ("import sys, lowlevel\n"
              "assert 'lowlevel.apps' not in sys.modules\n"
              "assert 'lowlevel.optimizers' not in sys.modules\n"
              "opt = lowlevel.optimizers.RMSprop(1e-3)\n"
              "assert type(opt).__module__ == 'lowlevel.optimizers'\n"
              "assert lowlevel.data.__name__ == 'lowlevel.apps.data'\n"
              "assert lowlevel.from_keras is lowlevel.convert.from_keras\n"
              "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_an_unknown_attribute_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="module 'lowlevel' has no attribute 'optimisers'"):
        lowlevel.optimisers  # noqa: B018
