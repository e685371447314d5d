"""Command shims, one per dvc.yaml stage (``python -m pipelines.<stage>``); the stages
themselves live in :mod:`imgclf.stages`."""
