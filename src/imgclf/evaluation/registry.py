"""The MLflow model registry: every evaluated model becomes a version, and the
``champion`` alias only ever moves to a strictly better one.

MLflow's own registry aliases carry the decision (``models:/<name>@champion`` is what
``mlflow models serve`` loads); each version keeps the figure it was judged on as a tag
(``imgclf.metric.<name>``) so the next comparison needs no run lookup. Moving the alias
is compare-and-set (:func:`claim_champion`), so two evaluates finishing together leave the
better of them champion.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from imgclf.evaluation.metrics import is_better

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
METRIC_TAG_PREFIX = "imgclf.metric."
# The champion a version beat when it claimed the alias (compare-and-set, claim_champion).
BEAT_TAG = "imgclf.claimed_over"
NO_CHAMPION = "none"


@dataclass(frozen=True)
class PromotionDecision:
    """What :func:`promote_if_better` did, with both figures."""

    model_name: str
    version: str
    alias: str  # CHAMPION or CHALLENGER: the alias the new version received
    metric: str
    value: float
    champion_version: str | None  # the champion before this decision (None: there was none)
    champion_value: float | None

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION

    def describe(self) -> str:
        """One line for the log: the decision and both figures."""
        new = f"{self.model_name} v{self.version} {self.metric}={self.value:.6g}"
        if self.champion_version is None:
            return f"{new}: no champion yet -> @{CHAMPION}"
        old = f"champion v{self.champion_version} {self.metric}={_fmt(self.champion_value)}"
        verdict = "beats" if self.promoted else "does not beat"
        return f"{new} {verdict} {old} -> v{self.version} @{self.alias}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "promoted": self.promoted}


def register_version(
    client: MlflowClient,
    model_name: str,
    model_uri: str,
    run_id: str | None,
    tags: dict[str, str],
    model_id: str | None = None,
) -> str:
    """Register ``model_uri`` (of MLflow logged model ``model_id``, when it is one) as a new
    version of ``model_name`` with ``tags``; return the version number."""
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name)
    version = client.create_model_version(
        model_name, model_uri, run_id=run_id, tags=tags, model_id=model_id
    )
    return str(version.version)


def promote_if_better(
    client: MlflowClient,
    model_name: str,
    version: str,
    metric: str,
    value: float,
) -> PromotionDecision:
    """Judge registered ``version`` of ``model_name`` by ``metric`` = ``value``.

    It becomes ``champion`` when there is none or when ``value`` strictly beats the
    champion's (higher is better, except for the metrics in ``LOWER_IS_BETTER``); a tie or
    a worse value keeps the champion and gives the new version ``challenger``. The move is
    compare-and-set (:func:`claim_champion`): a concurrent evaluate cannot leave the worse
    of two winners holding the alias.
    """
    record_figure(client, model_name, version, metric, value)
    champion = current_champion(client, model_name)
    champion_value = (
        None if champion is None else _version_metric(client, model_name, champion, metric)
    )
    # No champion, a champion with no figure, or a strictly better figure: promote.
    promote = (
        champion is None
        or champion == version
        or champion_value is None
        or is_better(metric, value, champion_value)
    )
    alias = CHALLENGER
    if promote:
        holder = claim_champion(client, model_name, version, metric, champion)
        alias = CHAMPION if holder == version else CHALLENGER
    if alias == CHALLENGER:
        client.set_registered_model_alias(model_name, CHALLENGER, version)
    decision = PromotionDecision(
        model_name=model_name,
        version=version,
        alias=alias,
        metric=metric,
        value=float(value),
        champion_version=None if champion == version else champion,
        champion_value=champion_value if champion != version else None,
    )
    client.set_model_version_tag(model_name, version, "imgclf.decision", decision.describe())
    log.debug("registry: %s", decision.describe())  # the stage prints it
    return decision


def record_figure(
    client: MlflowClient, model_name: str, version: str, metric: str, value: float
) -> None:
    """Tag ``version`` with the figure it was judged on (``imgclf.metric.<metric>``)."""
    client.set_model_version_tag(
        model_name, version, METRIC_TAG_PREFIX + metric, repr(float(value))
    )


def claim_champion(
    client: MlflowClient,
    model_name: str,
    version: str,
    metric: str,
    beaten: str | None,
    max_rounds: int = 10,
) -> str:
    """Move ``champion`` to ``version``, which beat version ``beaten`` (None: there was no
    champion), and return the version that holds the alias once the dust settles.

    MLflow has no compare-and-set on aliases, so two evaluates that both beat the same
    champion would each move the alias and the last writer would win, better or not.
    Each claimant therefore tags itself with the champion it beat before it moves the
    alias, then re-reads: among the claimants over the same champion the best figure
    (``imgclf.metric.<metric>``; the older version on a tie) must hold the alias, and any
    claimant that sees otherwise sets it right. Every claimant ends with that check, so
    the last one to act leaves the best claimant in place. A champion that is neither the
    beaten version nor a rival claimant was moved on by a later, sequential decision and
    is left alone.
    """
    client.set_model_version_tag(model_name, version, BEAT_TAG, beaten or NO_CHAMPION)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    for _ in range(max_rounds):
        holder = current_champion(client, model_name) or version
        rivals = _claimants(client, model_name, beaten or NO_CHAMPION, metric)
        if holder not in {*rivals, beaten}:
            return holder
        best = _best_claimant(rivals, metric)
        if holder == best:
            return best
        log.info("registry: a concurrent evaluate moved @champion to v%s; v%s is better",
                 holder, best)  # fmt: skip
        client.set_registered_model_alias(model_name, CHAMPION, best)
    return current_champion(client, model_name) or version


def _claimants(client: MlflowClient, model_name: str, beaten: str, metric: str) -> dict[str, float]:
    """Versions that claimed the alias over ``beaten``, with the figure each was judged on."""
    claimants = {}
    for mv in client.search_model_versions(f"name = '{model_name}'"):
        figure = mv.tags.get(METRIC_TAG_PREFIX + metric)
        if mv.tags.get(BEAT_TAG) == beaten and figure is not None:
            claimants[str(mv.version)] = float(figure)
    return claimants


def _best_claimant(claimants: dict[str, float], metric: str) -> str:
    best = min(claimants, key=int)
    for version in sorted(claimants, key=int):
        if is_better(metric, claimants[version], claimants[best]):
            best = version
    return best


def current_champion(client: MlflowClient, model_name: str) -> str | None:
    """The version that holds ``champion`` now (None: no champion yet)."""
    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException:
        return None


def _version_metric(
    client: MlflowClient, model_name: str, version: str, metric: str
) -> float | None:
    """The figure ``version`` was judged on: its tag, else the metric of its run."""
    mv = client.get_model_version(model_name, version)
    tagged = mv.tags.get(METRIC_TAG_PREFIX + metric)
    if tagged is not None:
        return float(tagged)
    if mv.run_id:
        value = client.get_run(mv.run_id).data.metrics.get(metric)
        if value is not None:
            return float(value)
    # A champion with no figure at all cannot be compared; the new version replaces it.
    return None


def _fmt(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.6g}"
