"""Data: sources, ingestion, the manifest, validation, splits and datasets."""
