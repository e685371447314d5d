"""A model is loaded only if it is an imgclf model whose files are the registered ones."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgclf.serving.model_files import ModelMismatchError, model_file_hashes, verify_model_files
from imgclf.serving.predict import main as predict_main


class _TouchOnUnpickle:
    """Unpickling this creates ``marker``: what a hostile pickle in a model could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_predict_refuses_a_non_imgclf_model_before_unpickling_it(tmp_path, capsys) -> None:
    model = tmp_path / "sklearn-model"
    model.mkdir()
    marker = tmp_path / "unpickled"
    (model / "model.pkl").write_bytes(pickle.dumps(_TouchOnUnpickle(marker)))
    (model / "MLmodel").write_text(
        "flavors:\n"
        "  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n"
        "  sklearn:\n    pickled_model: model.pkl\n    serialization_format: pickle\n"
    )
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    assert predict_main([str(image), "--model", str(model), "--params", "none"]) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and "not an imgclf model (flavours: python_function, sklearn)" in err
    )
    assert not marker.exists()


def test_a_changed_or_added_file_is_named(tmp_path) -> None:
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "model.json").write_text("{}")
    (tmp_path / "pyfunc_model.py").write_text("pass\n")
    expected = model_file_hashes(tmp_path)
    verify_model_files(tmp_path, expected, "m")
    (tmp_path / "artifacts" / "model.json").write_text('{"limits": {}}')
    (tmp_path / "extra.pth").write_bytes(b"x")
    with pytest.raises(ModelMismatchError, match="artifacts/model.json changed, extra.pth added"):
        verify_model_files(tmp_path, expected, "m")
