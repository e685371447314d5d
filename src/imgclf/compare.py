"""``imgclf compare [REV] [--alpha A] [--min-shared N] [--json]``: the working tree's
``reports/predictions.csv`` against the one at git revision REV (default ``HEAD``), on the
test images both hold.

The REV file is read with ``dvc.api.open``, so it may be kept in git or in the DVC cache.
Rows pair by ``sha256`` (image content, not file name); images only one side has are
counted, not compared. Both sides are scored against the working tree's labels, so a
label fixed since REV counts for both. The statistics are
:func:`imgclf.evaluation.significance.compare_accuracy`'s (a paired bootstrap interval
and McNemar's exact test), the same ones that decide a promotion.

Below ``--min-shared`` shared images (default 30) the figures are still shown but no
winner is called; that is an answer, not an error, so the exit status is 0. Exit status
2: a missing file or revision, or a file without the needed columns.

This module is not in ``imgclf/evaluation/`` on purpose: that folder is a dep of the
evaluate stage, and a command no stage runs must not make ``dvc.lock`` stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from imgclf.errors import StaleArtifactError, UserError
from imgclf.evaluation.predictions import parse_predictions
from imgclf.evaluation.significance import MCNEMAR, compare_accuracy
from imgclf.stages.default_paths import DEFAULT_PATHS

PREDICTIONS = DEFAULT_PATHS["predictions"]
# McNemar's exact test on a few dozen images can only prove a large gap, and an interval
# from fewer images than this says little; below it no winner is called.
MIN_SHARED = 30
WORKING_TREE = "working tree"


@dataclass(frozen=True)
class RevisionComparison:
    """Working tree minus ``rev`` in accuracy on the ``n_shared`` images both scored.

    The figures are None when the two share no image."""

    rev: str
    working_tree_accuracy: float | None
    rev_accuracy: float | None
    delta: float | None
    delta_ci95_low: float | None
    delta_ci95_high: float | None
    p_value: float | None
    test: str
    n_shared: int
    n_only_working_tree: int
    n_only_rev: int
    alpha: float
    min_shared: int
    winner: str | None  # WORKING_TREE, rev, or None: no winner called
    verdict: str


def compare_predictions(
    tree: pd.DataFrame, old: pd.DataFrame, rev: str, alpha: float, min_shared: int = MIN_SHARED
) -> RevisionComparison:
    """Pair two parsed predictions tables by sha256 and compare their accuracy."""
    # An image kept twice in one split would pair with itself and count twice.
    tree, old = tree.drop_duplicates("sha256"), old.drop_duplicates("sha256")
    paired = tree.merge(old, on="sha256", suffixes=("", "_rev"))
    n = len(paired)
    figures: dict[str, float | None] = dict.fromkeys(
        ("working_tree_accuracy", "rev_accuracy", "delta", "low", "high", "p_value")
    )
    if n:
        truth = paired["label"].to_numpy()
        new, before = paired["predicted"].to_numpy(), paired["predicted_rev"].to_numpy()
        versus = compare_accuracy(truth, new, before)
        figures = {
            "working_tree_accuracy": float((new == truth).mean()),
            "rev_accuracy": float((before == truth).mean()),
            "delta": versus.delta,
            "low": versus.low,
            "high": versus.high,
            "p_value": versus.p_value,
        }
    winner, verdict = _verdict(paired, figures, rev, alpha, min_shared)
    return RevisionComparison(
        rev=rev,
        working_tree_accuracy=figures["working_tree_accuracy"],
        rev_accuracy=figures["rev_accuracy"],
        delta=figures["delta"],
        delta_ci95_low=figures["low"],
        delta_ci95_high=figures["high"],
        p_value=figures["p_value"],
        test=MCNEMAR,
        n_shared=n,
        n_only_working_tree=len(tree) - n,
        n_only_rev=len(old) - n,
        alpha=alpha,
        min_shared=min_shared,
        winner=winner,
        verdict=verdict,
    )


def _verdict(
    paired: pd.DataFrame, figures: dict, rev: str, alpha: float, min_shared: int
) -> tuple[str | None, str]:
    n = len(paired)
    if n < min_shared:
        return None, (
            f"too few shared test images ({n} < --min-shared {min_shared}): no winner called"
        )
    right_now = paired["predicted"] == paired["label"]
    right_then = paired["predicted_rev"] == paired["label"]
    if (right_now == right_then).all():
        return None, "identical: both right on the same images"
    delta, proven = figures["delta"], figures["p_value"] < alpha
    if delta == 0:
        return None, "equal accuracy, different images right: no winner"
    side = "better" if delta > 0 else "worse"
    if not proven:
        return None, f"{WORKING_TREE} {side}, not proven at alpha {alpha:g}"
    return (WORKING_TREE if delta > 0 else rev), f"{WORKING_TREE} {side}, proven at alpha {alpha:g}"


def read_at_revision(root: Path, rev: str) -> pd.DataFrame:
    """``reports/predictions.csv`` as committed at ``rev`` (in git or in the DVC cache)."""
    import dvc.api
    from dvc.exceptions import DvcException, PathMissingError
    from dvc.scm import RevError

    where = f"{PREDICTIONS} at {rev}"
    try:
        with dvc.api.open(PREDICTIONS, repo=str(root), rev=rev, encoding="utf-8") as file:
            text = file.read()
    except RevError:
        raise UserError(
            f"{rev}: unknown git revision; pass a branch, tag or commit (`git log --oneline`)"
        ) from None
    except (PathMissingError, FileNotFoundError):
        raise StaleArtifactError(
            f"{where}: not found in git or in the DVC cache; run `dvc repro evaluate` at that "
            "revision and commit, `dvc fetch` it if a DVC remote holds it, or pass another REV"
        ) from None
    except DvcException as exc:
        raise StaleArtifactError(
            f"{where}: cannot read it ({str(exc).splitlines()[0]}); run `dvc pull` if it is "
            "kept in a DVC remote"
        ) from None
    return parse_predictions(text, where)


def read_working_tree(root: Path) -> pd.DataFrame:
    """The working tree's ``reports/predictions.csv``."""
    path = root / PREDICTIONS
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StaleArtifactError(
            f"{PREDICTIONS}: not found in the working tree; run `dvc repro evaluate`"
        ) from None
    return parse_predictions(text, f"{PREDICTIONS} (working tree)")


