"""Values that used to start a stage and fail inside Lightning, Optuna or MLflow (or leak a
password into git) are refused when the params are read, in one line naming the key."""

from __future__ import annotations

import socket
import typing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lightning.pytorch.accelerators import AcceleratorRegistry

from imgclf.config import TrainConfig, load_params, parse_params, with_overrides
from imgclf.config.sections import Accelerator
from imgclf.errors import ConfigError, ParamError, UserError
from imgclf.models.architectures import check_architecture
from imgclf.stages.tune import check_models
from imgclf.training.processes import rendezvous_defaults
from imgclf.tuning.storage import StorageSpec, open_storage


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"train": {"accelerator": "tpu-ish"}}, "train.accelerator = 'tpu-ish'"),
        ({"train": {"devices": -3}}, "train.devices = -3"),
        ({"train": {"devices": 0}}, "train.devices = 0"),
        ({"train": {"devices": "two"}}, "train.devices = 'two'"),
        ({"seed": 2**32}, "seed = 4294967296"),
        ({"tune": {"heartbeat_interval_s": 60, "grace_period_s": 60}}, "tune.heartbeat_interval_s"),
        ({"mlflow": {"experiment": ""}}, "mlflow.experiment = ''"),
        ({"tune": {"space": {}}}, "tune.space"),
        ({"train": {"weight_decay": float("inf")}}, "train.weight_decay = inf"),
    ],
)
def test_values_lightning_optuna_or_mlflow_would_reject_later_are_refused_naming_the_key(
    raw: dict[str, object], key: str
) -> None:
    with pytest.raises(ConfigError) as error:
        parse_params(raw)
    assert key in str(error.value)
    assert "\n" not in str(error.value)


def test_every_accelerator_the_schema_allows_is_one_lightning_knows() -> None:
    assert set(typing.get_args(Accelerator)) == {
        *AcceleratorRegistry.available_accelerators(),
        "gpu",
        "auto",
    }


def test_an_unknown_timm_architecture_in_the_search_space_is_refused_before_any_trial() -> None:
    check_architecture("timm:test_resnet")
    params = parse_params(
        {
            "tune": {
                "space": {"model.name": {"type": "categorical", "choices": ["cnn", "timm:nope"]}}
            }
        }
    )
    with pytest.raises(ParamError, match=r"model.name = 'timm:nope': timm has no such"):
        check_models(params)


def test_a_storage_password_in_the_params_file_is_refused_pointing_to_the_environment(
    tmp_path: Path,
) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("tune:\n  storage: postgresql://me:SECRET@db.example.org/optuna\n")

    with pytest.raises(ConfigError) as error:
        load_params(path)

    message = str(error.value)
    assert "tune.storage holds a password" in message and "IMGCLF_OPTUNA_STORAGE" in message
    assert "--storage" in message and "SECRET" not in message


def test_a_storage_password_from_the_environment_or_command_line_is_accepted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("tune:\n  storage: postgresql://me@db.example.org/optuna\n")
    url = "postgresql://me:SECRET@db.example.org/optuna"
    assert with_overrides(load_params(path), {"tune.storage": url}).tune.storage == url


def test_single_node_ddp_meets_on_loopback_unless_the_user_set_an_address() -> None:
    ddp = TrainConfig(strategy="ddp", devices=2)
    assert rendezvous_defaults(ddp, {}) == {"MASTER_ADDR": "127.0.0.1"}
    assert rendezvous_defaults(ddp, {"MASTER_ADDR": "10.0.0.5"}) == {}
    two_nodes = TrainConfig(strategy="ddp", devices=2, num_nodes=2)
    assert rendezvous_defaults(two_nodes, {}) == {}
    assert rendezvous_defaults(TrainConfig(), {}) == {}


@pytest.mark.slow
def test_a_silent_postgres_host_fails_the_study_storage_within_its_connect_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"postgresql://me:SECRET@127.0.0.1:{silent.getsockname()[1]}/optuna"
        spec = StorageSpec("rdb", url, owned=False)
        with ThreadPoolExecutor(1) as pool:
            opening = pool.submit(
                open_storage, spec, heartbeat_interval_s=1, grace_period_s=5, connect_timeout_s=2
            )
            with pytest.raises(UserError) as error:
                opening.result(timeout=20)  # without a connect timeout libpq waits forever
    assert "me:***@127.0.0.1" in str(error.value) and "timeout" in str(error.value)
    assert "SECRET" not in str(error.value)
