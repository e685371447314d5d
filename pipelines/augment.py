"""`python -m pipelines.augment`: the command of dvc.yaml's augment stage.

A shim: imgclf.stages.augment.main parses the arguments and runs the stage (`imgclf augment` runs
the same function).
"""

import sys

from imgclf.stages.augment import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
