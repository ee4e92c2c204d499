"""The experiment's config holds a ``lowlevel.train.Clip``: parsed once from ``--clip``,
stored in ``config.json`` as the flag's text, read back equal, and compared as a Clip
when a run is resumed."""

import argparse
import dataclasses
import json

import pytest

from lowlevel.apps.experiment import cli as cli_experiment
from lowlevel.apps.experiment.config import ExperimentConfig, clip_text
from lowlevel.train import Clip

CLIPS = [Clip(), Clip("value", 0.5), Clip("norm", 1.0), Clip("global_norm", 5.0),
         Clip("global_norm", 0.1 + 0.2)]  # a threshold with no short decimal form


@pytest.mark.parametrize("clip", CLIPS, ids=lambda c: c.mode)
def test_config_to_json_to_config_gives_an_equal_clip(clip):
    config = ExperimentConfig(clip=clip)
    saved = json.loads(json.dumps(config.to_json()))  # what config.json holds
    assert saved["clip"] == clip_text(clip) and isinstance(saved["clip"], str)
    back = ExperimentConfig.from_json(saved)
    assert isinstance(back.clip, Clip) and back.clip == clip
    assert back == config


@pytest.mark.parametrize("given", ["global_norm:5", Clip("global_norm", 5.0),
                                   {"mode": "global_norm", "threshold": 5.0}])
def test_the_config_holds_a_clip_whether_given_its_text_or_itself(given):
    assert ExperimentConfig(clip=given).clip == Clip("global_norm", 5.0)
    assert ExperimentConfig().clip == Clip()
    config = ExperimentConfig(clip=given)
    assert ExperimentConfig(**dataclasses.asdict(config)) == config


def _parse(argv):
    parser = argparse.ArgumentParser(prog="lowlevel")
    cli_experiment.add_parsers(parser.add_subparsers(dest="command", required=True))
    return cli_experiment.config_from_args(parser.parse_args(["train", *argv]))


def _saved_run(tmp_path, config):
    (tmp_path / "config.json").write_text(json.dumps({"config": config.to_json()}))
    return str(tmp_path)


def test_resume_compares_the_clip_not_its_spelling(tmp_path):
    out = _saved_run(tmp_path, ExperimentConfig(clip="global_norm:5"))
    resumed = _parse(["--out", out, "--resume", "--clip", "global_norm:5.000"])
    assert resumed.clip == Clip("global_norm", 5.0) and resumed.resume
    assert _parse(["--out", out, "--resume"]).clip == Clip("global_norm", 5.0)
    with pytest.raises(ValueError, match=r"`--clip global_norm:4` disagrees with the run's "
                                         r".*\(--clip global_norm:5.0\)"):
        _parse(["--out", out, "--resume", "--clip", "global_norm:4"])


def test_a_run_saved_before_the_clip_was_a_clip_still_reads(tmp_path):
    """Older ``config.json`` files hold the flag's text too, or no clip at all."""
    old = {k: v for k, v in ExperimentConfig(clip="norm:2").to_json().items()}
    assert ExperimentConfig.from_json(old).clip == Clip("norm", 2.0)
    del old["clip"]
    assert ExperimentConfig.from_json(old).clip == Clip()


def test_resume_in_the_library_compares_clips(tmp_path):
    from lowlevel.apps.experiment import run as experiment

    config = ExperimentConfig(clip="value:1", out=_saved_run(tmp_path, ExperimentConfig(
        clip="value:1.0")), resume=True)
    experiment._check_resumable(config)  # the same Clip
    with pytest.raises(ValueError, match=r"--clip 'value:1.0' -> 'none'"):
        experiment._check_resumable(dataclasses.replace(config, clip=Clip()))


@pytest.mark.parametrize("saved", [[], "none", {"clip": "sideways:1"}, {"units": "many"}])
def test_a_damaged_saved_config_is_a_value_error(saved):
    with pytest.raises(ValueError):
        ExperimentConfig.from_json(saved)