def format_table(result: RevisionComparison) -> str:
    """The comparison as a short two-column table."""
    rev = result.rev

    def share(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    def points(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:+.1f}"

    difference = "n/a"
    if result.delta is not None:
        difference = (
            f"{points(result.delta)} points (95% CI {points(result.delta_ci95_low)} to "
            f"{points(result.delta_ci95_high)})"
        )
    p_value = "n/a" if result.p_value is None else f"{result.p_value:.2g}"
    rows = [
        (f"accuracy, {WORKING_TREE}", share(result.working_tree_accuracy)),
        (f"accuracy, {rev}", share(result.rev_accuracy)),
        (f"difference ({WORKING_TREE} - {rev})", difference),
        ("McNemar exact p", p_value),
        (
            "shared test images",
            f"{result.n_shared} ({result.n_only_working_tree} only in the {WORKING_TREE}, "
            f"{result.n_only_rev} only at {rev})",
        ),
        ("verdict", result.verdict),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imgclf compare",
        description=(
            f"Compare the working tree's {PREDICTIONS} with the one at a git revision, "
            "image by image (paired by sha256)."
        ),
    )
    parser.add_argument("rev", nargs="?", default="HEAD", help="git revision (default: HEAD)")
    parser.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="significance level (default: evaluate.alpha of --params)",
    )
    parser.add_argument(
        "--min-shared",
        type=int,
        default=MIN_SHARED,
        help=f"fewest shared test images for a winner to be called (default: {MIN_SHARED})",
    )
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument(
        "--params", default="params.yaml", help="where evaluate.alpha is read, if it exists"
    )
    return parser


def _alpha(args: argparse.Namespace) -> float:
    from imgclf.config import EvaluateConfig, load_params

    if args.alpha is None:
        params = Path(args.params)
        return load_params(params).evaluate.alpha if params.is_file() else EvaluateConfig().alpha
    if not 0 < args.alpha < 1:
        raise UserError(f"--alpha {args.alpha:g}: expected a number between 0 and 1")
    return float(args.alpha)


def _repo_root() -> Path:
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        return Path(Repo.find_root())
    except NotDvcRepoError:
        raise UserError(
            f"{Path.cwd()}: not inside a DVC project; run imgclf compare in the project"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``imgclf compare``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.min_shared < 1:
            raise UserError(f"--min-shared {args.min_shared}: expected a positive number")
        alpha = _alpha(args)
        root = _repo_root()
        tree = read_working_tree(root)
        result = compare_predictions(
            tree, read_at_revision(root, args.rev), args.rev, alpha, args.min_shared
        )
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result), indent=2) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
