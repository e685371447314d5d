"""`python -m pipelines.split`: the command of dvc.yaml's split stage.

A shim: imgclf.stages.split.main parses the arguments and runs the stage (`imgclf split` runs
the same function).
"""

import sys

from imgclf.stages.split import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
