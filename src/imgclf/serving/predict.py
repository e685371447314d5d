"""``imgclf predict PATH... [--model URI_OR_FILE] [--format table|json] [--top-k K]``

Classifies image files (or every image in the folders given) with the same preparation as
training. ``--model`` is a checkpoint (``.ckpt``), an ONNX file written by the train stage,
or an MLflow model (``models:/<name>@champion``, ``runs:/...``, a local model folder). A
file that cannot be read is reported by name; the others still get predictions. Exit
status: 0 all predicted, 1 some files failed, 2 usage or model problems.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from imgclf.config import DataConfig, load_params
from imgclf.data.images import ALLOWED_SUFFIXES
from imgclf.errors import UserError
from imgclf.serving.classifier import InferenceClassifier
from imgclf.serving.image_inputs import ImageSettings
from imgclf.serving.model_files import verified_model_copy
from imgclf.serving.onnx_export import OnnxClassifier, load_onnx

BATCH = 256


class Predictor(Protocol):
    @property
    def class_names(self) -> Sequence[str]: ...

    def load_file(self, path: str | Path) -> np.ndarray: ...

    def probabilities(self, images: Sequence[np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True)
class OnnxPredictor:
    """An ONNX file's classifier behind the same interface as :class:`InferenceClassifier`."""

    onnx: OnnxClassifier
    settings: ImageSettings

    @property
    def class_names(self) -> Sequence[str]:
        return self.onnx.spec.class_names

    def load_file(self, path: str | Path) -> np.ndarray:
        return self.settings.load_file(path)

    def probabilities(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return self.onnx.probabilities(np.stack(list(images)))


def load_predictor(model: str, data: DataConfig | None = None) -> Predictor:
    """Open ``model`` (checkpoint, ONNX file or MLflow model URI/folder).

    Checkpoints and ONNX files take the resize policy and pixel limit from ``data``; an
    MLflow model carries its own.
    """
    path = Path(model)
    if path.suffix == ".ckpt":
        from imgclf.models.checkpoint import load_classifier

        loaded = load_classifier(path)
        return InferenceClassifier(
            loaded.net, loaded.spec, ImageSettings.for_spec(loaded.spec, data)
        )
    if path.suffix == ".onnx":
        if not path.is_file():
            raise UserError(f"{path}: ONNX model not found; run `dvc repro train` or pass --model")
        onnx = load_onnx(path)
        return OnnxPredictor(onnx, ImageSettings.for_spec(onnx.spec, data))
    return _load_mlflow_classifier(model)


def _load_mlflow_classifier(uri: str) -> InferenceClassifier:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="imgclf-model-") as folder:
        # Checked before anything of it is loaded: loading runs the model's code.
        local = verified_model_copy(uri, folder)
        import mlflow
        from mlflow.exceptions import MlflowException

        try:
            model = mlflow.pyfunc.load_model(str(local))
            classifier = model.unwrap_python_model().classifier
        except (MlflowException, OSError, AttributeError) as exc:
            raise UserError(
                f"--model {uri}: cannot load it as an imgclf MLflow model "
                f"({str(exc).splitlines()[0]}); pass a .ckpt, a .onnx or a "
                "models:/<name>@<alias> URI"
            ) from None
    return classifier


def image_files(paths: Sequence[str]) -> Iterator[Path]:
    """Files as given; folders expanded to their image files (recursively, sorted)."""
    for item in map(Path, paths):
        if item.is_dir():
            yield from sorted(
                p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in ALLOWED_SUFFIXES
            )
        else:
            yield item


@dataclass(frozen=True)
class Prediction:
    path: str
    top_k: list[tuple[str, float]]  # (label, probability), most probable first

    @property
    def label(self) -> str:
        return self.top_k[0][0]


def predict_files(
    predictor: Predictor, files: Sequence[Path], top_k: int = 3
) -> tuple[list[Prediction], list[tuple[str, str]]]:
    """Classify ``files``; return predictions and ``(path, reason)`` for each bad file."""
    loaded: list[tuple[Path, np.ndarray]] = []
    errors: list[tuple[str, str]] = []
    for path in files:
        try:
            loaded.append((path, predictor.load_file(path)))
        except UserError as exc:
            errors.append((str(path), str(exc)))
    predictions = []
    names = list(predictor.class_names)
    k = max(1, min(top_k, len(names)))
    for start in range(0, len(loaded), BATCH):
        chunk = loaded[start : start + BATCH]
        probs = predictor.probabilities([image for _, image in chunk])
        for (path, _), row in zip(chunk, probs, strict=True):
            best = np.argsort(-row, kind="stable")[:k]
            predictions.append(Prediction(str(path), [(names[i], float(row[i])) for i in best]))
    return predictions, errors


def format_table(predictions: list[Prediction], errors: list[tuple[str, str]]) -> str:
    width = max([len("path"), *(len(p.path) for p in predictions), *(len(e[0]) for e in errors)])
    lines = [f"{'path':<{width}}  {'label':<12}  top-k"]
    for p in predictions:
        top = "  ".join(f"{label} {prob:.3f}" for label, prob in p.top_k)
        lines.append(f"{p.path:<{width}}  {p.label:<12}  {top}")
    lines += [f"{path:<{width}}  {'ERROR':<12}  {reason}" for path, reason in errors]
    return "\n".join(lines)


def format_json(predictions: list[Prediction], errors: list[tuple[str, str]]) -> str:
    document = {
        "predictions": [
            {
                "path": p.path,
                "label": p.label,
                "probability": p.top_k[0][1],
                "top_k": [{"label": label, "probability": prob} for label, prob in p.top_k],
            }
            for p in predictions
        ],
        "errors": [{"path": path, "error": reason} for path, reason in errors],
    }
    return json.dumps(document, indent=2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imgclf predict", description="Classify image files.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders of images")
    parser.add_argument(
        "--model",
        default="models/model.ckpt",
        help="checkpoint, ONNX file or MLflow model URI (default: models/model.ckpt)",
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--top-k", type=int, default=3, help="probabilities shown per image")
    parser.add_argument(
        "--params",
        default="params.yaml",
        help="data.resize and data.max_image_pixels for .ckpt/.onnx models, if the file exists",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``imgclf predict``; returns the exit status."""
    args = build_parser().parse_args(argv)
    # Errors are one line on stderr: no download progress bars in between (user can opt in).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        if args.top_k < 1:
            raise UserError(f"--top-k {args.top_k}: expected a positive number")
        data = load_params(args.params).data if Path(args.params).is_file() else None
        files = list(image_files(args.paths))
        if not files:
            raise UserError(f"no image files in {' '.join(args.paths)}")
        predictor = load_predictor(args.model, data)
        predictions, errors = predict_files(predictor, files, args.top_k)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    render = format_json if args.format == "json" else format_table
    print(render(predictions, errors))
    for path, reason in errors:
        print(f"error: {path}: {reason}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
