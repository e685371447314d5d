"""Profiles: a named set of params for one kind of data, kept in the repository.

A profile is a flat YAML mapping of dotted keys, the format of ``models/best_params.yaml``
(``train.max_epochs: 15``, ``augment.transforms: [...]``), and of top-level keys
(``numerics: native``). ``imgclf profile FILE`` checks it
against params.yaml and prints it as DVC's own ``-S key=value`` overrides, so that
``dvc exp run $(imgclf profile FILE)`` runs the DAG with it in the working tree: DVC writes
the values into params.yaml, records the experiment and leaves its results in place.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from imgclf.config import load_params, with_overrides
from imgclf.errors import ConfigError, UserError


def read_profile(path: str | Path) -> dict[str, Any]:
    """The profile's ``{dotted key: value}`` mapping; a bad file is a :class:`ConfigError`."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: profile not found; profiles/ holds the kept ones") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}); fix the syntax") from None
    # A top-level key (numerics: native) is a value too; a section written as a mapping is not.
    flat = isinstance(values, dict) and all(
        isinstance(key, str) and ("." in key or not isinstance(value, dict))
        for key, value in values.items()
    )
    if not flat:
        raise ConfigError(
            f"{path}: expected a flat mapping of dotted keys (train.lr: 0.003) or top-level "
            "keys (numerics: native)"
        )
    return values


def dvc_overrides(values: dict[str, Any]) -> list[str]:
    """``-S`` arguments in DVC's override syntax (Hydra's grammar), one word each.

    Hydra merges a mapping into the one already there, so a mapping value is written as a
    delete then an add (``~tune.space``, ``+tune.space={...}``): the profile's mapping is
    the whole of it, as it is for every other value.
    """
    arguments = []
    for key, value in values.items():
        rendered = _override_value(value, key)
        if isinstance(value, dict):
            arguments += ["-S", f"~{key}", "-S", f"+{key}={rendered}"]
        else:
            arguments += ["-S", f"{key}={rendered}"]
    return arguments


def _override_value(value: Any, key: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if any(char.isspace() or char in "'\\" for char in value):
            raise ConfigError(f"profile: {key} = {value!r}: spaces and quotes are not supported")
        return f"'{value}'"
    if isinstance(value, list):
        return "[" + ",".join(_override_value(item, key) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{name}:{_override_value(item, key)}" for name, item in value.items())
        return "{" + ",".join(items) + "}"
    raise ConfigError(f"profile: {key} = {value!r}: not a YAML scalar, list or mapping")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="imgclf profile",
        description="Check a profile against params.yaml and print it as `dvc exp run -S` options.",
    )
    parser.add_argument("profile", help="a profile file, e.g. profiles/fashion-mnist.yaml")
    parser.add_argument("--params", default="params.yaml", help="the params file it applies to")
    args = parser.parse_args(argv)
    try:
        values = read_profile(args.profile)
        with_overrides(load_params(args.params), values)  # every key and value checked
        print(" ".join(dvc_overrides(values)))
    except UserError as exc:
        print(f"error: {args.profile}: {exc}", file=sys.stderr)
        return 2
    return 0
