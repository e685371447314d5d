"""Reading a params file: YAML in, one checked :class:`Params` out, or one
:class:`~imgclf.errors.ConfigError` line naming the file, the key, the value and what is
allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    _refuse_stored_password(raw, path)
    return parse_params(raw, source=str(path))


def _refuse_stored_password(raw: dict[str, Any], path: Path) -> None:
    """A params file is committed and DVC copies the keys a stage reads into ``dvc.lock``:
    a storage URL with a password would end up in git. The environment and ``--storage``
    reach the params as overrides, after this check."""
    tune = raw.get("tune")
    storage = tune.get("storage") if isinstance(tune, dict) else None
    if isinstance(storage, str) and "://" in storage and urlsplit(storage).password is not None:
        raise ConfigError(
            f"{path}: tune.storage holds a password, and params files are committed (dvc.lock "
            "copies the value too); set the URL in IMGCLF_OPTUNA_STORAGE or pass it with "
            "--storage instead"
        )


def parse_params(raw: dict[str, Any], source: str = "params.yaml") -> Params:
    """Check an already-loaded mapping; ``source`` names it in error messages."""
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, raw, source)) from None


def _describe(exc: ValidationError, raw: dict[str, Any], source: str) -> str:
    error = exc.errors()[0]
    loc = _key_path(raw, error)
    key = ".".join(str(part) for part in loc) or "(top level)"
    value = _lookup(raw, loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        what = "unknown key; check the spelling against the commented params.yaml in the repository"
    elif kind == "missing":
        what = "required key is missing"
    else:
        what = error["msg"].removeprefix("Value error, ")
    # A whole section's mapping would be long and could hold a secret (tune.storage).
    shown = "" if value is _MISSING or isinstance(value, dict) else f" = {value!r}"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source}: {key}{shown}: {what}{more}"


_MISSING = object()


def _key_path(raw: Any, error: Any) -> tuple[Any, ...]:
    """The params key of an error: the part of its location that is in ``raw`` (pydantic
    appends the union member it tried, ``train.devices.int``, below the value itself),
    plus the key itself when it is the one missing."""
    path: list[Any] = []
    for part in error["loc"]:
        found = _lookup(raw, (part,))
        if found is _MISSING:
            if error["type"] == "missing":
                path.append(part)
            break
        path.append(part)
        raw = found
    return tuple(path)


def _lookup(raw: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        in_dict = isinstance(raw, dict) and part in raw
        in_list = isinstance(raw, list) and isinstance(part, int) and part < len(raw)
        if not (in_dict or in_list):
            return _MISSING
        raw = raw[part]
    return raw
