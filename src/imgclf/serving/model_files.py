"""The logged model's files, pinned at registration and checked before a model is loaded.

Loading an MLflow model runs code from its artifact store (our model script, and whatever
loader its ``MLmodel`` names), so anyone who can write the store could change what runs.
When a version is registered, the SHA-256 of every file of the logged model is recorded
as a tag of the registry version (``imgclf.file_sha256.<path>``), where the artifact store
cannot change it. ``imgclf predict`` and ``imgclf serve`` download the model to a local
folder (downloading runs nothing), check it is an imgclf model, compare every file with
the version's tags, and only then load or serve that same folder.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from imgclf.errors import UserError
from imgclf.fingerprint import file_sha256

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

FILE_TAG_PREFIX = "imgclf.file_sha256."
# Written by MLflow itself into every download of a registry URI (the name and version it
# was fetched as), so it differs between copies of the same model; it holds no code.
_WRITTEN_ON_DOWNLOAD = frozenset({"registered_model_meta"})
# What the MLmodel file of a model logged by imgclf.serving.mlflow_model says.
_IMGCLF_LOADER = "mlflow.pyfunc.loaders.code_model"
_IMGCLF_MODEL_CODE = "pyfunc_model.py"
_IMGCLF_METADATA_KEY = "imgclf.weights_sha256"  # mlflow_model.WEIGHTS_SHA_TAG
_REGISTRY_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))/?")


class ModelMismatchError(UserError):
    """The model is not an imgclf model, or its files are not the registered ones."""


def model_file_hashes(folder: str | Path) -> dict[str, str]:
    """SHA-256 of every file in a model folder, by its path relative to the folder."""
    folder = Path(folder)
    return {
        path.relative_to(folder).as_posix(): file_sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.relative_to(folder).as_posix() not in _WRITTEN_ON_DOWNLOAD
    }


def file_hash_tags(hashes: dict[str, str]) -> dict[str, str]:
    """The registry version tags that record ``hashes``."""
    return {FILE_TAG_PREFIX + name: sha for name, sha in hashes.items()}


def hashes_from_tags(tags: dict[str, str]) -> dict[str, str]:
    """The file hashes recorded in a registry version's ``tags`` (empty when none are)."""
    return {
        key.removeprefix(FILE_TAG_PREFIX): value
        for key, value in tags.items()
        if key.startswith(FILE_TAG_PREFIX)
    }


def logged_model_file_tags(model_uri: str) -> dict[str, str]:
    """Download the logged model at ``model_uri`` and return its file-hash tags."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory(prefix="imgclf-hash-") as folder:
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=folder)
        return file_hash_tags(model_file_hashes(local))


def verify_model_files(folder: str | Path, expected: dict[str, str], label: str) -> None:
    """Raise :class:`ModelMismatchError` unless ``folder`` holds exactly the files of
    ``expected`` with those hashes; ``label`` names the model in the message."""
    actual = model_file_hashes(folder)
    changed = sorted(name for name in expected if actual.get(name) != expected[name])
    added = sorted(set(actual) - set(expected))
    if changed or added:
        what = ", ".join([*(f"{name} changed" for name in changed),
                          *(f"{name} added" for name in added)])  # fmt: skip
        raise ModelMismatchError(
            f"{label}: its files differ from those recorded when it was registered ({what}); "
            "refusing to load it: the artifact store was modified after registration"
        )


def check_imgclf_model(folder: str | Path, label: str) -> None:
    """Refuse a model folder whose ``MLmodel`` is not that of an imgclf model, reading only
    that file: another flavour's loader could unpickle whatever the store holds."""
    mlmodel = Path(folder) / "MLmodel"
    try:
        document = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelMismatchError(f"{label}: no readable MLmodel file ({exc})") from None
    document = document if isinstance(document, dict) else {}
    flavors = document.get("flavors") or {}
    pyfunc = flavors.get("python_function") if isinstance(flavors, dict) else None
    is_imgclf = (
        isinstance(pyfunc, dict)
        and set(flavors) == {"python_function"}
        and pyfunc.get("loader_module") == _IMGCLF_LOADER
        and Path(str(pyfunc.get("model_code_path", ""))).name == _IMGCLF_MODEL_CODE
        and _IMGCLF_METADATA_KEY in (document.get("metadata") or {})
    )
    if not is_imgclf:
        names = ", ".join(flavors) if isinstance(flavors, dict) and flavors else "none"
        raise ModelMismatchError(
            f"{label}: not an imgclf model (flavours: {names}); refusing to load it. Pass a "
            "model logged by `dvc repro evaluate`, a .ckpt or a .onnx"
        )


def verified_model_copy(uri: str, folder: str | Path) -> Path:
    """Download the model at ``uri`` into ``folder`` and return the local copy, after
    checking it is an imgclf model and, for a registry URI (``models:/<name>@<alias>``,
    ``models:/<name>/<version>``), that its files are those recorded at registration."""
    if Path(uri).is_dir():  # a local model folder: copied, so the copy checked is the one loaded
        local = Path(shutil.copytree(uri, Path(folder) / "model", symlinks=True))
        check_imgclf_model(local, uri)
        return local
    import mlflow
    from mlflow.exceptions import MlflowException

    registry = _REGISTRY_URI.fullmatch(uri)
    try:
        # An alias is resolved once: the files checked are those of the version downloaded.
        version = (
            _registry_version(registry["name"], registry["alias"], registry["version"])
            if registry
            else None
        )
        source = f"models:/{version.name}/{version.version}" if version else uri
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(folder)))
    except (MlflowException, OSError) as exc:
        raise ModelMismatchError(
            f"{uri}: cannot download the model ({str(exc).splitlines()[0]})"
        ) from None
    check_imgclf_model(local, uri)
    if version is not None:
        expected = hashes_from_tags(version.tags)
        if not expected:
            raise ModelMismatchError(
                f"{uri}: registry version {version.version} has no recorded file hashes "
                f"({FILE_TAG_PREFIX}*), so its files cannot be checked; register it again "
                "with `dvc repro evaluate`"
            )
        verify_model_files(local, expected, f"{uri} (version {version.version})")
    return local


def _registry_version(name: str, alias: str | None, version: str | None) -> ModelVersion:
    from mlflow import MlflowClient

    client = MlflowClient()
    if alias:
        return client.get_model_version_by_alias(name, alias)
    return client.get_model_version(name, str(version))
