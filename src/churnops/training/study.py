"""The Optuna study the search runs: its storage, what it records about the search, and its queue of trials.

The whole budget is enqueued when the study is created (the family defaults first, then empty trials the
sampler fills in), and workers only ever take WAITING trials from that queue. Taking one is atomic in the
storage (PostgreSQL row lock), so however many processes or machines share the study, each trial runs once
and the study never holds more trials than the budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage
from optuna.trial import TrialState

from churnops.errors import ConfigError
from churnops.training.families import DEFAULT_PARAMS, to_trial_params

SPEC_KEY = "churnops.search"
Objective = Callable[[optuna.Trial], float]
TrialCallback = Callable[[int, int, float, float], None]  # (done, total, trial score, best score)


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

    @classmethod
    def of(cls, study: optuna.Study) -> StudySpec:
        recorded = study.user_attrs.get(SPEC_KEY)
        if recorded is None:
            raise ConfigError(f"Optuna study '{study.study_name}' was not created by churnops (no '{SPEC_KEY}' attribute): join a churnops study.")
        return cls(**recorded)

    def deadline(self) -> float | None:
        return None if self.timeout_seconds is None else self.started + self.timeout_seconds


def open_storage(url: str | None) -> BaseStorage:
    """In memory without a URL; else the shared RDB storage, with a clear error for a bad URL or a missing driver."""
    if url is None:
        return InMemoryStorage()
    try:
        return RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    except ModuleNotFoundError as error:
        raise ConfigError(
            f"CHURNOPS_SEARCH_STORAGE '{url}' needs the database driver '{error.name}', which is not installed: "
            "use a postgresql:// URL (psycopg2 is installed)."
        ) from None
    except Exception as error:  # noqa: BLE001 - sqlalchemy/optuna raise many kinds; all mean "cannot use this storage"
        raise ConfigError(f"CHURNOPS_SEARCH_STORAGE '{url}' cannot be used: {error}. Set it to a reachable PostgreSQL URL, or unset it.") from None


def create_study(storage: BaseStorage, name: str, spec: StudySpec) -> optuna.Study:
    """A new study holding the spec and the whole trial budget as a queue."""
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", sampler=sampler(spec.seed))
    study.set_user_attr(SPEC_KEY, asdict(spec))
    # Known-good starting points first, so the search never ends below a sensible baseline.
    defaults = [to_trial_params(family, DEFAULT_PARAMS[family]) for family in spec.families][: spec.trials]
    for params in defaults + [{}] * (spec.trials - len(defaults)):
        study.enqueue_trial(params)
    return study


def load_study(storage: BaseStorage, name: str, worker: int) -> optuna.Study:
    try:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler(0))
    except KeyError:
        raise ConfigError(
            f"No search study '{name}' in the storage: the training run's tag churnops.search_study names its study (churnops-<run id>)."
        ) from None
    # Each worker its own seed: workers seeing the same history must not propose the same trial.
    study.sampler = sampler(StudySpec.of(study).seed + worker)
    return study


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


def run_queue(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    on_done: Callable[[optuna.Study, float], None] | None = None,
) -> int:
    """Run queued trials until the queue is empty or the study's deadline passed; returns how many this process ran.

    A trial whose objective raises is marked FAIL (never left RUNNING) and the error propagates: the search stops loudly.
    """
    deadline = StudySpec.of(study).deadline()
    done = 0
    while deadline is None or time.time() < deadline:
        trial = take_waiting(study)
        if trial is None:
            break
        try:
            value = objective(trial)
        except BaseException:
            study.tell(trial, state=TrialState.FAIL)
            raise
        study.tell(trial, value)
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
