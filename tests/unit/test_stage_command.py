"""The stage boundary: a user mistake is one line on stderr, exit status 2, and a params
value rejected deep in the library names the params file the stage actually read."""

from __future__ import annotations

from pathlib import Path

import pytest

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
