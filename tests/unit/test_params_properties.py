"""Property tests over the repository's params.yaml: any one wrong type, unknown key,
out-of-range value, empty or inverted search dimension, or split that does not add up gives
a ConfigError whose one line names the key; never another exception, never a traceback."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from imgclf.config import parse_params
from imgclf.errors import ConfigError

REPO_PARAMS = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
FAST = settings(max_examples=60, deadline=None)
Path_ = tuple[Any, ...]


def leaves(node: Any, path: Path_ = ()) -> list[Path_]:
    """Every scalar (or null) value's path, outside free-form transform arguments."""
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in leaves(value, (*path, key))]
    if isinstance(node, list):
        if path[-1:] == ("transforms",):
            return [p for i, item in enumerate(node) for p in leaves(item, (*path, i))]
        return []  # [low, high] pairs and choices are values
    return [] if "args" in path else [path]


def value_at(path: Path_) -> Any:
    node: Any = REPO_PARAMS
    for part in path:
        node = node[part]
    return node


def with_value(path: Path_, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(REPO_PARAMS)
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return raw


def refused(raw: dict[str, Any]) -> str:
    """The one-line message ``raw`` is refused with (any other exception fails the test)."""
    with pytest.raises(ConfigError) as error:
        parse_params(raw)
    message = str(error.value)
    assert "\n" not in message
    return message


def dotted(path: Path_) -> str:
    return ".".join(str(part) for part in path)


LEAVES = leaves(REPO_PARAMS)
NUMBERS = [p for p in LEAVES if type(value_at(p)) in (int, float)]
SECTIONS = [key for key, value in REPO_PARAMS.items() if isinstance(value, dict)]
SPACE = list(REPO_PARAMS["tune"]["space"])
# Bounds from the schema: (path, a strategy of values outside them).
OUT_OF_RANGE = [
    (("seed",), st.integers(max_value=-1) | st.integers(min_value=2**32)),
    (("data", "image_size"), st.integers(max_value=3) | st.integers(min_value=1025)),
    (("split", "folds"), st.integers(max_value=0) | st.integers(min_value=21)),
    (("train", "lr"), st.floats(max_value=0.0) | st.floats(min_value=10.01)),
    (("train", "batch_size"), st.integers(max_value=0)),
    (("train", "devices"), st.integers(max_value=-2) | st.just(0)),
    (("model", "dropout"), st.floats(min_value=1.0) | st.floats(max_value=-0.01)),
    (("tune", "n_trials"), st.integers(max_value=0)),
    (("validate", "max_imbalance"), st.floats(max_value=0.99)),
    (("evaluate", "ece_bins"), st.integers(max_value=1) | st.integers(min_value=101)),
]


@FAST
@given(st.sampled_from(LEAVES), st.sampled_from([[1, 2], {"x": 1}, [], {}]))
def test_a_list_or_mapping_where_a_value_belongs_names_the_key(path: Path_, value: Any) -> None:
    assert dotted(path) in refused(with_value(path, value))


@FAST
@given(st.sampled_from(NUMBERS), st.text(alphabet="abcxyz -", min_size=1, max_size=8))
def test_text_where_a_number_belongs_names_the_key(path: Path_, text: str) -> None:
    assert dotted(path) in refused(with_value(path, text))


@FAST
@given(
    st.sampled_from([(), *((s,) for s in SECTIONS)]),
    st.text(alphabet="abcdefghij_", min_size=1, max_size=12),
)
def test_an_unknown_key_in_any_section_names_it(section: Path_, key: str) -> None:
    raw = copy.deepcopy(REPO_PARAMS)
    node = raw[section[0]] if section else raw
    if key in node:
        return
    node[key] = 1
    assert f"{dotted((*section, key))} = 1: unknown key" in refused(raw)


@FAST
@given(st.data())
def test_a_value_out_of_its_range_names_the_key(data: st.DataObject) -> None:
    path, values = data.draw(st.sampled_from(OUT_OF_RANGE))
    value = data.draw(values.filter(lambda v: v == v))  # nan is tested on its own below
    assert dotted(path) in refused(with_value(path, value))


@FAST
@given(st.sampled_from(NUMBERS), st.sampled_from([float("nan"), float("inf"), float("-inf")]))
def test_nan_or_infinity_for_any_number_names_the_key(path: Path_, value: float) -> None:
    assert dotted(path) in refused(with_value(path, value))


@FAST
@given(
    st.sampled_from(SPACE),
    st.sampled_from(["float", "int"]),
    st.integers(-1000, 1000),
    st.integers(1, 1000),
)
def test_an_inverted_search_range_names_the_dimension(
    key: str, kind: str, high: int, gap: int
) -> None:
    dimension = {"type": kind, "low": high + gap, "high": high}
    raw = with_value(("tune", "space", key), dimension)
    message = refused(raw)
    assert f"tune.space.{key}" in message and f"a {kind} dimension needs 'low' <= 'high'" in message


@FAST
@given(st.sampled_from(SPACE))
def test_an_empty_choice_list_or_an_empty_space_names_it(key: str) -> None:
    raw = with_value(("tune", "space", key), {"type": "categorical", "choices": []})
    assert f"tune.space.{key}" in refused(raw)
    assert "tune.space" in refused(with_value(("tune", "space"), {}))


ratios = st.floats(min_value=0.01, max_value=0.98)


@FAST
@given(ratios, ratios, ratios)
def test_split_ratios_that_do_not_add_up_to_one_are_refused(
    train: float, val: float, test: float
) -> None:
    if abs(train + val + test - 1.0) <= 1e-6:
        return
    raw = copy.deepcopy(REPO_PARAMS)
    raw["split"].update(train=train, val=val, test=test)
    assert "split.train + split.val + split.test must be 1.0" in refused(raw)


@FAST
@given(st.integers(1, 10_000), st.integers(0, 10_000))
def test_a_heartbeat_no_shorter_than_the_grace_period_is_refused(grace: int, extra: int) -> None:
    raw = copy.deepcopy(REPO_PARAMS)
    raw["tune"].update(heartbeat_interval_s=grace + extra, grace_period_s=grace)
    assert "tune.heartbeat_interval_s" in refused(raw)
