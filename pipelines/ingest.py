"""`python -m pipelines.ingest`: the command of dvc.yaml's ingest stage.

A shim: imgclf.stages.ingest.main parses the arguments and runs the stage (`imgclf ingest` runs
the same function).
"""

import sys

from imgclf.stages.ingest import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
