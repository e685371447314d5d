"""A team's DVC remote round-trips the data: `dvc push`, lose the cache and the outputs,
`dvc pull` (or `dvc repro --pull`, as CI does) and every byte is back.

Runs against a local-path remote and an S3-compatible one (moto's server on 127.0.0.1),
so nothing outside this machine is needed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from dvc.cli import main as dvc_main

from tests.support.postgres import free_port
from tests.support.project_copy import git_env
from tests.support.servers import wait_until_answering

BIN = Path(sys.executable).parent
# moto accepts any credentials; these only keep boto from looking for real ones.
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
BUCKET = "imgclf-dvc"

# A stage whose output DVC can restore; `ran.log` (outside the repo) records each real run.
DVC_YAML = """\
stages:
  count:
    cmd: python count.py
    deps: [count.py, data/raw]
    outs: [reports/count.txt]
"""
COUNT_PY = """\
import pathlib
n = len(list(pathlib.Path("data/raw").iterdir()))
pathlib.Path("reports").mkdir(exist_ok=True)
pathlib.Path("reports/count.txt").write_text(f"{n} files\\n")
with open(pathlib.Path(__file__).resolve().parents[1] / "ran.log", "a") as log:
    log.write("ran\\n")
"""


@dataclass
class Remote:
    """What `dvc remote add` and `dvc remote modify` get."""

    url: str
    options: dict[str, str] = field(default_factory=dict)


@pytest.fixture(params=["local", "s3"])
def remote(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Remote]:
    """A DVC remote nobody has pushed to yet; for S3, the credentials are in the environment,
    as the README says to keep them."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the endpoint is on this machine
    if request.param == "local":
        yield Remote(url=str(tmp_path / "team-remote"))
        return
    log_path = tmp_path / "moto-server.log"
    log = open(log_path, "w")  # noqa: SIM115
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    request.addfinalizer(log.close)
    request.addfinalizer(lambda: (server.terminate(), server.wait(timeout=30)))
    endpoint = f"http://127.0.0.1:{port}"
    wait_until_answering(f"{endpoint}/moto-api/", server, log_path)
    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield Remote(url=f"s3://{BUCKET}/imgclf", options={"endpointurl": endpoint})


def test_pushed_data_and_outputs_come_back_byte_for_byte(
    remote: Remote,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = tmp_path / "project"
    raw = project / "data" / "raw"
    raw.mkdir(parents=True)
    originals = {
        raw / "a.bin": bytes(range(256)) * 4,
        raw / "b.txt": "λ ünïcode and a trailing newline\n".encode(),
    }
    for path, content in originals.items():
        path.write_bytes(content)
    (project / "dvc.yaml").write_text(DVC_YAML)
    (project / "count.py").write_text(COUNT_PY)
    git = git_in(project)
    dvc = dvc_in(project, monkeypatch, capsys)

    git("init", "-q")
    dvc("init", "-q")
    dvc("remote", "add", "-d", "team", remote.url)
    for option, value in remote.options.items():
        dvc("remote", "modify", "team", option, value)
    dvc("add", "data/raw")
    dvc("repro")
    originals[project / "reports" / "count.txt"] = b"2 files\n"
    assert (project / "reports" / "count.txt").read_bytes() == b"2 files\n"
    git("add", "-A")
    git("commit", "-qm", "data and pipeline")
    dvc("push")

    forget_local_data(project)
    dvc("pull")
    assert {path: path.read_bytes() for path in originals} == originals

    # CI's path: `dvc repro --pull` restores the unchanged stage from the remote, not re-running it.
    forget_local_data(project)
    dvc("repro", "--pull")
    assert {path: path.read_bytes() for path in originals} == originals
    assert (tmp_path / "ran.log").read_text() == "ran\n"


def forget_local_data(project: Path) -> None:
    """What a fresh clone lacks: DVC's cache and every DVC-tracked output."""
    for folder in (project / ".dvc" / "cache", project / "data" / "raw", project / "reports"):
        shutil.rmtree(folder)


def git_in(project: Path) -> Callable[..., None]:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=project, env=git_env(), check=True)

    return git


def dvc_in(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., None]:
    """A function running `dvc <args>` in ``project`` that fails the test on a non-zero exit.

    It calls DVC's own command-line entry point in this process: the same code as the `dvc`
    executable, without paying its start-up (seconds on a loaded machine) for every command."""
    monkeypatch.chdir(project)
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")  # the stage's `python`
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")

    def dvc(*args: str) -> None:
        status = dvc_main(list(args))
        output = capsys.readouterr()
        assert status == 0, f"dvc {' '.join(args)} failed:\n{output.out}\n{output.err}"

    return dvc
