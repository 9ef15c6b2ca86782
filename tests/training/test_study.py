"""The trial queue on the local PostgreSQL: a trial finished by someone else while it ran here does not stop the worker."""

from __future__ import annotations

import threading
import time
import warnings

import optuna
import pytest
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from churnops.training import study as studies
from churnops.training.study import StudySpec
from tests.support.databases import postgres_available, scratch_database
from tests.support.prerequisites import require

pytestmark = pytest.mark.integration


def test_a_trial_failed_as_stale_while_it_ran_is_dropped_and_the_worker_goes_on() -> None:
    """What a worker frozen past the grace period (SIGSTOP, a suspended machine) finds when it wakes up."""
    require(postgres_available(), "PostgreSQL not reachable at 127.0.0.1:5432")
    spec = StudySpec(["logistic_regression", "lightgbm"], 2, 2, 0, "parent", "0", heartbeat_seconds=1, grace_seconds=2)
    with scratch_database() as url:
        study = studies.create_study(studies.open_storage(url, spec), "queue", spec)

        def objective(trial: optuna.Trial) -> float:
            if trial.number == 0:  # another process fails it meanwhile, as fail_stale would
                study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)  # noqa: SLF001
            return 0.5

        assert studies.run_queue(study, objective) == 1
        assert [trial.state for trial in study.get_trials()] == [TrialState.FAIL, TrialState.COMPLETE]


def test_a_retry_queued_just_after_its_trial_failed_elsewhere_is_still_run() -> None:
    """fail_stale in another process fails a trial and then queues its retry: a worker that looks in between must not
    leave (it left the retry WAITING with no worker to run it, and the search unfinished)."""
    require(postgres_available(), "PostgreSQL not reachable at 127.0.0.1:5432")
    spec = StudySpec(["logistic_regression"], 1, 2, 0, "parent", "0", heartbeat_seconds=1, grace_seconds=2)
    with scratch_database() as url:
        study = studies.create_study(studies.open_storage(url, spec), "queue", spec)
        lost = studies.take_waiting(study)  # a worker took the trial and died; another process fails it ...
        assert lost is not None
        study._storage.set_trial_state_values(lost._trial_id, TrialState.FAIL)  # noqa: SLF001

        elsewhere = optuna.load_study(study_name="queue", storage=studies.open_storage(url))  # opened here, before the race

        def queue_the_retry() -> None:  # ... and queues its retry a moment later, as Optuna's stale-trial callback does
            time.sleep(0.3)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                RetryHeartbeatStaleTrialCallback(max_retry=3)(elsewhere, elsewhere.trials[0])

        other = threading.Thread(target=queue_the_retry)
        other.start()
        assert studies.run_queue(study, lambda trial: 0.5) == 1
        other.join()
        assert [trial.state for trial in study.get_trials()] == [TrialState.FAIL, TrialState.COMPLETE]
        assert studies.unretried_failures(study) == []
