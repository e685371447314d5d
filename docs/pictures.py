"""`make docs`: the pictures of README.md and docs/*.md that no stage writes, regenerated into
docs/ from a finished `make run` (the guides show the stages' own PNGs from reports/):

* the MLflow UI, rendered by headless Chromium: the experiment's runs page (stage runs, the
  tune run with its trials) and the registered model's page (its ``champion`` alias);
* the DAG of ``dvc dag --dot``, drawn with networkx and matplotlib (no graphviz needed).

tests/e2e/test_browser.py drives the same functions, so what the guides show is what the
test checked.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow

from imgclf.config import load_params
from imgclf.tracking import TAG_STAGE, local_store

WINDOW = (1400, 900)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def mlflow_ui(tracking_uri: str, log_file: Path, timeout_s: float = 120) -> Iterator[str]:
    """Run `mlflow ui` on ``tracking_uri``, bound to 127.0.0.1 on a free port; yield its URL
    once ``/health`` answers, and stop it on the way out."""
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "mlflow"), "ui",
        "--backend-store-uri", tracking_uri,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with open(log_file, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while not _healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow ui did not start: see {log_file}")
                time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def render_page(url: str, screenshot: Path, budget_ms: int = 15000) -> str:
    """Load ``url`` in headless Chromium; save a ``WINDOW``-sized screenshot and return the
    rendered DOM. The virtual time budget lets the React app fetch and draw before either."""
    profile = tempfile.mkdtemp(prefix="imgclf-chromium-")
    command = [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
        f"--virtual-time-budget={budget_ms}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--screenshot={screenshot.resolve()}", "--dump-dom", url,
    ]  # fmt: skip
    try:
        dom = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return dom.stdout


def ui_pages(tracking_uri: str, experiment: str, model_name: str) -> dict[str, str]:
    """The UI routes (after the host) of the experiment's runs page, the latest tune run
    (its metrics and child trial runs) and the registered model (its aliases)."""
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    tune = (
        []
        if found is None
        else client.search_runs(
            [found.experiment_id],
            # Its trials carry the stage tag too; the parent is the one named after the stage.
            filter_string=f"tags.`{TAG_STAGE}` = 'tune' AND attributes.run_name = 'tune'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
    )
    if found is None or not tune:
        raise SystemExit(
            f"error: {tracking_uri}: no tune run in MLflow experiment {experiment!r}; "
            "run `make run` first"
        )
    runs = f"/#/experiments/{found.experiment_id}/runs"
    return {
        "mlflow_runs": runs,
        "mlflow_tune_run": f"{runs}/{tune[0].info.run_id}",
        "mlflow_model": f"/#/models/{model_name}",
    }


def mlflow_pictures(
    tracking_uri: str, experiment: str, model_name: str, out: Path, log_file: Path
) -> dict[str, str]:
    """Screenshot each of :func:`ui_pages` into ``out/<page>.png`` from an `mlflow ui` on
    ``tracking_uri`` (its output in ``log_file``); return each page's rendered DOM."""
    pages = ui_pages(tracking_uri, experiment, model_name)
    out.mkdir(parents=True, exist_ok=True)
    with mlflow_ui(tracking_uri, log_file) as url:
        return {
            name: render_page(url + route, out / f"{name}.png") for name, route in pages.items()
        }


def draw_dag(dot: str, picture: Path) -> None:
    """Draw the stage graph of ``dvc dag --dot`` as a left-to-right chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx
    import pydot

    graphs = pydot.graph_from_dot_data(dot)
    if not graphs:
        raise SystemExit(f"`dvc dag --dot` printed no graph pydot can read:\n{dot}")
    (parsed,) = graphs
    graph = nx.DiGraph(nx.nx_pydot.from_pydot(parsed))
    for layer, nodes in enumerate(nx.topological_generations(graph)):
        for node in nodes:
            graph.nodes[node]["layer"] = layer
    positions = nx.multipartite_layout(graph, subset_key="layer")
    labels = {node: node.strip('"') for node in graph.nodes}
    figure, axes = plt.subplots(figsize=(10, 3.2), dpi=100)
    # Every stage sits in one row, so an edge that skips stages is drawn as an arc above it
    # (the further it reaches, the higher), where a straight line would hide behind the row.
    for source, target in graph.edges:
        reach = graph.nodes[target]["layer"] - graph.nodes[source]["layer"]
        nx.draw_networkx_edges(
            graph, positions, edgelist=[(source, target)], ax=axes, arrowsize=12,
            node_size=1800, edge_color="#555555" if reach == 1 else "#9aa7b8",
            connectionstyle=f"arc3,rad={0 if reach == 1 else -0.35}",
        )  # fmt: skip
    nx.draw_networkx_labels(
        graph, positions, labels, ax=axes, font_size=10,
        bbox={"boxstyle": "round,pad=0.4", "facecolor": "#e8f0fe", "edgecolor": "#4a6fa5"},
    )  # fmt: skip
    axes.set_axis_off()
    figure.tight_layout()
    figure.savefig(picture, bbox_inches="tight", pad_inches=0.15)
    plt.close(figure)


def stage_pictures(project: Path, out: Path) -> None:
    """Draw the DAG of the project in ``project`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    dot = subprocess.run(
        ["dvc", "dag", "--dot"], cwd=project, capture_output=True, text=True, check=True
    ).stdout
    draw_dag(dot, out / "dag.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("."))
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    if shutil.which("chromium") is None:
        raise SystemExit("error: chromium is not installed: `apt-get install -y chromium`")
    stage_pictures(args.project, args.out)
    params = load_params(args.project / "params.yaml")
    # The stages' own default: the project's local store.
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or local_store(args.project)[0]
    log_file = Path(tempfile.gettempdir()) / "imgclf-docs-mlflow-ui.log"
    mlflow_pictures(
        tracking_uri, params.mlflow.experiment, params.evaluate.model_name, args.out, log_file
    )
    for picture in sorted(args.out.glob("*.png")):
        print(f"{picture}  {picture.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
