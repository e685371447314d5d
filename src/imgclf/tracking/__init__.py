"""MLflow conventions in one place, a module per concern (``store``, ``runs``, ``machine``,
``credentials``); their names are re-exported here.

* Tracking store: whatever ``MLFLOW_TRACKING_URI`` names (the stage passes it in), else
  the local SQLite file ``mlflow.db`` in the project root, artifacts in ``mlruns/``, both by
  absolute path: a run in a temporary copy of the project (``dvc exp run --temp``) still
  lands in the project's own store.
* One experiment per project (``mlflow.experiment``).
* Every stage run carries the same tags: git commit, DVC stage name, params hash and
  data manifest hash, so any run can be traced back to the exact inputs; and the CPU it
  ran on, with its peak resident memory as the metric ``peak_rss_mib``, since the speed and
  the bits of a trained model depend on the machine, with the ``numerics`` mode its libraries
  ran in and ATen's CPU capability (``imgclf.numerics``, ``imgclf.cpu_capability``); and the
  host and process id, so that the next run of the stage can tell a run left RUNNING by a
  killed process (and mark it KILLED).
* A tracking server is asked for ``/health`` once, before anything else, so an unreachable
  one fails the stage at once with one line instead of after MLflow's retries.
* Each run logs the CSV files it reads (manifest, splits) as MLflow datasets, digest the
  start of their SHA-256, so the UI's Dataset column says which data a run saw.
* Credentials never travel inside the URI given to MLflow (it prints and logs that URI):
  the stage moves them to MLflow's own username and password variables.
"""

from imgclf.tracking.credentials import mask_password, split_credentials
from imgclf.tracking.machine import (
    CPU_FLAGS,
    TAG_CPU_CAPABILITY,
    TAG_NUMERICS,
    cpu_description,
    git_commit,
    numerics_tags,
    peak_rss_mib,
)
from imgclf.tracking.runs import (
    DATASET_DIGEST_LENGTH,
    METRIC_PEAK_RSS,
    TAG_CPU,
    TAG_GIT_COMMIT,
    TAG_HOST,
    TAG_MANIFEST_HASH,
    TAG_PARAMS_HASH,
    TAG_PID,
    TAG_STAGE,
    end_stale_runs,
    log_datasets,
    log_params_flat,
    process_alive,
    stage_run,
    stage_tags,
)
from imgclf.tracking.store import (
    LOCAL_ARTIFACTS,
    LOCAL_STORE,
    TAG_EXPERIMENT_KIND,
    check_server,
    configure,
    local_store,
)

__all__ = [
    "CPU_FLAGS",
    "DATASET_DIGEST_LENGTH",
    "LOCAL_ARTIFACTS",
    "LOCAL_STORE",
    "METRIC_PEAK_RSS",
    "TAG_CPU",
    "TAG_CPU_CAPABILITY",
    "TAG_EXPERIMENT_KIND",
    "TAG_GIT_COMMIT",
    "TAG_HOST",
    "TAG_MANIFEST_HASH",
    "TAG_NUMERICS",
    "TAG_PARAMS_HASH",
    "TAG_PID",
    "TAG_STAGE",
    "check_server",
    "configure",
    "cpu_description",
    "end_stale_runs",
    "git_commit",
    "local_store",
    "log_datasets",
    "log_params_flat",
    "mask_password",
    "numerics_tags",
    "peak_rss_mib",
    "process_alive",
    "split_credentials",
    "stage_run",
    "stage_tags",
]
