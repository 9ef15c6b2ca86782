"""The search across 2 worker processes sharing one Optuna study in the local PostgreSQL, tracked by a real `mlflow server`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

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


@dataclass(frozen=True)
class Searched:
    settings: Settings
    trained: Trained
    study: optuna.Study


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Searched]:
    """One training run whose search ran in 2 local worker processes (fast families, 6 trials, 2 folds, small synthetic data)."""
    require(postgres_available(), "PostgreSQL not reachable at 127.0.0.1:5432")
    folder = tmp_path_factory.mktemp("distributed-search")
    with scratch_database() as tracking_db, scratch_database() as study_db, mlflow_server(tracking_db, folder / "served-artifacts") as url:
        settings = fast_settings(
            folder,
            tracking_uri=url,
            search_storage=study_db,
            search_workers=2,
            search_trials=TRIALS,
            cv_folds=2,
            families=["logistic_regression", "lightgbm"],
        )
        trained = train(settings, hold_out(settings, prepare(settings)), SilentProgress())
        name = mlflow.get_run(trained.run_id).data.tags[STUDY_TAG]
        yield Searched(settings, trained, optuna.load_study(study_name=name, storage=study_db))


def test_every_trial_ran_exactly_once_split_between_the_workers(searched: Searched) -> None:
    trials = searched.study.get_trials()
    assert [trial.number for trial in trials] == list(range(TRIALS))
    assert {trial.state for trial in trials} == {TrialState.COMPLETE}
    workers = {trial.user_attrs["worker"].rsplit("(", 1)[1] for trial in trials}
    assert workers == {"worker 0)", "worker 1)"}, workers


def test_the_studys_best_is_the_pipelines_choice(searched: Searched) -> None:
    best = searched.study.best_trial
    assert searched.trained.cv_roc_auc_mean == best.value
    assert (searched.trained.family, searched.trained.params) == (best.user_attrs["family"], best.user_attrs["params"])


def test_each_trial_is_one_nested_run_under_the_training_run(searched: Searched) -> None:
    runs = mlflow.search_runs(
        experiment_ids=[mlflow.get_run(searched.trained.run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{searched.trained.run_id}'",
        output_format="list",
    )
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
