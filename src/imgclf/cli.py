"""The ``imgclf`` command: ``imgclf <stage> [ARGS]`` runs one pipeline stage (the same
code ``dvc repro`` runs), ``imgclf predict`` classifies image files, ``imgclf serve``
serves a registered model, ``imgclf compare`` compares the test predictions of two
revisions."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from imgclf import numerics
from imgclf.stages import STAGES

USAGE = f"""usage: imgclf COMMAND [ARGS...]

Pipeline stages (normally run by `dvc repro`, which passes the paths from dvc.yaml):
  {", ".join(STAGES)}
Other commands:
  predict PATH... [--model URI_OR_FILE] [--format table|json]
  serve MODEL_URI [--host H] [--port P]   MLflow's scoring server, on the registered files only
  profile FILE     check a params profile and print it as `dvc exp run -S` options
  compare [REV] [--alpha A] [--min-shared N] [--json]
                   the working tree's test predictions against REV's (default HEAD), image by image
  missing-runs     the stages the local MLflow store has no run of (make run runs them again)

`imgclf COMMAND --help` shows a command's options."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = args[0], args[1:]
    if command in STAGES:
        if command in numerics.MODEL_STAGES:  # before the stage's imports load torch
            numerics.apply_from_command_line(rest)
        module = importlib.import_module(f"imgclf.stages.{command}")
    elif command == "predict":
        module = importlib.import_module("imgclf.serving.predict")
    elif command == "serve":
        module = importlib.import_module("imgclf.serving.serve")
    elif command == "profile":
        module = importlib.import_module("imgclf.profiles")
    elif command == "compare":
        module = importlib.import_module("imgclf.compare")
    elif command == "missing-runs":
        module = importlib.import_module("imgclf.missing_runs")
    else:
        known = ", ".join((*STAGES, "predict", "serve", "profile", "compare", "missing-runs"))
        print(f"error: unknown command {command!r}; expected one of {known}", file=sys.stderr)
        return 2
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
