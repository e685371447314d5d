"""``imgclf serve MODEL_URI [--host H] [--port P]``: MLflow's scoring server on a checked copy.

``mlflow models serve -m models:/<name>@champion`` downloads the model and runs its code
with nothing checked. This command downloads it once, checks that it is an imgclf model
and that every file is the one recorded when the version was registered
(:mod:`imgclf.serving.model_files`), and then runs ``mlflow models serve`` on that same
local copy, so what is served is what was checked. Exit status 2 on a refused model.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from imgclf.errors import UserError
from imgclf.serving.model_files import verified_model_copy


def serve_command(local_model: Path, host: str, port: int) -> list[str]:
    """The ``mlflow models serve`` command line for a local, already checked model folder."""
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    return [str(mlflow_cli), "models", "serve", "-m", str(local_model), "--env-manager", "local",
            "-h", host, "-p", str(port)]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``imgclf serve``; returns the exit status of the server."""
    parser = argparse.ArgumentParser(prog="imgclf serve", description=__doc__)
    parser.add_argument(
        "model", help="models:/<name>@<alias>, models:/<name>/<version> or a folder"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (5000)")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one-line errors
    with tempfile.TemporaryDirectory(prefix="imgclf-serve-") as folder:
        try:
            local = verified_model_copy(args.model, folder)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        # mlflow starts `uvicorn` by name: this interpreter's bin folder holds it.
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        server = subprocess.Popen(serve_command(local, args.host, args.port), env=env)
        # A stopped `imgclf serve` stops its server (Ctrl-C reaches both by itself).
        signal.signal(signal.SIGTERM, lambda *_: server.terminate())
        try:
            return server.wait()
        except KeyboardInterrupt:
            server.wait()
            return 130


if __name__ == "__main__":
    raise SystemExit(main())
