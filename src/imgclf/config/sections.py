"""The params schema: one pydantic model per ``params.yaml`` section.

Each default here is the value the committed ``params.yaml`` sets
(``tests/unit/test_param_defaults.py`` keeps the two equal), so a key left out of a params
file means what the repository's file says it means.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PositiveInt = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
# Lightning's accelerators (AcceleratorRegistry, plus its aliases gpu and auto); a test keeps
# the list in step with the installed Lightning without importing it for every stage.
Accelerator = Literal["cpu", "gpu", "cuda", "mps", "tpu", "auto"]
# seed_everything (and NumPy's generators) take a seed in the unsigned 32-bit range.
MAX_SEED = 2**32 - 1


class Section(BaseModel):
    """Base for every params section: unknown keys are errors, values are immutable."""

    # inf and nan pass every bound (nan compares false both ways): refuse them outright.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DataConfig(Section):
    source: Literal["digits", "fashion-mnist", "folder"] = "digits"
    # Always a real folder (never null) so dvc.yaml can declare it as ingest's input.
    path: str = "data/raw"
    channels: Literal[1, 3] = 1
    image_size: Annotated[int, Field(ge=4, le=1024)] = 8
    resize: Literal["stretch", "pad", "crop"] = "stretch"
    on_bad_image: Literal["fail", "skip"] = "fail"
    max_image_pixels: Annotated[int, Field(gt=0)] = 64_000_000
    max_file_bytes: Annotated[int, Field(gt=0)] = 67_108_864  # 64 MiB
    official_test_split: bool = True


class ValidateConfig(Section):
    min_images_per_class: PositiveInt = 10
    allow_duplicates: bool = False
    max_imbalance: Annotated[float, Field(ge=1.0)] = 10.0
    pixel_mean: tuple[float, float] = (0.0, 255.0)
    pixel_std: tuple[float, float] = (1.0, 128.0)
    pixel_sample: PositiveInt = 500

    @model_validator(mode="after")
    def _bounds_are_ordered(self) -> ValidateConfig:
        for key in ("pixel_mean", "pixel_std"):
            low, high = getattr(self, key)
            if low > high:
                raise ValueError(f"validate.{key} must be [low, high] with low <= high")
        return self


class SplitConfig(Section):
    train: Fraction = 0.8
    val: Fraction = 0.1
    test: Fraction = 0.1
    folds: Annotated[int, Field(ge=1, le=20)] = 1

    @model_validator(mode="after")
    def _ratios_sum_to_one(self) -> SplitConfig:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split.train + split.val + split.test must be 1.0, got {total:g}")
        return self


class TransformSpec(Section):
    """One albumentations transform: its class name and keyword arguments."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class AugmentConfig(Section):
    transforms: list[TransformSpec] = Field(
        default_factory=lambda: [
            TransformSpec(
                name="Affine",
                args={"rotate": [-10, 10], "translate_percent": [-0.1, 0.1], "p": 0.5},
            )
        ]
    )
    preview_samples: Annotated[int, Field(ge=1, le=64)] = 8


class ModelConfig(Section):
    # Checked against the registry (imgclf.models.architectures.check_architecture) by the
    # stages that build networks: the one place that knows every architecture.
    name: str = "cnn"
    width: PositiveInt | Literal["auto"] = "auto"
    depth: Annotated[int, Field(ge=1, le=8)] | Literal["auto"] = "auto"
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.2
    init: Literal["kaiming", "xavier", "default"] = "kaiming"
    init_from: str | None = None
    freeze_backbone: bool = False


class TrainConfig(Section):
    optimizer: Literal["sgd", "adam", "adamw"] = "adamw"
    lr: Annotated[float, Field(gt=0.0, le=10.0)] = 3e-3
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.9
    nesterov: bool = False
    weight_decay: Annotated[float, Field(ge=0.0)] = 1e-4
    scheduler: Literal["none", "cosine", "onecycle", "step"] = "onecycle"
    step_size: PositiveInt = 10
    gamma: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    label_smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    gradient_clip_val: Annotated[float, Field(ge=0.0)] | None = None
    batch_size: PositiveInt = 64
    max_epochs: PositiveInt = 20
    patience: PositiveInt = 20
    monitor: Literal["val_loss", "val_acc"] = "val_loss"
    precision: Literal["32", "16-mixed", "bf16-mixed", "auto"] = "32"
    accelerator: Accelerator = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: PositiveInt = 1
    num_workers: Annotated[int, Field(ge=0)] = 1  # augments the next batch beside the step
    # torch intra-op threads; 0: one per core; auto: by image size (imgclf.training.hardware)
    num_threads: Annotated[int, Field(ge=0)] | Literal["auto"] = "auto"

    @field_validator("strategy")
    @classmethod
    def _history_comes_back(cls, strategy: str) -> str:
        if any(word in strategy for word in ("spawn", "fork", "notebook")):
            raise ValueError(
                f"strategy {strategy} trains in child processes whose per-epoch history never "
                "reaches the stage; use ddp (Lightning starts each extra process by running "
                "the same command again)"
            )
        return strategy

    @field_validator("devices")
    @classmethod
    def _devices_lightning_takes(cls, devices: int | str) -> int | str:
        # Lightning's forms: a count (-1: every device), "auto", or GPU indices "0,2".
        if isinstance(devices, int):
            valid = devices == -1 or devices >= 1
        else:
            valid = devices == "auto" or re.fullmatch(r"-1|\d+(,\d+)*,?", devices) is not None
        if not valid:
            raise ValueError(
                "expected a device count >= 1, -1 (every device), 'auto', "
                "or device indices such as '0,1'"
            )
        return devices


