"""The MLflow model registry: every evaluated model becomes a version, and the aliases
move as its :class:`~imgclf.evaluation.promotion.PromotionDecision` says.

MLflow's own registry aliases carry the decision (``models:/<name>@champion`` is what
``mlflow models serve`` loads); each version keeps the figure it was judged on as a tag
(``imgclf.metric.<name>``) and its decision in words (``imgclf.decision``). Moving the
alias is compare-and-set (:func:`claim_champion`), so two evaluates finishing together
leave the better of them champion.
"""

from __future__ import annotations

import logging

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from imgclf.evaluation.metrics import is_better
from imgclf.evaluation.promotion import CHALLENGER, CHAMPION, PromotionDecision, lost_race

log = logging.getLogger(__name__)

METRIC_TAG_PREFIX = "imgclf.metric."
# The champion a version beat when it claimed the alias (compare-and-set, claim_champion).
BEAT_TAG = "imgclf.claimed_over"
NO_CHAMPION = "none"


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


def apply_decision(client: MlflowClient, decision: PromotionDecision) -> PromotionDecision:
    """Move the aliases as ``decision`` says: ``champion`` by compare-and-set
    (:func:`claim_champion`), else ``challenger``. Returns the decision as it ended: a
    concurrent evaluate's better version may have kept the alias."""
    name, version = decision.model_name, decision.version
    record_figure(client, name, version, decision.metric, decision.value)
    if decision.promoted:
        holder = claim_champion(client, name, version, decision.metric, decision.champion_version)
        if holder != version:
            decision = lost_race(decision, holder)
    if not decision.promoted:
        client.set_registered_model_alias(name, CHALLENGER, version)
    client.set_model_version_tag(name, version, "imgclf.decision", decision.describe())
    log.debug("registry: %s", decision.describe())  # the stage prints it
    return decision


def promote_if_better(
    client: MlflowClient,
    model_name: str,
    version: str,
    metric: str,
    value: float,
) -> PromotionDecision:
    """Judge ``version`` by the figures alone: ``value`` against the figure recorded on the
    champion's version (no exam, no test). For registries fed from outside the evaluate
    stage, which scores the champion on the same images instead
    (:func:`~imgclf.evaluation.promotion.judge`).

    It becomes ``champion`` when there is none or when ``value`` strictly beats the
    champion's (higher is better, except for the metrics in ``LOWER_IS_BETTER``); a tie or
    a worse value keeps the champion and gives the new version ``challenger``.
    """
    champion = current_champion(client, model_name)
    if champion == version:
        champion = None
    champion_value = (
        None if champion is None else _version_metric(client, model_name, champion, metric)
    )
    # No champion, a champion with no figure, or a strictly better figure: promote.
    promote = champion_value is None or is_better(metric, value, champion_value)
    verdict = f"better, v{version} is champion" if promote else "not better, champion kept"
    decision = PromotionDecision(
        model_name=model_name, version=version, alias=CHAMPION if promote else CHALLENGER,
        metric=metric, value=float(value), champion_version=champion,
        champion_value=champion_value,
        delta=None if champion_value is None else float(value) - champion_value,
        delta_ci95_low=None, delta_ci95_high=None, p_value=None, n_test=0, test=None,
        alpha=0.0, rule="better", reason=f"by the recorded figures: {verdict}",
    )  # fmt: skip
    return apply_decision(client, decision)


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
