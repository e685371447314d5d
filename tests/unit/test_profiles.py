"""Profiles: a file of dotted keys that DVC's own `-S` overrides apply to params.yaml."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dvc.utils.hydra import apply_overrides

from imgclf.config import load_params, with_overrides
from imgclf.errors import ConfigError
from imgclf.profiles import dvc_overrides, main, read_profile

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("profile", sorted((ROOT / "profiles").glob("*.yaml")), ids=str)
def test_dvc_applies_a_kept_profile_exactly_as_the_library_reads_it(tmp_path, profile):
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    values = read_profile(profile)
    arguments = dvc_overrides(values)
    apply_overrides(str(params), arguments[1::2])  # what `dvc exp run -S ...` does first
    assert load_params(params) == with_overrides(load_params(ROOT / "params.yaml"), values)


def test_a_mapping_in_a_profile_replaces_the_whole_mapping(tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    space = {"train.lr": {"type": "float", "low": 0.001, "high": 0.01, "log": True}}
    apply_overrides(str(params), dvc_overrides({"tune.space": space})[1::2])
    assert set(load_params(params).tune.space) == {"train.lr"}


def test_a_misspelt_profile_key_is_one_line_naming_it(tmp_path, capsys):
    profile = tmp_path / "bad.yaml"
    profile.write_text("train.max_epoch: 3\n")
    assert main([str(profile), "--params", str(ROOT / "params.yaml")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "train.max_epoch" in error and str(profile) in error


def test_a_profile_that_is_not_a_flat_mapping_is_refused(tmp_path):
    profile = tmp_path / "nested.yaml"
    profile.write_text("train:\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match="flat mapping of dotted keys"):
        read_profile(profile)
