"""The tune stage's command line: storage choice, refusals as one line, and a whole tiny run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from imgclf.tuning.liveness import exclusive_run
from imgclf.tuning.storage import resolve_storage
from pipelines.tune import main
from tests.unit.test_tuning_objective import tiny_inputs  # noqa: F401  (fixture)

TINY_PARAMS = {
    "model": {"name": "mlp", "width": 8, "depth": 1},
    "train": {"batch_size": 8, "scheduler": "none"},
    "tune": {
        "n_trials": 2,
        "max_epochs": 1,
        "space": {"train.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}},
    },
}


def stage_args(root: Path, inputs: object | None = None) -> list[str]:
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump(TINY_PARAMS))
    splits = getattr(inputs, "splits_dir", str(root / "splits"))
    store = getattr(inputs, "store_dir", str(root / "images"))
    classes = getattr(inputs, "classes_path", str(root / "classes.json"))
    return [
        "--params", str(params), "--splits", splits, "--images", store, "--classes", classes,
        "--augment", str(root / "augment.json"), "--storage-file", str(root / "optuna.db"),
        "--journal-file", str(root / "optuna.journal"), "--best-params", str(root / "best.yaml"),
        "--report", str(root / "tune.json"), "--plots", str(root / "plots"),
        "--predictions", str(root / "tune_predictions.csv"),
    ]  # fmt: skip


def local_stage_args(root: Path, inputs: object, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stage's arguments for a run in ``root`` on ``inputs``, with its own MLflow store."""
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
    args = stage_args(root, inputs)
    args[args.index("--augment") + 1] = _write_augment(root)
    return args


def test_sqlite_storage_with_several_workers_stops_the_stage_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [*stage_args(tmp_path), "--storage", f"sqlite:///{tmp_path}/x.db", "--workers", "2"]
    )

    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error.startswith("error: tune: storage") and "SQLite locks the whole file" in error
    assert "\n" not in error


def test_storage_url_comes_from_the_environment_when_not_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMGCLF_OPTUNA_STORAGE", "sqlite:///from-env.db")

    code = main([*stage_args(tmp_path), "--workers", "3"])

    assert code == 2
    assert "'sqlite:///from-env.db' with --workers 3" in capsys.readouterr().err


def test_second_tune_on_the_stage_study_file_is_refused_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    args = stage_args(tmp_path)
    first_run = resolve_storage(
        None, storage_file=str(tmp_path / "optuna.db"), journal_file="-", workers=1
    )

    with exclusive_run(first_run):
        code = main(args)

    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error.startswith("error: tune: another `imgclf tune` is running on")
    assert "\n" not in error
    assert not (tmp_path / "mlflow.db").exists(), "the refused run started an MLflow run"
    assert not (tmp_path / "best.yaml").exists()


