"""The Optuna study the search runs: its storage, what it records about the search, and its queue of trials.

The whole budget is enqueued when the study is created (the family defaults first, then empty trials the
sampler fills in), and workers only ever take WAITING trials from that queue. Taking one is atomic in the
storage (PostgreSQL row lock), so however many processes or machines share the study, each trial runs once
and the study never holds more trials than the budget, plus the retries of trials whose worker died.

A worker that dies mid-trial (kill -9, out of memory, a lost machine) stops the heartbeat it records while
the trial runs. Whoever looks at the queue next (a worker looking for work, the pipeline while it waits)
marks a trial silent for longer than the grace period FAIL and queues its parameters again (Optuna's
heartbeat retry), so a live worker re-runs it and the budget still completes.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from optuna.exceptions import ExperimentalWarning
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat  # not re-exported by optuna.storages
from optuna.trial import FrozenTrial, TrialState

from churnops.errors import ConfigError
from churnops.training.families import DEFAULT_PARAMS, to_trial_params

SPEC_KEY = "churnops.search"
Objective = Callable[[optuna.Trial], float]
TrialCallback = Callable[[int, int, float, float], None]  # (done, total, trial score, best score)
# A trial whose parameters keep killing their worker (e.g. out of memory) is not retried forever.
MAX_RETRIES = 2
log = logging.getLogger(__name__)
LATE = "Search trial %d was failed as stale (no heartbeat for the grace period) while it ran here: result dropped, its retry runs it."


@dataclass(frozen=True)
class StudySpec:
    """What every worker of a study must agree on: stored in the study, so a worker needs only its name."""

    families: list[str]
    trials: int
    cv_folds: int
    seed: int
    parent_run_id: str  # the training run every trial is nested under
    experiment_id: str
    timeout_seconds: float | None = None
    started: float = 0.0  # time.time() when the study was created: the timeout counts from here
    # In the study, not each process's settings: a worker must beat at least as often as every other process expects.
    heartbeat_seconds: int = 10
    grace_seconds: int = 60

    @classmethod
    def of(cls, study: optuna.Study) -> StudySpec:
        recorded = study.user_attrs.get(SPEC_KEY)
        if recorded is None:
            raise ConfigError(f"Optuna study '{study.study_name}' was not created by churnops (no '{SPEC_KEY}' attribute): join a churnops study.")
        return cls(**recorded)

    def deadline(self) -> float | None:
        return None if self.timeout_seconds is None else self.started + self.timeout_seconds


def open_storage(url: str | None, spec: StudySpec | None = None) -> BaseStorage:
    """In memory without a URL; else the shared RDB storage, with a clear error for a bad URL or a missing driver.

    With `spec`, the storage knows the study's heartbeat: running trials can record it and stale ones are failed.
    """
    if url is None:
        return InMemoryStorage()
    heartbeat: dict[str, Any] = {}
    if spec is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)  # the heartbeat API is experimental in Optuna 5
            retry = RetryStaleTrial()
        heartbeat = {"heartbeat_interval": spec.heartbeat_seconds, "grace_period": spec.grace_seconds, "heartbeat_stale_trial_callback": retry}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return RDBStorage(url, engine_kwargs={"pool_pre_ping": True}, **heartbeat)
    except ModuleNotFoundError as error:
        raise ConfigError(
            f"CHURNOPS_SEARCH_STORAGE '{url}' needs the database driver '{error.name}', which is not installed: "
            "use a postgresql:// URL (psycopg2 is installed)."
        ) from None
    except Exception as error:  # noqa: BLE001 - sqlalchemy/optuna raise many kinds; all mean "cannot use this storage"
        raise ConfigError(f"CHURNOPS_SEARCH_STORAGE '{url}' cannot be used: {error}. Set it to a reachable PostgreSQL URL, or unset it.") from None


class RetryStaleTrial:
    """Called for each trial failed as stale: its parameters queued again (Optuna's retry), its MLflow run ended KILLED.

    The run is found by its tags, set when it was created (trial.py), so it is ended wherever the worker died.
    """

    def __init__(self) -> None:
        self.retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            self.retry(study, trial)
        worker = trial.user_attrs.get("worker")
        log.warning("Search trial %d of study '%s' lost its worker (%s): failed, queued again.", trial.number, study.study_name, worker)
        spec = StudySpec.of(study)
        try:
            client = MlflowClient()
            for run in client.search_runs(
                [spec.experiment_id],
                f"tags.mlflow.parentRunId = '{spec.parent_run_id}' AND tags.optuna_trial = '{trial.number}' AND attributes.status = 'RUNNING'",
            ):
                client.set_terminated(run.info.run_id, status="KILLED")
        except MlflowException as error:  # bookkeeping only: the search goes on
            log.warning("Could not end the MLflow run of the lost search trial %d: %s", trial.number, error)


def create_study(storage: BaseStorage, name: str, spec: StudySpec) -> optuna.Study:
    """A new study holding the spec and the whole trial budget as a queue."""
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", sampler=sampler(spec.seed))
    study.set_user_attr(SPEC_KEY, asdict(spec))
    # Known-good starting points first, so the search never ends below a sensible baseline.
    defaults = [to_trial_params(family, DEFAULT_PARAMS[family]) for family in spec.families][: spec.trials]
    for params in defaults + [{}] * (spec.trials - len(defaults)):
        study.enqueue_trial(params)
    return study


def load_study(url: str, name: str, worker: int) -> optuna.Study:
    """Study `name` in the storage at `url`, opened with the heartbeat its spec records."""
    plain = open_storage(url)
    try:
        spec = StudySpec.of(optuna.load_study(study_name=name, storage=plain))
    except KeyError:
        raise ConfigError(
            f"No search study '{name}' in the storage: the training run's tag churnops.search_study names its study (churnops-<run id>)."
        ) from None
    finally:
        if isinstance(plain, RDBStorage):
            plain.engine.dispose()
    # Each worker its own seed: workers seeing the same history must not propose the same trial.
    return optuna.load_study(study_name=name, storage=open_storage(url, spec), sampler=sampler(spec.seed + worker))


def sampler(seed: int) -> optuna.samplers.BaseSampler:
    # constant_liar: a trial running in another worker counts as a poor result, so workers spread out.
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def take_waiting(study: optuna.Study) -> optuna.Trial | None:
    """The next queued trial, now RUNNING and ours alone; None when the queue is empty.

    What Study.ask() does first, without its fallback of creating a trial beyond the budget. It uses the study's
    own storage object: Optuna wraps an RDB storage in a per-study cache that must see every change.
    """
    storage, study_id = study._storage, study._study_id  # noqa: SLF001 - see above
    for waiting in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, waiting.number)
        try:
            if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):  # False: another worker took it first
                return optuna.Trial(study, trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def fail_stale(study: optuna.Study) -> None:
    """Fail the RUNNING trials whose heartbeat stopped longer than the grace period ago, and queue them again.

    Safe from any number of processes at once: a trial changes state under a row lock, so only one of them fails it
    (and retries it). A no-op for a storage without heartbeat (in memory).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


@contextmanager
def heartbeat(study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
    """Record the trial's heartbeat from a daemon thread while the block runs (Study.optimize does this; we take trials ourselves).

    The first beat is recorded before the block starts: a trial without any is never found stale.
    """
    storage = study._storage  # noqa: SLF001 - the study's own (cached) storage, as in take_waiting
    if not isinstance(storage, BaseHeartbeat) or (interval := storage.get_heartbeat_interval()) is None:
        yield
        return
    storage.record_heartbeat(trial._trial_id)  # noqa: SLF001 - Optuna's heartbeat API takes the storage's trial id
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                storage.record_heartbeat(trial._trial_id)  # noqa: SLF001
            except Exception as error:  # noqa: BLE001 - a missed beat is retried next interval; the trial goes on
                log.warning("Heartbeat of search trial %d not recorded: %s", trial.number, error)

    thread = threading.Thread(target=beat, name=f"heartbeat-trial-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_queue(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    on_done: Callable[[optuna.Study, float], None] | None = None,
) -> int:
    """Run queued trials until none is left or the study's deadline passed; returns how many this process ran.

    While the queue is empty but trials run elsewhere, keep polling: if one of their workers dies, its trial comes back
    to the queue once its heartbeat is stale, and a live worker must be there to take it.
    A trial whose objective raises is marked FAIL (never left RUNNING) and the error propagates: the search stops loudly.
    """
    spec = StudySpec.of(study)
    deadline = spec.deadline()
    done, looked_again = 0, False
    while deadline is None or time.time() < deadline:
        fail_stale(study)
        trial = take_waiting(study)
        if trial is None:
            if counts(study).get("RUNNING"):
                time.sleep(min(spec.heartbeat_seconds, 5))
                continue
            if not looked_again and unretried_failures(study):
                # Another process failing a stale trial queues its retry just after, not atomically: look once more.
                looked_again = True
                time.sleep(min(spec.heartbeat_seconds, 5))
                continue
            break
        looked_again = False
        try:
            with heartbeat(study, trial):
                value = objective(trial)
        except optuna.exceptions.UpdateFinishedTrialError:  # failed as stale while it ran here (a frozen process)
            log.warning(LATE, trial.number)
            continue
        except BaseException:
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise
        if study.tell(trial, value, skip_if_finished=True).state != TrialState.COMPLETE:
            log.warning(LATE, trial.number)
            continue
        done += 1
        if on_done is not None:
            on_done(study, value)
    return done


def counts(study: optuna.Study) -> dict[str, int]:
    """Trials per state name (WAITING, RUNNING, COMPLETE, FAIL ...)."""
    found: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        found[trial.state.name] = found.get(trial.state.name, 0) + 1
    return found


def completed(study: optuna.Study) -> list[Any]:
    return sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda trial: trial.number)


def unretried_failures(study: optuna.Study) -> list[int]:
    """Numbers of the FAILed trials with no retry queued (yet)."""
    queued = retried(study)
    return [trial.number for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if trial.number not in queued]


def retried(study: optuna.Study) -> set[int]:
    """Numbers of the trials that failed as stale and were queued again."""
    return {number for trial in study.get_trials(deepcopy=False) for number in trial.system_attrs.get("retry_history", [])}
