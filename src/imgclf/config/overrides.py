"""The dotted-override language: ``train.lr``, ``augment.transforms.Affine.args.p``.

The tune stage's sampled values and ``models/best_params.yaml`` reach the params this way,
and every result is checked again by the same schema as the params file.
"""

from __future__ import annotations

from typing import Any

from imgclf.config.loading import parse_params
from imgclf.config.sections import Params
from imgclf.errors import ConfigError


def with_overrides(params: Params, overrides: dict[str, Any]) -> Params:
    """Return ``params`` with dotted keys replaced, checked again.

    A key is a path: ``train.lr``, or into a list by index or by the items' ``name``,
    ``augment.transforms.Affine.args.p`` (the same as ``augment.transforms.0.args.p`` when
    Affine is the first transform).
    """
    raw = params.model_dump(by_alias=True)
    for key, value in overrides.items():
        *path, last = key.split(".")
        node = raw
        for depth, part in enumerate(path):
            node = node[_index(node, part, key, path[:depth])]
        node[_index(node, last, key, path)] = value
    return parse_params(raw, source="overrides")


def dotted_value(params: Params, key: str) -> Any:
    """The value at dotted ``key`` (the same paths as :func:`with_overrides`); raises
    :class:`KeyError` for a transform argument ``params`` leaves to its default."""
    node: Any = params.model_dump(by_alias=True)
    parts = key.split(".")
    for depth, part in enumerate(parts):
        node = node[_index(node, part, key, parts[:depth])]
    return node


def _index(node: Any, part: str, key: str, above: list[str]) -> Any:
    """``part`` as a subscript of ``node`` (reached by the parts ``above`` of ``key``): a
    dict key (new ones allowed only in a transform's ``args``), or a list index or the
    ``name`` of one list item."""
    context = f"overrides: {key}: {'.'.join(above) or 'params'}"
    if not isinstance(node, dict | list):
        raise ConfigError(f"{context} is a value, it holds no keys")
    if isinstance(node, dict):
        if part in node or above[-1:] == ["args"]:
            return part
        raise ConfigError(f"{context} has no key '{part}'")
    if part.isdigit() and int(part) < len(node):
        return int(part)
    named = [
        i for i, item in enumerate(node) if isinstance(item, dict) and item.get("name") == part
    ]
    if len(named) != 1:
        found = f"{len(named)} items named" if named else "no item numbered or named"
        raise ConfigError(f"{context} has {found} '{part}'; use an index from 0 to {len(node) - 1}")
    return named[0]
