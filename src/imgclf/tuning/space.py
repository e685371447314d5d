"""The search space from ``tune.space``: checked once, sampled per trial, or laid out as a grid.

Keys are dotted params keys (``train.lr``, ``model.width``); a trial's values go back into
the params with :func:`imgclf.config.with_overrides`, so every sampled value is checked by
the same pydantic rules as ``params.yaml`` itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import optuna

from imgclf.config import Params, SearchDimension, dotted_value, with_overrides
from imgclf.errors import ParamError, UserError

GRID_LIMIT = 10_000

GridValue = str | int | float | bool | None


def check_space(space: Mapping[str, SearchDimension], params: Params) -> None:
    """Raise :class:`ParamError` (one line naming ``tune.space.<key>``) for a dimension
    Optuna would refuse or whose values the params would reject."""
    for key, dim in space.items():
        where = f"tune.space.{key}"
        if dim.type != "categorical":
            if dim.log and dim.low is not None and dim.low <= 0:
                raise ParamError(f"{where}: log: true needs low > 0, got low = {dim.low:g}")
            if dim.step is not None and dim.step <= 0:
                raise ParamError(f"{where}: step must be > 0, got {dim.step:g}")
            if dim.log and dim.step is not None and not (dim.type == "int" and dim.step == 1):
                raise ParamError(
                    f"{where}: log and step cannot be combined (Optuna samples one or the other)"
                )
            if dim.type == "int" and not all(
                _is_integral(v) for v in (dim.low, dim.high, dim.step)
            ):
                raise ParamError(f"{where}: an int dimension needs whole-number low, high and step")
        for value in _boundary_values(dim):
            try:
                with_overrides(params, {key: value})
            except UserError as exc:
                reason = str(exc).split(": ", 2)[-1]
                raise ParamError(
                    f"{where}: value {value!r} is not a valid {key}: {reason}"
                ) from None


def suggest(trial: optuna.Trial, space: Mapping[str, SearchDimension]) -> dict[str, Any]:
    """Ask ``trial`` for one value per dimension; returns ``{dotted key: value}``."""
    values: dict[str, Any] = {}
    for key, dim in space.items():
        if dim.type == "categorical":
            values[key] = trial.suggest_categorical(key, list(dim.choices or []))
        elif dim.type == "int":
            step = int(dim.step or 1)
            values[key] = trial.suggest_int(
                key, int(dim.low or 0), int(dim.high or 0), step=step, log=dim.log
            )
        else:
            values[key] = trial.suggest_float(
                key, float(dim.low or 0.0), float(dim.high or 0.0), step=dim.step, log=dim.log
            )
    return values


def default_point(
    space: Mapping[str, SearchDimension], params: Params
) -> tuple[dict[str, Any] | None, str]:
    """``params``' own value of every dimension of ``space``: the point of the search that
    "no tuning" stands for, and None with the reason when some value lies outside its
    dimension (the search could never reach it) or is left to a transform's default."""
    point: dict[str, Any] = {}
    for key, dim in space.items():
        try:
            value = dotted_value(params, key)
        except KeyError:
            return None, f"{key} has no value in params.yaml"
        if dim.type == "categorical":
            inside = value in (dim.choices or [])
        else:
            low, high = float(dim.low or 0.0), float(dim.high or 0.0)
            inside = isinstance(value, int | float) and low <= value <= high
            if inside and dim.step is not None:
                inside = math.isclose((value - low) / dim.step, round((value - low) / dim.step))
        if not inside:
            return None, f"params.yaml's {key} = {value!r} lies outside tune.space.{key}"
        point[key] = value
    return point, ""


def grid_values(space: Mapping[str, SearchDimension]) -> dict[str, list[GridValue]]:
    """Every value of every dimension, for Optuna's GridSampler.

    Categorical: its choices; int: low..high by step; float: needs a ``step`` (a continuous
    range has no grid). Raises :class:`ParamError` when a dimension has no finite grid or the
    grid would exceed ``GRID_LIMIT`` points.
    """
    grid: dict[str, list[GridValue]] = {}
    for key, dim in space.items():
        where = f"tune.space.{key}"
        if dim.type == "categorical":
            grid[key] = list(dim.choices or [])
        elif dim.type == "int":
            grid[key] = list(range(int(dim.low or 0), int(dim.high or 0) + 1, int(dim.step or 1)))
        elif dim.step is None:
            raise ParamError(
                f"{where}: tune.sampler grid needs a 'step' for a float dimension "
                "(or make it categorical with the values to try)"
            )
        else:
            low, high, step = float(dim.low or 0.0), float(dim.high or 0.0), float(dim.step)
            count = int(math.floor((high - low) / step + 1e-9)) + 1
            # Rounding keeps 0.1 + 2 * 0.1 from becoming 0.30000000000000004 in reports.
            grid[key] = [round(low + i * step, 12) for i in range(count)]
    size = grid_size(grid)
    if size > GRID_LIMIT:
        raise ParamError(
            f"tune.space: the grid has {size} points (more than {GRID_LIMIT}); "
            "use larger steps, fewer choices or tune.sampler tpe"
        )
    return grid


def grid_size(grid: Mapping[str, list[GridValue]]) -> int:
    """How many points the grid has (the product of the dimensions' lengths)."""
    return math.prod(len(values) for values in grid.values())


def _boundary_values(dim: SearchDimension) -> list[Any]:
    if dim.type == "categorical":
        return list(dim.choices or [])
    if dim.type == "int":
        return [int(dim.low or 0), int(dim.high or 0)]
    return [float(dim.low or 0.0), float(dim.high or 0.0)]


def _is_integral(value: float | None) -> bool:
    return value is None or float(value).is_integer()
