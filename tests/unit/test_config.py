"""params.yaml mistakes become one line naming the key, the value and what is allowed."""

from pathlib import Path

import pytest
import yaml

from imgclf.config import load_params, with_overrides
from imgclf.errors import ConfigError
from imgclf.fingerprint import params_hash

REPO = Path(__file__).resolve().parents[2]


def write_params(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_repository_params_file_is_valid() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.data.source == "digits"
    assert params.split.train + params.split.val + params.split.test == pytest.approx(1.0)


def test_unknown_key_names_the_key(tmp_path: Path) -> None:
    path = write_params(tmp_path, "train:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError) as error:
        load_params(path)
    message = str(error.value)
    assert "train.lrr = 0.1" in message
    assert "unknown key" in message
    assert "\n" not in message


def test_wrong_type_names_key_value_and_expected_type(tmp_path: Path) -> None:
    path = write_params(tmp_path, "train:\n  batch_size: lots\n")
    with pytest.raises(ConfigError, match=r"train\.batch_size = 'lots': .*integer"):
        load_params(path)


def test_out_of_range_value_says_the_bound(tmp_path: Path) -> None:
    path = write_params(tmp_path, "model:\n  dropout: 1.5\n")
    with pytest.raises(ConfigError, match=r"model\.dropout = 1\.5: .*less than 1"):
        load_params(path)


def test_literal_choice_lists_the_allowed_values(tmp_path: Path) -> None:
    path = write_params(tmp_path, "tune:\n  sampler: bayes\n")
    with pytest.raises(ConfigError, match=r"tune\.sampler = 'bayes': .*'grid', 'tpe' or 'random'"):
        load_params(path)


def test_split_ratios_must_add_up_to_one(tmp_path: Path) -> None:
    path = write_params(tmp_path, "split:\n  train: 0.8\n  val: 0.2\n  test: 0.2\n")
    with pytest.raises(ConfigError, match=r"must be 1\.0, got 1\.2"):
        load_params(path)


def test_search_space_key_must_be_a_real_param(tmp_path: Path) -> None:
    path = write_params(
        tmp_path, "tune:\n  space:\n    train.learning_rate: {type: float, low: 0.1, high: 1}\n"
    )
    with pytest.raises(ConfigError, match=r"train\.learning_rate"):
        load_params(path)


def test_invalid_yaml_and_missing_file_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(write_params(tmp_path, "train: [unclosed\n"))
    with pytest.raises(ConfigError, match="file not found"):
        load_params(tmp_path / "nope.yaml")


def test_overrides_are_checked_and_change_the_hash(tmp_path: Path) -> None:
    params = load_params(REPO / "params.yaml")
    tuned = with_overrides(params, {"train.lr": 0.01, "model.width": 16})
    assert (tuned.train.lr, tuned.model.width) == (0.01, 16)
    assert params_hash(tuned) != params_hash(params)
    with pytest.raises(ConfigError, match="train.lr"):
        with_overrides(params, {"train.lr": -1})


def test_overrides_reach_a_transform_argument_by_name_or_index() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.augment.transforms[0].name == "Affine"
    by_name = with_overrides(params, {"augment.transforms.Affine.args.p": 0.9})
    by_index = with_overrides(params, {"augment.transforms.0.args.p": 0.9})
    assert by_name.augment == by_index.augment
    assert by_name.augment.transforms[0].args["p"] == 0.9
    assert params.augment.transforms[0].args["p"] == 0.5  # the original is untouched
    with pytest.raises(ConfigError, match="no item numbered or named 'Blur'"):
        with_overrides(params, {"augment.transforms.Blur.args.p": 0.9})
    with pytest.raises(ConfigError, match="train has no key 'lrr'"):
        with_overrides(params, {"train.lrr": 0.1})


def test_tune_space_accepts_transform_arguments_only_in_their_place(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["tune"]["space"] = {
        "augment.transforms.Affine.args.p": {"type": "float", "low": 0.1, "high": 0.9}
    }
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert list(load_params(path).tune.space) == ["augment.transforms.Affine.args.p"]
    raw["tune"]["space"] = {"augment.preview_samples": {"type": "int", "low": 1, "high": 4}}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="augment.transforms.<name or index>.args.<argument>"):
        load_params(path)


def test_params_hash_is_stable_across_reads() -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    assert params_hash(load_params(REPO / "params.yaml")) == params_hash(
        load_params(REPO / "params.yaml")
    )
    assert raw["seed"] == load_params(REPO / "params.yaml").seed


def test_pixel_bounds_must_be_ordered(tmp_path: Path) -> None:
    path = write_params(tmp_path, "validate:\n  pixel_std: [100, 1]\n")
    with pytest.raises(ConfigError, match=r"validate\.pixel_std.*low <= high"):
        load_params(path)


def test_a_strategy_that_keeps_the_history_in_child_processes_is_refused(tmp_path: Path) -> None:
    path = write_params(tmp_path, "train:\n  strategy: ddp_spawn\n")
    with pytest.raises(ConfigError, match="train.strategy = 'ddp_spawn': .* use ddp"):
        load_params(path)
    assert load_params(write_params(tmp_path, "train:\n  strategy: ddp\n")).train.strategy == "ddp"
