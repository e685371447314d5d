"""Stage entry points: one module per dvc.yaml stage."""
