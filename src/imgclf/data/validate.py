"""The data gate: the expectation suites in ``expectations/`` run by great-expectations.

Each suite file checks one table built from the manifest (the manifest itself, its
distinct (sha256, label) pairs, per-class counts, pixel statistics of a sample). Bounds
come from params as GX suite parameters (``{"$PARAMETER": ...}`` in the files), so the
suites stay files in the repository and are never rebuilt in code. GX also renders its
data docs (HTML) from the same results.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import great_expectations as gx
import numpy as np
import pandas as pd
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from imgclf.config import ValidateConfig
from imgclf.data.store import StoreImages, images_per_chunk

# Which table each suite checks, and the columns that identify a failing row in messages.
SUITE_KEYS: dict[str, tuple[str, ...]] = {
    "images": ("path",),
    "label_conflicts": ("label",),
    "class_balance": ("label",),
    "pixel_stats": ("path",),
}
DOCS_SITE = "imgclf"
_EXAMPLES = 5


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, flattened for the report and the error message."""

    suite: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    observed: str

    @property
    def name(self) -> str:
        column = f"({self.column})" if self.column else ""
        return f"{self.suite}: {self.expectation}{column}"


@dataclass(frozen=True)
class ValidationReport:
    """All outcomes; ``success`` is false when any critical expectation failed."""

    outcomes: list[ExpectationOutcome]
    statistics: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]

    @property
    def success(self) -> bool:
        return not self.failures

    def failure_message(self) -> str:
        """One line per failed expectation, naming it and its observed value."""
        lines = [f"  {o.name}: {o.observed}" for o in self.failures]
        return f"data validation failed, {len(lines)} expectation(s):\n" + "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document written to ``reports/validation.json``."""
        return {
            "success": self.success,
            "failed": [o.name + ": " + o.observed for o in self.failures],
            "warnings": [o.name + ": " + o.observed for o in self.warnings],
            "suites": self.statistics,
            "expectations": [o.__dict__ for o in self.outcomes],
        }


def validate_manifest(
    manifest: pd.DataFrame,
    classes: Sequence[str],
    cfg: ValidateConfig,
    channels: int,
    image_size: int,
    docs_dir: Path,
    store_dir: Path,
) -> ValidationReport:
    """Run every suite on the tables built from ``manifest``; write GX data docs into
    ``docs_dir``. The manifest's images are in the store at ``store_dir``."""
    tables = build_tables(manifest, cfg.pixel_sample, store_dir)
    parameters = suite_parameters(classes, cfg, channels, image_size)
    context = _gx_context(docs_dir)
    datasource = context.data_sources.add_pandas("manifest")
    outcomes: list[ExpectationOutcome] = []
    statistics: dict[str, dict[str, Any]] = {}
    for name, keys in SUITE_KEYS.items():
        suite = context.suites.add(load_suite(name, allow_duplicates=cfg.allow_duplicates))
        batch = datasource.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
        definition = context.validation_definitions.add(_validation_definition(name, batch, suite))
        result = definition.run(
            batch_parameters={"dataframe": tables[name]},
            expectation_parameters=parameters,
            result_format={"result_format": "SUMMARY", "unexpected_index_column_names": list(keys)},
        )
        statistics[name] = {"success": bool(result.success), **_plain(result.statistics)}
        outcomes += [_outcome(name, r) for r in result.results]
    context.build_data_docs(site_names=[DOCS_SITE])
    return ValidationReport(outcomes, statistics)


def build_tables(
    manifest: pd.DataFrame, pixel_sample: int, store_dir: Path
) -> dict[str, pd.DataFrame]:
    """The table each suite checks, keyed by suite name."""
    images = manifest.copy()
    for column in ("path", "label", "sha256"):
        images[column] = images[column].replace("", None)  # an empty CSV cell is a missing value
    counts = images.groupby("label").size().rename("images").reset_index()
    smallest = int(counts["images"].min()) if len(counts) else 1
    counts["ratio_to_smallest"] = counts["images"] / smallest
    return {
        "images": images,
        "label_conflicts": images[["sha256", "label"]].dropna().drop_duplicates(),
        "class_balance": counts,
        "pixel_stats": pixel_statistics(images, pixel_sample, store_dir),
    }


