"""Command shims, one per dvc.yaml stage (``python -m pipelines.<stage>``); the stages
themselves live in :mod:`imgclf.stages`.

``dvc.yaml`` runs ``python`` from ``PATH``: without the project's venv first on it (``source
.venv/bin/activate``, or ``make run``), that is another interpreter, and the stage stops here
with one line saying so instead of a ``ModuleNotFoundError`` traceback.
"""

import importlib.util
import sys

if importlib.util.find_spec("imgclf") is None:
    sys.stderr.write(
        f"error: {sys.executable} cannot import imgclf, so it is not the project's Python: "
        "run `source .venv/bin/activate` first (or `make run`, which sets up .venv)\n"
    )
    raise SystemExit(2)
