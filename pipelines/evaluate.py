"""`python -m pipelines.evaluate`: the command of dvc.yaml's evaluate stage.

A shim: imgclf.stages.evaluate.main parses the arguments and runs the stage (`imgclf evaluate` runs
the same function).
"""

import sys

from imgclf.stages.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
