"""`python -m pipelines.tune`: the command of dvc.yaml's tune stage.

A shim: imgclf.stages.tune.main parses the arguments and runs the stage (`imgclf tune` runs
the same function).
"""

import sys

from imgclf.stages.tune import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
