"""`python -m pipelines.tune`: the command of dvc.yaml's tune stage.

A shim: imgclf.stages.tune.main parses the arguments and runs the stage (`imgclf tune` runs
the same function).
"""

import sys

from imgclf import numerics

if __name__ == "__main__":
    # First, before the stage's imports load torch: each library reads its CPU pins once, as
    # it loads. (Only when run as the command: importing the shim changes nothing.)
    numerics.apply_from_command_line(sys.argv[1:])

from imgclf.stages.tune import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
