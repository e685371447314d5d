"""The registry alias rules: champion moves only to a strictly better version."""

from __future__ import annotations

import itertools

import pytest
from mlflow import MlflowClient

from imgclf.evaluation.registry import (
    CHALLENGER,
    CHAMPION,
    PromotionDecision,
    promote_if_better,
    register_version,
)

_counter = itertools.count()


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> MlflowClient:
    # One SQLite store for the module: creating its schema costs about a second.
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture
def name(request) -> str:
    return request.node.name  # a registered model of its own per test


def _evaluate(client, name, tmp_path, value: float, metric: str = "accuracy") -> PromotionDecision:
    model_dir = tmp_path / f"model-{next(_counter)}"
    model_dir.mkdir()
    version = register_version(
        client, name, model_dir.as_uri(), None, {"imgclf.params_hash": "abc"}
    )
    return promote_if_better(client, name, version, metric, value)


def _alias(client: MlflowClient, name: str, alias: str) -> str:
    return str(client.get_model_version_by_alias(name, alias).version)


def test_first_version_becomes_champion(client, name, tmp_path):
    decision = _evaluate(client, name, tmp_path, 0.90)
    assert decision.promoted and decision.champion_version is None
    assert _alias(client, name, CHAMPION) == "1"


def test_champion_moves_on_better_stays_on_worse_and_on_tie(client, name, tmp_path):
    _evaluate(client, name, tmp_path, 0.90)

    better = _evaluate(client, name, tmp_path, 0.95)
    assert better.promoted and better.champion_value == pytest.approx(0.90)
    assert _alias(client, name, CHAMPION) == "2"

    worse = _evaluate(client, name, tmp_path, 0.93)
    assert not worse.promoted and worse.alias == CHALLENGER
    assert (_alias(client, name, CHAMPION), _alias(client, name, CHALLENGER)) == ("2", "3")
    assert "does not beat" in worse.describe() and "0.95" in worse.describe()

    tie = _evaluate(client, name, tmp_path, 0.95)
    assert not tie.promoted
    assert (_alias(client, name, CHAMPION), _alias(client, name, CHALLENGER)) == ("2", "4")


def test_lower_is_better_for_log_loss(client, name, tmp_path):
    _evaluate(client, name, tmp_path, 0.40, metric="log_loss")
    assert _evaluate(client, name, tmp_path, 0.30, metric="log_loss").promoted
    assert not _evaluate(client, name, tmp_path, 0.35, metric="log_loss").promoted
    assert _alias(client, name, CHAMPION) == "2"


def test_versions_carry_tags_and_the_judged_figure(client, name, tmp_path):
    _evaluate(client, name, tmp_path, 0.9)
    tags = client.get_model_version(name, "1").tags
    assert tags["imgclf.params_hash"] == "abc"
    assert float(tags["imgclf.metric.accuracy"]) == 0.9
    assert "@champion" in tags["imgclf.decision"]
