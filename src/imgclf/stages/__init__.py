"""One module per ``dvc.yaml`` stage: typed params and paths in, declared outputs written.

``imgclf.stages.<stage>.run_<stage>(params, paths)`` does the stage's work; its ``main(argv)``
parses the command line and is what both ``imgclf <stage>`` and the command ``dvc.yaml``
runs call.
"""

# dvc.yaml's stages in DAG order (tests/unit/test_stage_deps.py holds the two equal).
STAGES = ("ingest", "validate", "split", "augment", "tune", "train", "evaluate")
