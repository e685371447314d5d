"""Reading a params file: YAML in, one checked :class:`Params` out, or one
:class:`~imgclf.errors.ConfigError` line naming the file, the key, the value and what is
allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from imgclf.config.sections import Params
from imgclf.errors import ConfigError


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and check ``path``; raise :class:`ConfigError` naming the first bad key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found; run from the project root or pass --params"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}); fix the syntax") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return parse_params(raw, source=str(path))


def parse_params(raw: dict[str, Any], source: str = "params.yaml") -> Params:
    """Check an already-loaded mapping; ``source`` names it in error messages."""
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, raw, source)) from None


def _describe(exc: ValidationError, raw: dict[str, Any], source: str) -> str:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"] if part not in ("function-after",)]
    key = ".".join(loc) or "(top level)"
    value = _lookup(raw, error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        what = "unknown key; check the spelling against the commented params.yaml in the repository"
    elif kind == "missing":
        what = "required key is missing"
    else:
        what = error["msg"].removeprefix("Value error, ")
    shown = "" if value is _MISSING else f" = {value!r}"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source}: {key}{shown}: {what}{more}"


_MISSING = object()


def _lookup(raw: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        in_dict = isinstance(raw, dict) and part in raw
        in_list = isinstance(raw, list) and isinstance(part, int) and part < len(raw)
        if not (in_dict or in_list):
            return _MISSING
        raw = raw[part]
    return raw
