"""The experiment's choice lists are TensorFlow-free names that equal the library's own
registries, so `lowlevel train --help` answers without TensorFlow and cannot drift."""

import dataclasses
import inspect
import os
import pathlib
import subprocess
import sys

from lowlevel import distribute, kinds, models, optimizers
from lowlevel.apps.experiment import config
from lowlevel.loops import registry


def _choices(name):
    return {f.name: f.metadata["choices"] for f in dataclasses.fields(config.ExperimentConfig)}[name]


def test_implementations_are_the_loop_registry_and_its_default():
    assert config.IMPLEMENTATIONS == registry.IMPLEMENTATIONS
    assert config.DEFAULT_IMPLEMENTATION == registry.DEFAULT_IMPLEMENTATION
    assert _choices("implementation") == registry.IMPLEMENTATIONS


def test_strategies_are_the_distribution_strategies():
    assert config.STRATEGIES == distribute.STRATEGIES == _choices("strategy")


def test_cells_and_styles_are_the_models():
    assert _choices("cell") == kinds.NAMES == tuple(models.CELLS)
    assert config.STYLES == models.STYLES == _choices("style")


def test_every_optimizer_of_the_library_is_offered_by_its_class():
    defined = {cls for _, cls in inspect.getmembers(optimizers, inspect.isclass)
               if issubclass(cls, optimizers.Optimizer) and cls is not optimizers.Optimizer}
    assert {config.optimizer_class(name) for name in config.OPTIMIZERS} == defined
    assert _choices("optimizer") == tuple(config.OPTIMIZERS)


def test_the_config_and_its_flags_load_without_tensorflow():
    probe = ("import sys; import lowlevel.apps.experiment.cli; "
             "print('tensorflow' in sys.modules)")
    root = pathlib.Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, env=dict(os.environ, PYTHONPATH=str(root)))
    assert done.stdout.strip() == "False", done.stderr
