"""`python -m pipelines.train`: the command of dvc.yaml's train stage.

A shim: imgclf.stages.train.main parses the arguments and runs the stage (`imgclf train` runs
the same function).
"""

import sys

from imgclf.stages.train import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