def pixel_statistics(manifest: pd.DataFrame, sample: int, store_dir: Path) -> pd.DataFrame:
    """Mean and standard deviation of the pixels of ``sample`` images; the sample is the
    first images in sha256 order, so it is spread over classes and the same every run.
    Read from the store a block at a time, so the memory is the same for any ``sample``."""
    chosen = manifest.dropna(subset=["path", "sha256"]).sort_values("sha256").head(sample)
    images = StoreImages.of_rows(chosen, store_dir)
    rows = []
    for start, block in images.chunks(images_per_chunk(images.shape[1:]) if len(images) else 1):
        for path, pixels in zip(chosen["path"].iloc[start:], block, strict=False):
            as_float = pixels.astype(np.float64)
            rows.append({"path": path, "mean": as_float.mean(), "std": as_float.std()})
    return pd.DataFrame(rows, columns=["path", "mean", "std"])


def suite_parameters(
    classes: Sequence[str], cfg: ValidateConfig, channels: int, image_size: int
) -> dict[str, Any]:
    """The values the suites' ``$PARAMETER`` placeholders take."""
    return {
        "classes": list(classes),
        "image_size": image_size,
        "modes": ["L" if channels == 1 else "RGB"],
        "min_images_per_class": cfg.min_images_per_class,
        "max_imbalance": cfg.max_imbalance,
        "pixel_mean_min": cfg.pixel_mean[0],
        "pixel_mean_max": cfg.pixel_mean[1],
        "pixel_std_min": cfg.pixel_std[0],
        "pixel_std_max": cfg.pixel_std[1],
    }


def load_suite(name: str, allow_duplicates: bool = False) -> Any:
    """The suite file ``expectations/<name>.json`` as a GX ``ExpectationSuite``.

    Expectations marked ``"warning_when": "allow_duplicates"`` only warn when duplicates
    are allowed: GX's own severity field, set from params.
    """
    suite_file = resources.files("imgclf.data").joinpath("expectations", f"{name}.json")
    document = json.loads(suite_file.read_text("utf-8"))
    for expectation in document["expectations"]:
        relaxed = expectation.get("meta", {}).get("warning_when") == "allow_duplicates"
        expectation["severity"] = "warning" if relaxed and allow_duplicates else "critical"
    suite = gx.ExpectationSuite(**document)
    # GX logs and drops an expectation it cannot parse; a suite file must load whole.
    if len(suite.expectations) != len(document["expectations"]):
        raise RuntimeError(f"expectations/{name}.json: GX rejected some expectations; see the log")
    return suite


def _gx_context(docs_dir: Path) -> Any:
    """An in-memory GX context whose only data docs site is ``docs_dir``."""
    site = {
        "class_name": "SiteBuilder",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(docs_dir.resolve()),
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={DOCS_SITE: site},
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _validation_definition(name: str, batch: Any, suite: Any) -> Any:
    return gx.ValidationDefinition(name=name, data=batch, suite=suite)


def _outcome(suite: str, result: Any) -> ExpectationOutcome:
    config = result.expectation_config
    severity = getattr(config, "severity", "critical")
    return ExpectationOutcome(
        suite=suite,
        expectation=config.type,
        column=config.kwargs.get("column"),
        severity=str(getattr(severity, "value", severity)),
        success=bool(result.success),
        observed=describe_observed(result.result or {}, SUITE_KEYS[suite]),
    )


def describe_observed(result: Mapping[str, Any], keys: Sequence[str]) -> str:
    """A short, human summary of what GX observed: the value, or the unexpected rows."""
    if "observed_value" in result:
        return f"observed {_short(result['observed_value'])}"
    if "unexpected_count" not in result:
        return "no details"
    count, total = result.get("unexpected_count") or 0, result.get("element_count") or 0
    if not count:
        return f"all {total} values as expected"
    examples = []
    for row in (result.get("partial_unexpected_index_list") or [])[:_EXAMPLES]:
        where = ", ".join(f"{key}={row.get(key)}" for key in keys if key in row)
        values = [f"{_short(v)}" for k, v in row.items() if k not in keys]
        examples.append(f"{'/'.join(values)} ({where})" if where else "/".join(values))
    if not examples:
        examples = [_short(v) for v in (result.get("partial_unexpected_list") or [])[:_EXAMPLES]]
    return f"{count} of {total} values unexpected, e.g. " + "; ".join(examples)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, list | tuple):
        return (
            "["
            + ", ".join(_short(v) for v in value[:_EXAMPLES])
            + (", ..." if len(value) > _EXAMPLES else "")
            + "]"
        )
    if value is None:
        return "null"
    text = str(value)
    return f"{text[:12]}..." if re.fullmatch(r"[0-9a-f]{64}", text) else text  # sha256: its prefix


def _plain(statistics: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: (float(value) if isinstance(value, float) else value)
        for key, value in statistics.items()
    }
