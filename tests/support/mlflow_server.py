"""A real `mlflow server` process on loopback, as a team would run it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.postgres import free_port
from tests.support.servers import wait_until_answering


@contextmanager
def mlflow_server(backend_store_uri: str, artifacts: Path, timeout_s: float = 90) -> Iterator[str]:
    """Start `mlflow server` on a free port; yield its URL once /health answers."""
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server",
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", artifacts.as_uri(),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    log = open(artifacts.parent / "mlflow-server.log", "w")  # noqa: SIM115
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/health", process, log.name, timeout_s)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
