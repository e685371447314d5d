"""``imgclf compare REV`` on a tiny git + DVC repository made in ``tmp_path``: the working
tree's predictions against a committed revision's, kept in git or in the DVC cache."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from statsmodels.stats.contingency_tables import mcnemar

from imgclf.cli import main
from imgclf.evaluation.predictions import PREDICTION_COLUMNS

PREDICTIONS = "reports/predictions.csv"
LABELS = ["cat", "dog", "bird"]


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=root, check=True, capture_output=True,
    )  # fmt: skip


def predictions(n: int, wrong: set[int], first: int = 0) -> pd.DataFrame:
    """``n`` test images (image ``first`` onwards), the model wrong on the images in ``wrong``."""
    ids = range(first, first + n)
    labels = [LABELS[i % 3] for i in ids]
    predicted = [LABELS[(i + 1) % 3] if i in wrong else LABELS[i % 3] for i in ids]
    return pd.DataFrame(
        {
            "path": [f"{label}/{i:04d}" for i, label in zip(ids, labels, strict=True)],
            "sha256": [hashlib.sha256(f"image {i}".encode()).hexdigest() for i in ids],
            "label": labels,
            "predicted": predicted,
            "confidence": 0.9,
            "baseline_predicted": labels,
        },
        columns=PREDICTION_COLUMNS,
    )


def write(root: Path, table: pd.DataFrame) -> None:
    (root / "reports").mkdir(exist_ok=True)
    table.to_csv(root / PREDICTIONS, index=False)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """An empty git + DVC project as the current directory."""
    from dvc.repo import Repo

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    _git(tmp_path, "init", "-q", "-b", "main")
    Repo.init(str(tmp_path)).close()
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "dvc init")
    return tmp_path


def commit_in_git(root: Path, table: pd.DataFrame, message: str = "predictions") -> None:
    write(root, table)
    _git(root, "add", PREDICTIONS)
    _git(root, "commit", "-q", "-m", message)


def commit_in_dvc_cache(root: Path, table: pd.DataFrame) -> None:
    from dvc.repo import Repo

    write(root, table)
    with Repo(str(root)) as project:
        project.add(PREDICTIONS)
    _git(root, "add", f"{PREDICTIONS}.dvc", "reports/.gitignore")
    _git(root, "commit", "-q", "-m", "predictions in the DVC cache")


def compare(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["compare", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def line(table: str, name: str) -> str:
    (found,) = [row for row in table.splitlines() if row.startswith(name)]
    return found[len(name) :].strip()


def test_against_head_on_an_unchanged_tree_the_difference_is_zero(repo, capsys):
    commit_in_git(repo, predictions(40, wrong={3, 17}))

    status, out, err = compare(capsys)  # REV defaults to HEAD

    assert status == 0, err
    assert line(out, "accuracy, working tree") == line(out, "accuracy, HEAD") == "0.950"
    assert line(out, "difference (working tree - HEAD)") == "+0.0 points (95% CI +0.0 to +0.0)"
    assert line(out, "McNemar exact p") == "1"
    assert line(out, "shared test images").startswith("40 ")
    assert line(out, "verdict").startswith("identical")


def test_a_different_model_in_the_dvc_cache_gets_paired_figures_and_mcnemars_p(repo, capsys):
    # The old model is wrong on images 0-11, the new one on 0-1: on the 40 shared images
    # both are right on 28, only the new one on 10, only the old one on none, both wrong on 2.
    commit_in_dvc_cache(repo, predictions(40, wrong=set(range(12))))
    _git(repo, "tag", "old-model")
    write(repo, predictions(40, wrong={0, 1}))

    status, out, err = compare(capsys, "old-model", "--json")

    assert status == 0, err
    result = json.loads(out)
    assert result["working_tree_accuracy"] == pytest.approx(38 / 40)
    assert result["rev_accuracy"] == pytest.approx(28 / 40)
    assert result["delta"] == pytest.approx(10 / 40)
    assert result["delta_ci95_low"] < 10 / 40 < result["delta_ci95_high"]
    assert result["p_value"] == pytest.approx(mcnemar([[28, 10], [0, 2]], exact=True).pvalue)
    assert result["p_value"] == pytest.approx(2 * 0.5**10)
    assert result["n_shared"] == 40
    assert result["winner"] == "working tree"
    assert result["verdict"] == "working tree better, proven at alpha 0.05"


def test_a_small_gap_is_not_proven_and_no_winner_is_called(repo, capsys):
    commit_in_git(repo, predictions(40, wrong={0, 1, 2}))
    write(repo, predictions(40, wrong={0}))

    status, out, _ = compare(capsys, "main")

    assert status == 0
    assert line(out, "difference (working tree - main)").startswith("+5.0 points (95% CI ")
    assert line(out, "McNemar exact p") == "0.5"  # 2 of 2 disagreements: 2 * 0.5**2
    assert line(out, "verdict") == "working tree better, not proven at alpha 0.05"


def test_too_few_shared_images_refuses_to_call_a_winner_and_says_how_many(repo, capsys):
    commit_in_git(repo, predictions(40, wrong=set(range(20))))
    # A re-split: the working tree's test split keeps 10 of those images and adds 30 new ones.
    write(repo, predictions(40, wrong=set(), first=30))

    status, out, err = compare(capsys, "--json")

    assert status == 0, err
    result = json.loads(out)
    assert result["n_shared"] == 10
    assert (result["n_only_working_tree"], result["n_only_rev"]) == (30, 30)
    assert result["winner"] is None
    assert result["verdict"] == (
        "too few shared test images (10 < --min-shared 30): no winner called"
    )

    status, out, _ = compare(capsys, "--min-shared", "10")
    assert status == 0
    assert line(out, "shared test images") == ("10 (30 only in the working tree, 30 only at HEAD)")
    assert "too few" not in line(out, "verdict")


def test_json_carries_the_same_figures_as_the_table(repo, capsys):
    commit_in_git(repo, predictions(60, wrong=set(range(9))))
    write(repo, predictions(60, wrong={4, 50, 51}))

    _, table, _ = compare(capsys, "--alpha", "0.01")
    _, document, _ = compare(capsys, "--alpha", "0.01", "--json")
    result = json.loads(document)

    assert line(table, "accuracy, working tree") == f"{result['working_tree_accuracy']:.3f}"
    assert line(table, "accuracy, HEAD") == f"{result['rev_accuracy']:.3f}"
    assert line(table, "difference (working tree - HEAD)") == (
        f"{100 * result['delta']:+.1f} points (95% CI {100 * result['delta_ci95_low']:+.1f} "
        f"to {100 * result['delta_ci95_high']:+.1f})"
    )
    assert line(table, "McNemar exact p") == f"{result['p_value']:.2g}"
    assert line(table, "shared test images").startswith(f"{result['n_shared']} ")
    assert line(table, "verdict") == result["verdict"]
    assert result["alpha"] == 0.01


def _one_line_error(capsys, *args: str) -> str:
    status, out, err = compare(capsys, *args)
    assert status == 2
    assert out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err.strip()


def test_an_unknown_revision_is_one_line_and_exit_2(repo, capsys):
    commit_in_git(repo, predictions(40, wrong=set()))

    err = _one_line_error(capsys, "no-such-branch")
    assert "no-such-branch: unknown git revision" in err


def test_a_missing_file_at_the_revision_or_in_the_tree_is_one_line_and_exit_2(repo, capsys):
    write(repo, predictions(40, wrong=set()))  # in the tree, never committed

    err = _one_line_error(capsys, "HEAD")
    assert f"{PREDICTIONS} at HEAD: not found" in err and "dvc repro evaluate" in err

    commit_in_git(repo, predictions(40, wrong=set()))
    (repo / PREDICTIONS).unlink()
    err = _one_line_error(capsys)
    assert f"{PREDICTIONS}: not found in the working tree; run `dvc repro evaluate`" in err


def test_a_file_without_the_needed_columns_names_the_column_and_exits_2(repo, capsys):
    commit_in_git(repo, predictions(40, wrong=set()).drop(columns=["sha256"]))
    write(repo, predictions(40, wrong=set()))

    err = _one_line_error(capsys)
    assert f"{PREDICTIONS} at HEAD: missing column(s) sha256" in err
