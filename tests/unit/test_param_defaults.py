"""Each default exists once in meaning: the committed params.yaml sets every key, to the
value the schema falls back to, so a key left out of a params file never silently takes
another value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from imgclf.config import Params, load_params

REPO = Path(__file__).resolve().parents[2]


def dotted_keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    """``{"train": {"lr": 1}}`` -> ``{"train.lr"}``; tune.space and lists are values."""
    keys: set[str] = set()
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name != "tune.space":
            keys |= dotted_keys(value, f"{name}.")
        else:
            keys.add(name)
    return keys


def test_params_yaml_sets_every_key_of_the_schema() -> None:
    written = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    schema = Params().model_dump(mode="json", by_alias=True)
    assert dotted_keys(written) == dotted_keys(schema)


def test_params_yaml_values_are_the_schema_defaults() -> None:
    committed = load_params(REPO / "params.yaml").model_dump(mode="json", by_alias=True)
    defaults = Params().model_dump(mode="json", by_alias=True)
    differ = {
        key: (committed_value, defaults_value)
        for key in committed
        if (committed_value := committed[key]) != (defaults_value := defaults[key])
    }
    assert not differ, f"params.yaml (left) and config defaults (right) differ: {differ}"
