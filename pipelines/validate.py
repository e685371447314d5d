"""`python -m pipelines.validate`: the command of dvc.yaml's validate stage.

A shim: imgclf.stages.validate.main parses the arguments and runs the stage (`imgclf validate` runs
the same function).
"""

import sys

from imgclf.stages.validate import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
