"""The stage boundary: a user mistake is one line on stderr, exit status 2, and a params
value rejected deep in the library names the params file the stage actually read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imgclf.atomic import atomic_path
from imgclf.config import Params
from imgclf.errors import DataError, ParamError
from imgclf.stages.command import run_stage


def test_a_rejected_params_value_names_the_params_file_given_with_dash_dash_params(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params_file = tmp_path / "experiment.yaml"
    params_file.write_text("seed: 3\n")

    def stage(params: Params) -> None:
        raise ParamError(f"model.name = 'cnnn': expected one of mlp, cnn (seed {params.seed})")

    assert run_stage(str(params_file), stage) == 2
    assert capsys.readouterr().err == (
        f"error: {params_file}: model.name = 'cnnn': expected one of mlp, cnn (seed 3)\n"
    )


def test_a_data_error_is_one_line_and_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params_file = tmp_path / "params.yaml"
    params_file.write_text("{}\n")

    def stage(params: Params) -> None:
        raise DataError("the train split is empty")

    assert run_stage(str(params_file), stage) == 2
    assert capsys.readouterr().err == "error: the train split is empty\n"


def _killed_atomic_write(target: Path) -> None:
    """What ``kill -9`` in the middle of writing ``target`` atomically leaves behind."""
    pid = os.fork()
    if pid == 0:  # the child dies inside atomic_path: no finally clause runs
        with atomic_path(target) as tmp:
            tmp.mkdir() if target.suffix == "" else tmp.write_text("half")
            if target.suffix == "":
                (tmp / "half.png").write_bytes(b"\x89PNG")
            os._exit(9)
    os.waitpid(pid, 0)


def test_a_stage_start_removes_what_a_killed_atomic_write_left_in_its_outputs(
    tmp_path: Path,
) -> None:
    params_file = tmp_path / "params.yaml"
    params_file.write_text("{}\n")
    data, reports = tmp_path / "data", tmp_path / "reports"
    reports.mkdir()
    _killed_atomic_write(data / "images")  # a folder output
    _killed_atomic_write(data / "manifest.csv")  # a file output
    _killed_atomic_write(reports / "plots")  # a folder output: its files ...
    _killed_atomic_write(reports / "plots" / "roc.csv")  # ... are written atomically inside it
    _killed_atomic_write(data / "other.csv")  # not this stage's output: kept
    keep = [data / "notes.tmp", data / ".images.keep", reports / "plots" / "roc.tmp"]
    for path in keep:
        path.write_text("mine")

    def temporaries() -> list[str]:
        return sorted(p.name for p in tmp_path.rglob(".*.tmp"))

    assert len(temporaries()) == 5
    seen: list[list[str]] = []

    def stage(params: Params) -> None:
        seen.append(temporaries())

    outputs = [data / "images", data / "manifest.csv", reports / "plots"]
    assert run_stage(str(params_file), stage, outputs) == 0
    assert len(seen[0]) == 1 and seen[0][0].startswith(".other.csv.")
    assert all(path.read_text() == "mine" for path in keep)
