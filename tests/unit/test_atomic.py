"""Outputs appear whole or not at all."""

from pathlib import Path

import pytest

from imgclf.atomic import atomic_path, write_json


def test_failed_write_leaves_the_previous_file_untouched(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    write_json(target, {"accuracy": 0.9})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"accuracy": 0.')
        raise RuntimeError("killed half-way")
    assert target.read_text().strip().endswith("}")
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_folder_output_is_replaced_in_one_rename(tmp_path: Path) -> None:
    target = tmp_path / "images"
    (target / "old").mkdir(parents=True)
    with atomic_path(target) as tmp:
        (tmp / "new").mkdir(parents=True)
    assert [p.name for p in target.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["images"]
