"""`imgclf predict` on image files of mixed formats, with one corrupt file among them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from imgclf.serving.predict import main
from tests.support.tiny_classifier import CLASSES, class_image, tiny_classifier, write_checkpoint


@pytest.fixture
def model(tmp_path):
    return write_checkpoint(tiny_classifier(), tmp_path / "model.ckpt")


@pytest.fixture
def images(tmp_path):
    """A PNG, a JPEG (colour, larger) and a BMP in a folder, plus a corrupt PNG."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(class_image(0, rng)).save(folder / "dark.png")
    Image.fromarray(np.dstack([class_image(2, rng, 32)] * 3)).save(
        folder / "bright.jpg", quality=95
    )
    Image.fromarray(class_image(1, rng, 16)).save(folder / "mid.bmp")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    return folder


def test_bad_file_is_named_and_the_others_are_predicted(model, images, capsys):
    files = [images / n for n in ("dark.png", "broken.png", "bright.jpg", "mid.bmp")]
    status = main([*map(str, files), "--model", str(model), "--format", "json", "--params", "none"])
    assert status == 1
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert [p["path"] for p in result["predictions"]] == [
        str(f) for f in files if f.name != "broken.png"
    ]
    assert all(p["label"] in CLASSES for p in result["predictions"])
    assert [e["path"] for e in result["errors"]] == [str(images / "broken.png")]
    assert "broken.png" in err


def test_top_k_probabilities_are_sorted_and_sum_to_at_most_one(model, images, capsys):
    assert (
        main([str(images / "dark.png"), "--model", str(model), "--top-k", "2", "--format", "json"])
        == 0
    )
    top = json.loads(capsys.readouterr().out)["predictions"][0]["top_k"]
    probs = [entry["probability"] for entry in top]
    assert len(top) == 2 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6


def test_folder_argument_and_table_format(model, images, capsys):
    assert main([str(images), "--model", str(model)]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["path", "label"]
    assert sum("ERROR" in line for line in lines) == 1 and len(lines) == 5


def test_onnx_model_gives_the_same_labels_as_the_checkpoint(tmp_path, model, images, capsys):
    from imgclf.serving.onnx_export import export_onnx

    classifier = tiny_classifier()
    onnx = export_onnx(classifier.net, classifier.spec, tmp_path / "model.onnx")
    results = []
    for path in (model, onnx):
        main([str(images), "--model", str(path), "--format", "json"])
        results.append(json.loads(capsys.readouterr().out)["predictions"])
    assert [p["label"] for p in results[0]] == [p["label"] for p in results[1]]
    assert np.allclose(
        [p["probability"] for p in results[0]], [p["probability"] for p in results[1]], atol=1e-4
    )


def test_missing_model_is_one_line_exit_2(images, tmp_path, capsys):
    assert main([str(images), "--model", str(tmp_path / "nope.ckpt")]) == 2
    assert "nope.ckpt" in capsys.readouterr().err
