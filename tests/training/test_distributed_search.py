"""The search across 2 worker processes sharing one Optuna study in the local PostgreSQL, tracked by a real `mlflow server`.

Also with one of them killed (kill -9) while it holds a running trial: the trial is failed by its stale heartbeat and
re-run by the other worker, and the budget completes.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import mlflow
import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from churnops.errors import ConfigError
from churnops.progress import SilentProgress
from churnops.settings import Settings
from churnops.training import search_worker
from churnops.training.pipeline import Trained, hold_out, prepare, train
from churnops.training.search import STUDY_TAG, search
from tests.support.databases import postgres_available, scratch_database
from tests.support.prerequisites import require
from tests.support.servers import mlflow_server
from tests.support.settings import fast_settings

pytestmark = pytest.mark.integration
TRIALS = 6
KILL_TRIALS = 8


@dataclass(frozen=True)
class Searched:
    settings: Settings
    trained: Trained
    study: optuna.Study


@dataclass(frozen=True)
class Tracking:
    folder: Path
    url: str


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracking]:
    """One `mlflow server` on a scratch PostgreSQL database, shared by the searches of this module."""
    require(postgres_available(), "PostgreSQL not reachable at 127.0.0.1:5432")
    folder = tmp_path_factory.mktemp("distributed-search")
    with scratch_database() as tracking_db, mlflow_server(tracking_db, folder / "served-artifacts") as url:
        yield Tracking(folder, url)


def search_settings(tracking: Tracking, study_db: str, trials: int, **overrides: object) -> Settings:
    """2 local workers, fast families, 2 folds, small synthetic data."""
    return fast_settings(
        tracking.folder,
        tracking_uri=tracking.url,
        search_storage=study_db,
        search_workers=2,
        search_trials=trials,
        cv_folds=2,
        families=["logistic_regression", "lightgbm"],
        **overrides,
    )


@pytest.fixture(scope="module")
def searched(tracking: Tracking) -> Iterator[Searched]:
    """One training run whose search ran in 2 local worker processes."""
    with scratch_database() as study_db:
        settings = search_settings(tracking, study_db, TRIALS)
        trained = train(settings, hold_out(settings, prepare(settings)), SilentProgress())
        name = mlflow.get_run(trained.run_id).data.tags[STUDY_TAG]
        yield Searched(settings, trained, optuna.load_study(study_name=name, storage=study_db))


def test_every_trial_ran_exactly_once_split_between_the_workers(searched: Searched) -> None:
    trials = searched.study.get_trials()
    assert [trial.number for trial in trials] == list(range(TRIALS))
    assert {trial.state for trial in trials} == {TrialState.COMPLETE}
    workers = {trial.user_attrs["worker"].rsplit("(", 1)[1] for trial in trials}
    assert workers == {"worker 0)", "worker 1)"}, workers


def assert_choice_is_the_best_trial(trained: Trained, study: optuna.Study) -> None:
    best = study.best_trial
    assert trained.cv_roc_auc_mean == best.value
    assert (trained.family, trained.params) == (best.user_attrs["family"], best.user_attrs["params"])


def trial_runs(trained: Trained) -> list[mlflow.entities.Run]:
    """The nested MLflow runs under the training run (one per trial)."""
    return mlflow.search_runs(
        experiment_ids=[mlflow.get_run(trained.run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{trained.run_id}'",
        output_format="list",
    )


def test_the_studys_best_is_the_pipelines_choice(searched: Searched) -> None:
    assert_choice_is_the_best_trial(searched.trained, searched.study)


def test_each_trial_is_one_nested_run_under_the_training_run(searched: Searched) -> None:
    runs = trial_runs(searched.trained)
    assert sorted(int(run.data.tags["optuna_trial"]) for run in runs) == list(range(TRIALS))
    by_trial = {trial.number: trial for trial in searched.study.get_trials()}
    for run in runs:
        trial = by_trial[int(run.data.tags["optuna_trial"])]
        assert run.info.run_id == trial.user_attrs["mlflow_run_id"]
        assert run.data.metrics["cv_roc_auc_mean"] == trial.value


def test_a_worker_for_an_unknown_study_is_a_clear_error(searched: Searched) -> None:
    with pytest.raises(ConfigError, match="No search study 'no-such-study'"):
        search_worker.join(searched.settings, "no-such-study", 0)


def test_several_workers_without_a_shared_storage_are_refused(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, search_workers=2, synthetic_rows=200)
    prepared = prepare(settings)
    with pytest.raises(ConfigError, match="search_workers=2 needs a shared study: set CHURNOPS_SEARCH_STORAGE"):
        search(settings, prepared.contract, prepared.contract_file, prepared.split.train)


@dataclass(frozen=True)
class Survived:
    trained: Trained
    study: optuna.Study
    killed: FrozenTrial  # the trial as it was when its worker was killed


def kill_a_worker_mid_trial(storage: RDBStorage, training: Future[Trained]) -> FrozenTrial:
    """kill -9 the worker process of a RUNNING trial, while it still holds it; returns that trial.

    The worker is frozen (SIGSTOP) first and its trial read again, so it is killed only if the trial is still its own.
    """
    while not training.done():
        names = optuna.get_all_study_names(storage)
        running = storage.get_all_trials(storage.get_study_id_from_name(names[0]), states=(TrialState.RUNNING,)) if names else []
        for trial in (trial for trial in running if "worker" in trial.user_attrs):
            pid = int(trial.user_attrs["worker"].split(":")[1].split(" ")[0])
            os.kill(pid, signal.SIGSTOP)
            now = storage.get_trial(trial._trial_id)  # noqa: SLF001 - the storage's trial id
            if now.state == TrialState.RUNNING and now.user_attrs.get("worker") == trial.user_attrs["worker"]:
                os.kill(pid, signal.SIGKILL)
                return now
            os.kill(pid, signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError(f"the search ended before a worker could be killed mid-trial: {training.result()}")


@pytest.fixture(scope="module")
def survived(tracking: Tracking) -> Iterator[Survived]:
    """A search in 2 local workers (1 s heartbeat, 3 s grace) whose worker holding a running trial is killed with SIGKILL."""
    with scratch_database() as study_db:
        settings = search_settings(tracking, study_db, KILL_TRIALS, search_heartbeat_seconds=1, search_grace_seconds=3)
        prepared = hold_out(settings, prepare(settings))
        storage = RDBStorage(study_db)  # Optuna's tables made here: not by this poller and the pipeline at once
        training: Future[Trained] = Future()

        def run() -> None:
            try:
                training.set_result(train(settings, prepared, SilentProgress()))
            except BaseException as error:  # noqa: BLE001 - handed to the test through the future
                training.set_exception(error)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        killed = kill_a_worker_mid_trial(storage, training)
        trained = training.result(timeout=300)
        name = mlflow.get_run(trained.run_id).data.tags[STUDY_TAG]
        yield Survived(trained, optuna.load_study(study_name=name, storage=study_db), killed)


def test_a_killed_workers_trial_fails_and_its_params_complete_exactly_once(survived: Survived) -> None:
    trials = survived.study.get_trials()
    killed = trials[survived.killed.number]
    assert killed.state == TrialState.FAIL
    complete = [trial for trial in trials if trial.state == TrialState.COMPLETE]
    assert len(trials) == KILL_TRIALS + 1  # the budget and one retry
    assert len(complete) == KILL_TRIALS
    params = [tuple(sorted(trial.params.items())) for trial in complete]
    assert len(set(params)) == KILL_TRIALS  # every parameter set completed once
    retry = trials[-1]
    assert retry.state == TrialState.COMPLETE
    assert retry.system_attrs["retry_history"] == [killed.number]
    assert retry.params == killed.params
    assert retry.user_attrs["worker"] != killed.user_attrs["worker"]


def test_after_a_killed_worker_the_pipelines_choice_is_still_the_studys_best(survived: Survived) -> None:
    assert_choice_is_the_best_trial(survived.trained, survived.study)


def test_the_killed_trials_run_ends_killed_and_each_completed_trial_has_one_finished_run(survived: Survived) -> None:
    runs = trial_runs(survived.trained)
    by_status: dict[str, list[int]] = {}
    for run in runs:
        by_status.setdefault(run.info.status, []).append(int(run.data.tags["optuna_trial"]))
    complete = survived.study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(by_status.pop("FINISHED")) == [trial.number for trial in complete]
    assert by_status == {"KILLED": [survived.killed.number]}
    assert MlflowClient().get_run(survived.killed.user_attrs["mlflow_run_id"]).info.status == "KILLED"
