"""Search workers: processes (here or on other machines) that share one Optuna study in PostgreSQL.

The pipeline logs what a worker needs to its training run (the training part and the dataset contract,
under search/inputs/), so a worker needs only the study's name, the study storage and the MLflow server:
`churnops search-worker --study NAME`. `run_local_workers` starts `search_workers` such processes and waits
for them, and for any worker elsewhere still running a trial. A worker killed by a signal (kill -9, out of
memory) does not stop the search: its trial goes back to the queue once its heartbeat is stale (training/study.py)
and the other workers run it; a worker that exits with an error does.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess  # nosec B404  # our own interpreter and CLI, with an argument list, never a shell
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import optuna
import pandas as pd

from churnops.data.contract import DatasetContract, load_contract
from churnops.data.split import Part
from churnops.errors import ConfigError, SearchError
from churnops.settings import Settings
from churnops.tracking import connect
from churnops.training import study as studies
from churnops.training.study import StudySpec
from churnops.training.trial import TrialObjective

INPUTS = "search/inputs"
TARGET_COLUMN = "__churnops_target__"
# Last resort for a trial RUNNING without any heartbeat (its worker died before its first one): give up after this long.
STALL_SECONDS = 900.0
log = logging.getLogger(__name__)


def log_inputs(contract_file: Path, train: Part) -> None:
    """The training part and the contract, as artifacts of the active training run: what every worker trains on."""
    with tempfile.TemporaryDirectory() as folder:
        table = train.features.reset_index(drop=True).assign(**{TARGET_COLUMN: train.target.to_numpy()})
        table.to_parquet(Path(folder) / "train.parquet", index=False)
        shutil.copyfile(contract_file, Path(folder) / "contract.yaml")
        mlflow.log_artifacts(folder, INPUTS)


def load_inputs(parent_run_id: str, folder: Path) -> tuple[DatasetContract, Part]:
    local = Path(mlflow.artifacts.download_artifacts(run_id=parent_run_id, artifact_path=INPUTS, dst_path=str(folder)))
    table = pd.read_parquet(local / "train.parquet")
    return load_contract(local / "contract.yaml"), Part(table.drop(columns=[TARGET_COLUMN]), table[TARGET_COLUMN], None)


def join(settings: Settings, name: str, worker: int) -> int:
    """Run trials of study `name` until its queue is empty; returns how many this worker ran."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if settings.search.storage is None:
        raise ConfigError("A search worker needs the study's storage: set CHURNOPS_SEARCH_STORAGE (or pass --storage) to its PostgreSQL URL.")
    study = studies.load_study(settings.search.storage, name, worker)
    spec = StudySpec.of(study)
    connect(settings)
    try:
        mlflow.get_run(spec.parent_run_id)
    except mlflow.exceptions.MlflowException:
        raise ConfigError(
            f"Study '{name}' belongs to training run {spec.parent_run_id}, which is not in {settings.tracking_uri}: "
            "set CHURNOPS_TRACKING_URI to the pipeline's MLflow server."
        ) from None
    with tempfile.TemporaryDirectory() as folder:
        contract, train = load_inputs(spec.parent_run_id, Path(folder))
    objective = TrialObjective(contract, train, spec, settings.search.n_jobs, f"worker {worker}")
    return studies.run_queue(study, objective)


def run_local_workers(settings: Settings, name: str, study: optuna.Study, on_trial: studies.TrialCallback | None) -> None:
    """Start `search_workers` worker processes on study `name` and wait until the study is done, reporting progress."""
    # Exactly these settings in every worker (not the environment's: the caller may have overridden some).
    environment = {key: value for key, value in os.environ.items() if not key.startswith("CHURNOPS_")} | settings.as_environment()
    # The workers split the CPU between them: fewer parallel CV folds each.
    environment["CHURNOPS_N_JOBS"] = str(max(1, settings.search.n_jobs // settings.search.workers))
    spec = StudySpec.of(study)
    with tempfile.TemporaryDirectory() as folder:
        logs = [Path(folder) / f"worker-{number}.log" for number in range(settings.search.workers)]
        processes = [start_worker(name, number, log, environment) for number, log in enumerate(logs)]
        try:
            wait(study, spec, processes, logs, on_trial)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
                    process.wait(timeout=30)


def start_worker(name: str, number: int, log: Path, environment: dict[str, str]) -> subprocess.Popen[bytes]:
    command: list[str] = [sys.executable, "-m", "churnops", "search-worker", "--study", name, "--number", str(number)]
    with log.open("wb") as output:
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment)  # noqa: S603  # nosec B603  # our interpreter and CLI, no shell


def wait(
    study: optuna.Study, spec: StudySpec, processes: list[subprocess.Popen[bytes]], logs: list[Path], on_trial: studies.TrialCallback | None
) -> None:
    """Poll the study until the local workers have exited and no trial is running anywhere.

    A worker that exits with an error stops the search; one killed by a signal only loses its trial, which the study
    queues again (fail_stale, also run here in case no worker is looking).
    """
    reported, last_progress, killed = 0, time.monotonic(), set[int]()
    while True:
        time.sleep(0.5)
        studies.fail_stale(study)
        done = studies.completed(study)
        if len(done) > reported:
            reported, last_progress = len(done), time.monotonic()
            if on_trial is not None:
                on_trial(reported, spec.trials, float(done[-1].value), max(float(trial.value) for trial in done))
        for number, (process, log_file) in enumerate(zip(processes, logs, strict=True)):
            code = process.poll()
            if code is not None and code > 0:
                tail = log_file.read_text(errors="replace")[-2000:]
                raise SearchError(f"Search worker {number} of study '{study.study_name}' exited with {code}:\n{tail}")
            if code is not None and code < 0 and number not in killed:
                killed.add(number)
                log.warning("Search worker %d of study '%s' was killed (signal %d); the others take over its trial.", number, study.study_name, -code)
        if any(process.poll() is None for process in processes):
            continue
        if not studies.counts(study).get("RUNNING"):
            return
        if time.monotonic() - last_progress > STALL_SECONDS:
            return  # collect() reports the trials left RUNNING
