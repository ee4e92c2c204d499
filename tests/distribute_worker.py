"""One training process for ``tests/training/test_distribute.py`` (run as a script, not collected).

``python tests/distribute_worker.py CONFIG_JSON LOGICAL_CPUS`` splits the CPU into
``LOGICAL_CPUS`` logical devices (before TensorFlow initialises them), then for each
config in the JSON list runs ``lowlevel.apps.experiment.run.train`` and saves the kept weights
to ``<out>/weights.npz``. ``TF_CONFIG`` (multiworker) comes from the environment.
"""

import io
import json
import os
import sys

import numpy as np
import tensorflow as tf


def main(config_json, logical_cpus):
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(int(logical_cpus))])
    from lowlevel.apps.experiment import run as experiment

    for changes in json.loads(config_json):
        config = experiment.ExperimentConfig(**changes)
        experiment.train(config, log=io.StringIO())
        _, model = experiment.load_run(config.out)
        np.savez(os.path.join(config.out, "weights.npz"), *model.get_weights())


if __name__ == "__main__":
    main(*sys.argv[1:])
