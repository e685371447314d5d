"""params.yaml as one typed object.

Every stage calls :func:`load_params` once and passes the sections it needs down to
library code. A bad key or value is one :class:`~imgclf.errors.ConfigError` naming the
key, the value and what is allowed.

* :mod:`imgclf.config.sections`: the schema, one model per section, with its defaults;
* :mod:`imgclf.config.loading`: reading a file and rendering a validation error as one line;
* :mod:`imgclf.config.overrides`: dotted keys (``train.lr``) applied on top, checked again.
"""

from imgclf.config.loading import load_params, parse_params
from imgclf.config.overrides import dotted_value, with_overrides
from imgclf.config.sections import (
    AugmentConfig,
    DataConfig,
    EvaluateConfig,
    MlflowConfig,
    ModelConfig,
    Params,
    SearchDimension,
    Section,
    SplitConfig,
    TrainConfig,
    TransformSpec,
    TuneConfig,
    ValidateConfig,
)

__all__ = [
    "AugmentConfig",
    "DataConfig",
    "EvaluateConfig",
    "MlflowConfig",
    "ModelConfig",
    "Params",
    "SearchDimension",
    "Section",
    "SplitConfig",
    "TrainConfig",
    "TransformSpec",
    "TuneConfig",
    "ValidateConfig",
    "dotted_value",
    "load_params",
    "parse_params",
    "with_overrides",
]
