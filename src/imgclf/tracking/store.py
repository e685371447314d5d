"""The tracking store: which one a stage logs to, the project's experiment in it, and a
server's health asked once before anything else."""

from __future__ import annotations

import contextlib
from pathlib import Path
from urllib.parse import urlsplit

import mlflow
import requests
from mlflow.exceptions import MlflowException
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request

from imgclf.errors import UserError
from imgclf.tracking.credentials import mask_password

# The local store, relative to the project root.
LOCAL_STORE = "mlflow.db"
LOCAL_ARTIFACTS = "mlruns"
# MLflow 3's UI opens an experiment in its GenAI view unless told it is model training.
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"


def configure(
    tracking_uri: str | None,
    experiment: str,
    *,
    root: str | Path = ".",
    timeout_s: float = 15,
    shown_as: str = "",
) -> str:
    """Point MLflow at ``tracking_uri`` (or the local store of the project at ``root``) and
    select ``experiment``; return its id.

    A tracking server must answer ``/health`` within ``timeout_s``, else a
    :class:`UserError` names it as ``shown_as`` (the URI with its password masked).
    """
    artifact_location = None
    if tracking_uri:
        uri = tracking_uri
    else:
        uri, artifact_location = local_store(root)
    if urlsplit(uri).scheme in ("http", "https"):
        check_server(uri, timeout_s, shown_as or mask_password(uri))
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    if artifact_location and client.get_experiment_by_name(experiment) is None:
        # MLflow would put a new experiment's artifacts in ./mlruns of the working directory.
        with contextlib.suppress(MlflowException):  # created meanwhile by a parallel stage
            client.create_experiment(experiment, artifact_location=artifact_location)
    found = mlflow.set_experiment(experiment)
    if TAG_EXPERIMENT_KIND not in found.tags:
        client.set_experiment_tag(
            found.experiment_id, TAG_EXPERIMENT_KIND, "custom_model_development"
        )
    return str(found.experiment_id)


def local_store(root: str | Path) -> tuple[str, str]:
    """The tracking URI and the artifact location of the local store of the project at
    ``root``, by absolute path: ``("sqlite:////abs/root/mlflow.db", "file:///abs/root/mlruns")``."""
    absolute = Path(root).resolve()
    return f"sqlite:///{absolute / LOCAL_STORE}", (absolute / LOCAL_ARTIFACTS).as_uri()


def check_server(uri: str, timeout_s: float, shown_as: str) -> None:
    """Raise :class:`UserError` unless the tracking server at ``uri`` answers ``GET /health``
    within ``timeout_s``, asked once, through MLflow's own HTTP client (its TLS settings)."""
    try:
        response = http_request(
            get_default_host_creds(uri), "/health", "GET",
            max_retries=0, backoff_factor=0, timeout=timeout_s, raise_on_status=False,
        )  # fmt: skip
    except MlflowException as exc:
        # With no retries urllib3 reports a read timeout as a connection error.
        timed_out = isinstance(exc.__cause__, requests.exceptions.Timeout)
        if timed_out or "timed out" in str(exc).lower():
            reason = f"no answer within {timeout_s:g} s"
        elif "refused" in str(exc).lower():
            reason = "connection refused"
        else:
            reason = "cannot connect"
    else:
        if response.status_code == 200:
            return
        reason = f"GET /health answered HTTP {response.status_code}, not an MLflow server's OK"
    raise UserError(
        f"MLflow tracking server {shown_as}: {reason}; check that the server is running and "
        "that MLFLOW_TRACKING_URI names it (MLFLOW_HTTP_REQUEST_TIMEOUT sets the wait)"
    )
