"""tune.space: checked up front with one-line messages, sampled by Optuna, laid out as a grid."""

from __future__ import annotations

import optuna
import pytest

from imgclf.config import Params, SearchDimension, TuneConfig
from imgclf.errors import ConfigError
from imgclf.tuning.samplers import build_sampler, trial_budget
from imgclf.tuning.space import check_space, grid_values, suggest


def dims(**space: dict[str, object]) -> dict[str, SearchDimension]:
    return {key.replace("__", "."): SearchDimension(**value) for key, value in space.items()}


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            dims(train__lr={"type": "float", "low": 0.0, "high": 0.1, "log": True}),
            "log: true needs low > 0",
        ),
        (
            dims(train__lr={"type": "float", "low": 0.1, "high": 0.2, "log": True, "step": 0.1}),
            "log and step",
        ),
        (dims(model__width={"type": "int", "low": 8.5, "high": 64}), "whole-number"),
        (
            dims(model__width={"type": "int", "low": 0, "high": 64}),
            "value 0 is not a valid model.width",
        ),
        (dims(train__optimizer={"type": "categorical", "choices": ["adamw", "lion"]}), "'lion'"),
    ],
)
def test_bad_space_dimension_is_one_line_naming_the_key(space: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        check_space(space, Params())
    assert str(error.value).startswith(f"params.yaml: tune.space.{next(iter(space))}")
    assert "\n" not in str(error.value)


def test_suggested_values_respect_low_high_step_log_and_choices() -> None:
    space = dims(
        train__lr={"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        model__dropout={"type": "float", "low": 0.0, "high": 0.5, "step": 0.25},
        model__width={"type": "int", "low": 8, "high": 32, "step": 8},
        train__optimizer={"type": "categorical", "choices": ["sgd", "adamw"]},
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        values = suggest(study.ask(), space)
        assert 1e-4 <= values["train.lr"] <= 1e-1
        assert values["model.dropout"] in (0.0, 0.25, 0.5)
        assert values["model.width"] in (8, 16, 24, 32)
        assert values["train.optimizer"] in ("sgd", "adamw")


def test_grid_values_come_from_the_space() -> None:
    space = dims(
        model__dropout={"type": "float", "low": 0.1, "high": 0.3, "step": 0.1},
        model__width={"type": "int", "low": 16, "high": 48, "step": 16},
        train__batch_size={"type": "categorical", "choices": [32, 64]},
    )

    assert grid_values(space) == {
        "model.dropout": [0.1, 0.2, 0.3],
        "model.width": [16, 32, 48],
        "train.batch_size": [32, 64],
    }
    assert trial_budget(TuneConfig(sampler="grid", n_trials=100, space=space)) == 18


def test_grid_refuses_a_continuous_float_dimension_saying_what_to_do() -> None:
    cfg = TuneConfig(
        sampler="grid", space=dims(train__lr={"type": "float", "low": 0.001, "high": 0.1})
    )

    with pytest.raises(ConfigError, match="tune.space.train.lr: tune.sampler grid needs a 'step'"):
        build_sampler(cfg, seed=0, parallel=False)
