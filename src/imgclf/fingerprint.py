"""Content hashes, in one scheme: the SHA-256 of settings (as sorted JSON) and of the
bytes of input files.

Three things are identified this way: the params of a stage run (an MLflow tag), a training
run that may be resumed from its checkpoint folder, and the objective a study's trials were
scored under. The last two also hash imgclf's own source (:func:`code_files`): trials or
epochs computed by other code are not the ones a fresh clone would compute. File *names*
never enter a hash, only their bytes, so team members with their data in other folders get
the same fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imgclf.config import Params


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (the manifest hash, weight files, fingerprint inputs)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_hash(settings: Any, files: Iterable[str | Path] = (), *, length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``settings`` (JSON-able, keys
    sorted) followed by the SHA-256 of each file in ``files``, in the order given."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in files:
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()[:length]


def params_hash(params: Params) -> str:
    """A short, stable hash of the effective params (for MLflow tags)."""
    return content_hash(params.model_dump(mode="json", by_alias=True))


def code_files() -> list[Path]:
    """Every Python file of the imgclf package, in a fixed order: what the code computes is
    part of a fingerprint wherever reusing an earlier result could skip computing it again."""
    package = Path(__file__).resolve().parent
    return sorted(package.rglob("*.py"), key=lambda path: path.relative_to(package).as_posix())