class SearchDimension(Section):
    """One hyperparameter of the search space."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _complete(self) -> SearchDimension:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical dimension needs a non-empty 'choices' list")
        elif self.low is None or self.high is None or self.low > self.high:
            raise ValueError(f"a {self.type} dimension needs 'low' <= 'high'")
        return self


class TuneConfig(Section):
    sampler: Literal["grid", "tpe", "random"] = "tpe"
    pruner: Literal["none", "median", "hyperband"] = "median"
    n_trials: PositiveInt = 8
    timeout_s: Annotated[float, Field(gt=0)] | None = None
    budget: Annotated[float, Field(gt=0)] | None = 1.0  # imgclf.tuning.budget
    max_epochs: PositiveInt = 6
    max_train_images: PositiveInt | None = 10_000
    study: str = "imgclf-digits"
    storage: str | None = None
    workers: PositiveInt = 1
    heartbeat_interval_s: PositiveInt = 10
    grace_period_s: PositiveInt = 60
    folds: bool = False
    alpha: Fraction = 0.05  # imgclf.tuning.evidence
    select: Literal["best", "simplest_tied"] = "best"
    space: dict[str, SearchDimension] = Field(
        default_factory=lambda: {
            "train.lr": SearchDimension(type="float", low=0.001, high=0.01, log=True),
        }
    )

    @field_validator("space")
    @classmethod
    def _space_keys_are_params(
        cls, space: dict[str, SearchDimension]
    ) -> dict[str, SearchDimension]:
        if not space:
            raise ValueError("expected at least one dimension to search, got none")
        for key in space:
            section, _, name = key.partition(".")
            fields = _TUNABLE_SECTIONS.get(section)
            if fields is not None and name in fields:
                continue
            if section == "augment" and re.fullmatch(r"transforms\.[^.]+\.args\.[^.]+", name):
                continue
            raise ValueError(
                f"tune.space key '{key}' is not a model.*, train.* or "
                "augment.transforms.<name or index>.args.<argument> parameter"
            )
        return space

    @model_validator(mode="after")
    def _heartbeat_within_grace(self) -> TuneConfig:
        if self.heartbeat_interval_s >= self.grace_period_s:
            raise ValueError(
                f"tune.heartbeat_interval_s ({self.heartbeat_interval_s}) must be less than "
                f"tune.grace_period_s ({self.grace_period_s}), or live trials look dead"
            )
        return self


_TUNABLE_SECTIONS: dict[str, Any] = {
    "model": ModelConfig.model_fields,
    "train": TrainConfig.model_fields,
}


class EvaluateConfig(Section):
    model_name: str = "imgclf-digits"
    promote_metric: str = "accuracy"
    promote_when: Literal["significant", "better"] = "significant"
    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    baseline: bool = True
    baseline_model: Literal["svc", "logistic"] = "svc"
    baseline_max_images: PositiveInt = 5000
    ece_bins: Annotated[int, Field(ge=2, le=100)] = 15
    onnx_check: bool = True


class MlflowConfig(Section):
    experiment: str = "imgclf"

    @field_validator("experiment")
    @classmethod
    def _names_an_experiment(cls, experiment: str) -> str:
        if not experiment.strip():
            raise ValueError("expected an experiment name, got an empty one")
        return experiment


class Params(Section):
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 42
    # portable: CPU code paths pinned to AVX2 (imgclf.numerics); native: the machine's fastest.
    numerics: Literal["portable", "native"] = "portable"
    data: DataConfig = Field(default_factory=DataConfig)
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    split: SplitConfig = Field(default_factory=SplitConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def validate_cfg(self) -> ValidateConfig:
        return self.validate_
