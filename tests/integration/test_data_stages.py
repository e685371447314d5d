"""ingest -> validate -> split through the stage entry points, on a folder of colour JPEGs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from imgclf.data.schema import read_classes, read_manifest, read_split
from imgclf.data.store import StoreImages
from pipelines import ingest, split, validate

OUTPUTS = {
    "images": "data/images",
    "manifest": "data/manifest.csv",
    "classes": "data/classes.json",
    "rejected": "reports/rejected.csv",
    "report": "reports/validation.json",
    "docs": "reports/validation_docs",
    "splits": "data/splits",
}
CLASSES = ("apple", "pear", "plum")


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite tracking store for the module: creating its tables takes seconds."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_uri: str) -> Path:
    """A project root holding ``photos/<class>/*.jpg`` (15 colour JPEGs of mixed sizes per
    class, a README beside them) and params.yaml pointing at it; MLflow in a temp SQLite."""
    rng = np.random.default_rng(0)
    for label_index, label in enumerate(CLASSES):
        for index in range(15):
            height, width = (int(v) for v in rng.integers(20, 80, size=2))
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            pixels[..., label_index] = 255  # each class has its own tint
            path = tmp_path / "photos" / label / f"IMG_{index:03d}.JPG"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path, format="JPEG", quality=90)
    (tmp_path / "photos" / "README.txt").write_text("fruit photos\n")
    write_params(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    return tmp_path


def write_params(root: Path, **validate_overrides: object) -> None:
    params = {
        "data": {
            "source": "folder",
            "path": "photos",
            "channels": 3,
            "image_size": 16,
            "resize": "crop",
        },
        "validate": {"min_images_per_class": 10, **validate_overrides},
        "split": {"train": 0.6, "val": 0.2, "test": 0.2, "folds": 3},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def run_ingest() -> int:
    o = OUTPUTS
    args = ["--images", o["images"], "--manifest", o["manifest"], "--classes", o["classes"]]
    return ingest.main([*args, "--rejected", o["rejected"]])


def run_validate() -> int:
    o = OUTPUTS
    args = ["--manifest", o["manifest"], "--images", o["images"], "--classes", o["classes"]]
    return validate.main([*args, "--report", o["report"], "--docs", o["docs"]])


def run_split() -> int:
    o = OUTPUTS
    return split.main(
        ["--manifest", o["manifest"], "--validation", o["report"], "--out", o["splits"]]
    )


def test_folder_of_colour_jpegs_goes_through_ingest_validate_split(project: Path) -> None:
    assert run_ingest() == 0
    manifest = read_manifest("data/manifest.csv")
    rejected = pd.read_csv("reports/rejected.csv")
    assert read_classes("data/classes.json") == list(CLASSES)
    assert len(manifest) == 45 and rejected["reason"].tolist() == [
        "ignored: not inside a class folder"
    ]
    assert StoreImages.of_rows(manifest, "data/images")[0].shape == (16, 16, 3)

    assert run_validate() == 0
    assert json.loads(Path("reports/validation.json").read_text())["success"] is True
    assert Path("reports/validation_docs/index.html").is_file()

    assert run_split() == 0
    splits = {name: read_split(f"data/splits/{name}.csv") for name in ("train", "val", "test")}
    assert [len(splits[name]) for name in ("train", "val", "test")] == [27, 9, 9]
    assert set(pd.concat(splits.values())["path"]) == set(manifest["path"])
    folds = pd.read_csv("data/splits/folds.csv")
    assert sorted(folds["fold"].unique()) == [0, 1, 2] and len(folds) == 36


def test_a_bad_image_stops_ingest_and_leaves_no_outputs(project: Path, capsys) -> None:
    assert run_ingest() == 0
    (project / "photos" / "pear" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    assert run_ingest() == 2
    error = capsys.readouterr().err
    assert "1 bad image file(s)" in error and "broken.jpg" in error
    for name in ("images", "manifest", "classes"):
        assert not Path(OUTPUTS[name]).exists(), name


def test_failed_validation_exits_non_zero_naming_the_expectation_and_split_refuses(
    project: Path, capsys
) -> None:
    write_params(project, min_images_per_class=20)
    assert run_ingest() == 0
    assert run_validate() == 2
    error = capsys.readouterr().err
    assert "class_balance: expect_column_values_to_be_between(images)" in error
    assert "15 (label=apple)" in error
    assert json.loads(Path("reports/validation.json").read_text())["success"] is False
    assert run_split() == 2
    assert "failed validation" in capsys.readouterr().err


def test_digits_ingest_gives_ten_classes_of_8x8_grayscale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    (tmp_path / "params.yaml").write_text("data: {source: digits}\n")
    assert run_ingest() == 0
    manifest = read_manifest("data/manifest.csv")
    assert len(manifest) == 1797 and set(manifest["mode"]) == {"L"}
    assert read_classes("data/classes.json") == [str(digit) for digit in range(10)]
    first = manifest[manifest["path"] == "0/0000"]
    assert StoreImages.of_rows(first, "data/images")[0].shape == (8, 8)
