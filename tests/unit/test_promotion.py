"""The promotion decision on the same test images: a paired test decides, by the rule."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar

from imgclf.evaluation import promotion
from imgclf.evaluation.champion import exam_mismatch
from imgclf.evaluation.promotion import (
    CHALLENGER,
    CHAMPION,
    DECISION_KEYS,
    ChampionExam,
    judge,
)
from tests.support.tiny_classifier import tiny_spec

# 40 test images of 2 classes. The champion gets 34 right; the challenger gets the same
# ones plus 2 more of the images the champion missed: better by 2 images, McNemar p = 0.5.
TRUTH = np.array([0, 1] * 20)
CHAMPION_RIGHT = np.arange(40) < 34
CHALLENGER_RIGHT = np.arange(40) < 36


def _probs(right: np.ndarray) -> np.ndarray:
    predicted = np.where(right, TRUTH, 1 - TRUTH)
    probs = np.full((len(TRUTH), 2), 0.2)
    probs[np.arange(len(TRUTH)), predicted] = 0.8
    return probs


def _judge(rule: str, new=CHALLENGER_RIGHT, old=CHAMPION_RIGHT, **kwargs):
    exam = kwargs.pop("exam", ChampionExam("5", probabilities=_probs(old)))
    return judge("digits", "7", "accuracy", TRUTH, _probs(new), exam, rule, 0.05, **kwargs)


def test_better_but_not_proven_is_challenger_under_significant_and_champion_under_better():
    kept = _judge("significant")
    assert (kept.value, kept.champion_value) == (0.9, 0.85)
    assert kept.p_value == pytest.approx(mcnemar([[34, 2], [0, 4]], exact=True).pvalue)
    assert kept.alias == CHALLENGER and not kept.promoted
    assert kept.describe() == (
        "digits v7 accuracy 0.900 vs champion v5 0.850 on the same 40 test images: "
        f"+5.0 points (95% CI {100 * kept.delta_ci95_low:+.1f} to "
        f"{100 * kept.delta_ci95_high:+.1f}), McNemar p = 0.5 >= 0.05: not proven, "
        "champion kept"
    )
    moved = _judge("better")
    assert moved.alias == CHAMPION and "v7 is champion" in moved.describe()


def test_a_proven_win_moves_the_champion_under_significant():
    much_worse = np.arange(40) < 20  # the challenger is right on all 20 it misses
    proven = _judge("significant", new=np.ones(40, bool), old=much_worse)
    assert proven.p_value < 1e-5 and proven.promoted
    assert "< 0.05: proven, v7 is champion" in proven.describe()


@pytest.mark.parametrize("rule", ["significant", "better"])
def test_the_same_predictions_tie_and_keep_the_champion(rule):
    tie = _judge(rule, new=CHAMPION_RIGHT)
    assert (tie.delta, tie.p_value, tie.champion_value) == (0.0, 1.0, tie.value)
    assert tie.alias == CHALLENGER


def test_first_model_of_a_registry_becomes_champion():
    first = _judge("significant", exam=ChampionExam(None))
    assert first.promoted and first.champion_version is None and first.test is None
    assert first.describe() == (
        "digits v7 accuracy 0.900 on 40 test images: no champion yet, v7 is champion"
    )


def test_a_champion_with_other_classes_is_kept_with_one_line_saying_how_to_move_it():
    other = tiny_spec()
    other = type(other)(**{**other.__dict__, "class_names": ("cat", "dog", "owl")})
    reason = exam_mismatch(other, tiny_spec())
    assert reason == "its classes cat, dog, owl are not this run's dark, mid, bright"
    kept = _judge("better", exam=ChampionExam("5", unfit=reason))
    line = kept.describe()
    assert kept.alias == CHALLENGER and "\n" not in line
    assert "champion v5 cannot sit this exam (its classes cat, dog, owl" in line
    assert 'set_registered_model_alias("digits", "champion", "7")' in line


def test_other_channels_and_image_sizes_cannot_sit_the_exam():
    assert "3-channel" in exam_mismatch(tiny_spec(channels=3), tiny_spec())
    assert "16x16" in exam_mismatch(tiny_spec(image_size=16), tiny_spec())
    assert exam_mismatch(tiny_spec(), tiny_spec()) is None


def test_promotion_json_has_exactly_the_documented_keys():
    document = _judge("significant").to_dict()
    assert tuple(document) == DECISION_KEYS == (
        "metric", "value", "champion_version", "champion_value", "delta", "delta_ci95_low",
        "delta_ci95_high", "p_value", "n_test", "test", "alpha", "rule", "promoted", "reason",
    )  # fmt: skip
    assert document["test"] == "mcnemar_exact" and document["n_test"] == 40


def test_other_metrics_are_decided_by_a_paired_bootstrap(monkeypatch):
    monkeypatch.setattr(promotion, "METRIC_RESAMPLES", 50)  # each resample costs ms
    decision = judge(
        "digits", "7", "ece", TRUTH, _probs(CHALLENGER_RIGHT),
        ChampionExam("5", probabilities=_probs(CHAMPION_RIGHT)), "significant", 0.05,
    )  # fmt: skip
    # Both say 0.8 on every image: 85% right is closer to it than 90%, so by calibration
    # error (lower is better) the more accurate challenger is the worse model.
    assert decision.test == "paired_bootstrap" and decision.delta == pytest.approx(0.05)
    assert not decision.promoted and "not better, champion kept" in decision.describe()
    assert "paired bootstrap p =" in decision.describe()