@pytest.mark.slow
def test_tiny_tune_stage_writes_best_params_report_and_plots(
    tmp_path: Path,
    tiny_inputs: object,  # noqa: F811  (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = local_stage_args(tmp_path, tiny_inputs, monkeypatch)

    assert main(args) == 0

    assert set(yaml.safe_load((tmp_path / "best.yaml").read_text())) == {"train.lr"}
    report = json.loads((tmp_path / "tune.json").read_text())
    assert report["counts"]["complete"] + report["counts"]["pruned"] == 2
    assert len(list((tmp_path / "plots").glob("*.png"))) == 3
    assert main(args) == 0, "a re-run of a complete study"
    assert len(json.loads((tmp_path / "tune.json").read_text())["trials"]) == 2


def test_budget_runs_the_trials_the_final_training_pays_for_unless_a_count_is_asked_for(
    tmp_path: Path,
    tiny_inputs: object,  # noqa: F811  (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    args = local_stage_args(tmp_path, tiny_inputs, monkeypatch)
    # A trial of 2 epochs on the whole train split; the final training is 5 epochs: budget 1.0
    # pays for 2 whole trials of the 6 asked for.
    params = {**TINY_PARAMS, "train": {**TINY_PARAMS["train"], "max_epochs": 5}}
    params["tune"] = {**TINY_PARAMS["tune"], "n_trials": 6, "max_epochs": 2, "budget": 1.0}
    Path(args[args.index("--params") + 1]).write_text(yaml.safe_dump(params))

    with caplog.at_level("INFO", logger="imgclf"):
        assert main(args) == 0

    report = json.loads((tmp_path / "tune.json").read_text())
    assert report["n_trials"] == 2 and len(report["trials"]) == 2
    assert "at most 0.80x the final training" in caplog.text
    assert "tune.budget 1 allows 2 of tune.n_trials 6" in caplog.text
    # A count on the command line is what the user asked for: the budget does not cut it.
    assert main([*args, "--n-trials", "3"]) == 0
    assert len(json.loads((tmp_path / "tune.json").read_text())["trials"]) == 3


def test_changed_training_code_starts_a_fresh_local_study(
    tmp_path: Path,
    tiny_inputs: object,  # noqa: F811  (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stage's own study file kept the trials of older code, so a re-run after a code
    change (DVC re-runs the stage) reported them, while a fresh clone trained new ones."""
    import optuna

    import imgclf
    from imgclf.fingerprint import code_files
    from imgclf.stages import tune as tune_stage

    package = Path(imgclf.__file__).parent
    sources = {path.relative_to(package).as_posix() for path in code_files()}
    assert {"training/fit.py", "tuning/objective.py", "data/datamodule.py"} <= sources
    args = local_stage_args(tmp_path, tiny_inputs, monkeypatch)
    code = tmp_path / "fit.py"
    monkeypatch.setattr(tune_stage, "code_files", lambda: [code])

    code.write_text("the code of one commit\n")
    assert main(args) == 0
    first = json.loads((tmp_path / "tune.json").read_text())["study"]
    assert main(args) == 0, "a re-run under the same code"
    assert json.loads((tmp_path / "tune.json").read_text())["study"] == first
    code.write_text("the code of the next commit\n")
    assert main(args) == 0

    assert json.loads((tmp_path / "tune.json").read_text())["study"] != first
    studies = optuna.get_all_study_summaries(f"sqlite:///{tmp_path}/optuna.db")
    assert sorted(study.n_trials for study in studies) == [2, 2]


def _write_augment(root: Path) -> str:
    from imgclf.augment import build_augmentation, save_augmentation

    path = root / "augment.json"
    save_augmentation(build_augmentation([], seed=0), path)
    return str(path)


@pytest.mark.slow
def test_a_study_under_ddp_train_settings_logs_one_run_per_trial(
    tmp_path: Path,
    tiny_inputs: object,  # noqa: F811  (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """train.devices: 2 with ddp is for the train stage; each trial trains on one device,
    so no second process asks Optuna for a trial of its own."""
    import mlflow

    args = local_stage_args(tmp_path, tiny_inputs, monkeypatch)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["train"].update(accelerator="cpu", devices=2, strategy="ddp")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))

    assert main(args) == 0

    report = json.loads((tmp_path / "tune.json").read_text())
    assert report["counts"]["complete"] + report["counts"]["pruned"] == 2
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    runs = mlflow.search_runs(search_all_experiments=True)
    trial_runs = runs[runs["tags.mlflow.runName"].str.startswith("trial-")]
    assert len(trial_runs) == 2


def test_folds_without_a_folds_file_stop_the_stage_with_one_line_naming_split_folds(
    tmp_path: Path,
    tiny_inputs: object,  # noqa: F811  (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = local_stage_args(tmp_path, tiny_inputs, monkeypatch)
    params = {**TINY_PARAMS, "tune": {**TINY_PARAMS["tune"], "folds": True}}
    Path(args[args.index("--params") + 1]).write_text(yaml.safe_dump(params))

    assert main(args) == 2

    error = capsys.readouterr().err.strip()
    assert "tune.folds = true needs" in error and "split.folds > 1" in error, error
    assert "\n" not in error and not (tmp_path / "tune.json").exists()
