"""The registry alias rules: champion moves only to a strictly better version, and two
versions claiming it at once leave the better one holding it."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from mlflow import MlflowClient

from imgclf.evaluation import model_registry as registry
from imgclf.evaluation.model_registry import (
    claim_champion,
    promote_if_better,
    record_figure,
    register_version,
)
from imgclf.evaluation.promotion import CHALLENGER, CHAMPION, PromotionDecision

_counter = itertools.count()


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> MlflowClient:
    # One SQLite store for the module: creating its schema costs about a second.
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture
def name(request) -> str:
    return request.node.name  # a registered model of its own per test


def _register(client, name, tmp_path, value: float, metric: str = "accuracy") -> str:
    model_dir = tmp_path / f"model-{next(_counter)}"
    model_dir.mkdir()
    version = register_version(
        client, name, model_dir.as_uri(), None, {"imgclf.params_hash": "abc"}
    )
    record_figure(client, name, version, metric, value)
    return version


def _evaluate(client, name, tmp_path, value: float, metric: str = "accuracy") -> PromotionDecision:
    version = _register(client, name, tmp_path, value, metric)
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
    assert "not better, champion kept" in worse.describe() and "0.950" in worse.describe()

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
    assert "champion" in tags["imgclf.decision"]


def test_last_writer_of_two_winners_does_not_keep_the_alias_when_worse(client, name, tmp_path):
    # Both evaluates saw no champion; the better one moved the alias first, the worse last.
    better, worse = (_register(client, name, tmp_path, value) for value in (0.95, 0.90))
    assert claim_champion(client, name, better, "accuracy", None) == better
    assert claim_champion(client, name, worse, "accuracy", None) == better
    assert _alias(client, name, CHAMPION) == better


def test_two_concurrent_promotions_leave_the_better_version_champion(
    client, name, tmp_path, monkeypatch
):
    _evaluate(client, name, tmp_path, 0.80)
    versions = {value: _register(client, name, tmp_path, value) for value in (0.93, 0.91)}
    # Both threads read the champion (v1) before either moves the alias: the race of two
    # evaluates finishing together.
    both_read = threading.Barrier(2, timeout=30)
    read_once = threading.local()
    real_read = registry.current_champion

    def read_then_wait(*args):
        champion = real_read(*args)
        if not getattr(read_once, "done", False):
            read_once.done = True
            both_read.wait()
        return champion

    # And both have tagged their claim and moved the alias before either checks its rivals.
    # Without this second barrier one evaluate can finish before the other has claimed at
    # all: that is two promotions in a row, where the first one rightly reports promoted.
    both_claimed = threading.Barrier(2, timeout=30)
    checked_once = threading.local()
    real_claimants = registry._claimants

    def claim_then_wait(*args):
        if not getattr(checked_once, "done", False):
            checked_once.done = True
            both_claimed.wait()
        return real_claimants(*args)

    monkeypatch.setattr(registry, "current_champion", read_then_wait)
    monkeypatch.setattr(registry, "_claimants", claim_then_wait)
    uri = client.tracking_uri
    with ThreadPoolExecutor(2) as pool:
        decisions = list(
            pool.map(
                lambda item: promote_if_better(
                    MlflowClient(uri, uri), name, item[1], "accuracy", item[0]
                ),
                versions.items(),
            )
        )
    assert all(d.champion_version == "1" for d in decisions)  # both beat the same champion
    assert _alias(client, name, CHAMPION) == versions[0.93]
    assert [d.promoted for d in decisions] == [True, False]
