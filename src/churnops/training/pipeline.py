"""The training steps composed: data -> split -> search + train -> evaluate -> register -> gate.

The CLI, the MLproject entry points and the training flow call these functions; retraining
(API jobs, monitoring) runs them through `churnops pipeline` in a child process (churnops.retraining).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.tracking import MlflowClient
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from churnops import registry
from churnops.data import sources
from churnops.data.contract import DatasetContract, contract_path, load_contract
from churnops.data.loading import Dataset, load_dataset
from churnops.data.sources import DATA_CACHE, acquire_data, data_kind
from churnops.data.split import Split, split_around, split_dataset
from churnops.errors import ChurnopsError, DataError
from churnops.model import churn_model, onnx
from churnops.model.churn_model import churn_probabilities, load_logged_pipeline
from churnops.model.reference import log_reference
from churnops.model.writer import log_model
from churnops.progress import Progress, SilentProgress
from churnops.settings import Settings
from churnops.tracking import connect, ensure_experiment, git_commit
from churnops.training import evaluation_set as evaluation_sets
from churnops.training.evaluate import choose_threshold, evaluate
from churnops.training.evaluation_set import EvaluationSet
from churnops.training.families import build_pipeline
from churnops.training.reuse import TRAINING_KEY_TAG, training_key
from churnops.training.search import search


@dataclass(frozen=True)
class Prepared:
    contract: DatasetContract
    dataset: Dataset
    split: Split
    data_path: Path
    contract_file: Path  # the YAML the contract was read from: it ships inside the model
    data_source: str  # where the data came from (a derived retraining file names its base source)
    evaluation: EvaluationSet  # what split.test is and where it came from
    held_out: int = 0  # rows of the data left out of training because they are in the evaluation set

    def dataset_source(self) -> str:
        """What mlflow.log_input records as the dataset's source: the URL, or the local file read."""
        return self.dataset.source if sources.is_url(self.dataset.source) else str(self.data_path.resolve())

    @property
    def data_kind(self) -> str:
        return data_kind(self.data_source)


@dataclass(frozen=True)
class Trained:
    run_id: str
    model_uri: str
    family: str
    params: dict[str, Any]
    cv_roc_auc_mean: float
    cv_roc_auc_std: float
    threshold: float
    pipeline: Pipeline


@dataclass(frozen=True)
class Evaluated:
    run_id: str
    metrics: dict[str, float]
    parity_difference: float


@dataclass(frozen=True)
class PipelineResult:
    model_name: str
    version: str
    promoted: bool
    reasons: list[str]
    champion_version: str | None
    family: str
    params: dict[str, Any]
    test_metrics: dict[str, float]
    cv_roc_auc_mean: float
    cv_roc_auc_std: float
    threshold: float
    parity_difference: float
    data_fingerprint: str
    data_source: str
    evaluation_set: str  # what the gate judged on
    evaluation_set_fingerprint: str
    split_sizes: dict[str, int]
    training_run_id: str
    evaluation_run_id: str
    gate_run_id: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prepare(settings: Settings) -> Prepared:
    """Load the contract and the data, validate, and split."""
    contract = load_contract(settings.dataset)
    path, source = acquire_data(settings)
    dataset = load_dataset(path, contract, source=source)
    split = split_dataset(dataset, settings.test_size, settings.validation_size, settings.seed)
    own = evaluation_sets.from_part(split.test, f"this run's held-out test split ({len(split.test.target)} rows)")
    return Prepared(contract, dataset, split, path, contract_path(settings.dataset).resolve(), settings.data_derived_from or source, own)


def hold_out(settings: Settings, prepared: Prepared) -> Prepared:
    """Judge this run on the trusted evaluation set when there is one: it replaces the test split and its rows never train.

    The set is the pinned CHURNOPS_GATE_EVALUATION_DATA, else the champion's registered evaluation set
    (a synthetic-data champion does not judge a real-data challenger). Without either: the run's own split.
    """
    trusted = trusted_evaluation_set(settings, start_tracking(settings), prepared)
    if trusted is None:
        return prepared
    dataset = prepared.dataset
    in_evaluation = evaluation_sets.row_keys(dataset.features, dataset.target).isin(
        set(evaluation_sets.row_keys(trusted.part.features, trusted.part.target))
    )
    split = split_around(dataset, in_evaluation, trusted.part, settings.test_size, settings.validation_size, settings.seed)
    return replace(prepared, split=split, evaluation=trusted, held_out=int(in_evaluation.sum()))


def trusted_evaluation_set(settings: Settings, client: MlflowClient, prepared: Prepared) -> EvaluationSet | None:
    if settings.gate.evaluation_data:
        return evaluation_sets.load_pinned(settings.gate.evaluation_data, prepared.contract, DATA_CACHE)
    champion = registry.version_by_alias(client, settings.model_name, registry.CHAMPION)
    if champion is None:
        return None
    if registry.version_data_kind(client, champion) == "synthetic" and prepared.data_kind != "synthetic":
        return None  # real data is judged on real rows; the synthetic champion is scored on them too
    evaluation_run = champion.tags.get("evaluation_run_id")
    if not evaluation_run:
        return None
    found = evaluation_sets.load_registered(client, evaluation_run, prepared.contract, f"champion v{champion.version}'s evaluation set")
    if found is None:
        return None
    return replace(found, description=f"{found.description} ({found.rows} rows)")


def start_tracking(settings: Settings) -> MlflowClient:
    """Connect to MLflow and select the training experiment; every tracked step calls this first (cheap, idempotent)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # our own progress is shown instead
    client = connect(settings)
    ensure_experiment(settings)
    return client


def train(settings: Settings, prepared: Prepared, progress: Progress) -> Trained:
    """Search, refit the best configuration on the training part, choose the threshold, log the model."""
    contract, dataset, split = prepared.contract, prepared.dataset, prepared.split
    start_tracking(settings)
    mlflow.set_system_metrics_sampling_interval(settings.system_metrics_seconds)
    mlflow.set_system_metrics_samples_before_logging(1)
    # System metrics (CPU, memory, disk, network) are sampled in a background thread while training runs.
    with mlflow.start_run(run_name=f"train-{contract.name}", log_system_metrics=True) as run:
        mlflow.set_tags(
            {
                "churnops.kind": "training",
                "data_fingerprint": dataset.fingerprint,
                "git_commit": git_commit(),
                "data_kind": prepared.data_kind,
                "evaluation_set": prepared.evaluation.description,
                "evaluation_set_fingerprint": prepared.evaluation.fingerprint,
            }
        )
        mlflow.log_params(
            {
                "data_source": dataset.source,
                "data_derived_from": settings.data_derived_from or "",
                "held_out_evaluation_rows": prepared.held_out,
                "dataset_contract": str(prepared.contract_file),
                "dataset_name": contract.name,
                "seed": settings.seed,
                "test_size": settings.test_size,
                "validation_size": settings.validation_size,
                "cv_folds": settings.search.cv_folds,
                "search_trials": settings.search.trials,
                "search_workers": settings.search.workers,
                **{f"n_{part}": size for part, size in split.sizes().items()},
            }
        )
        full = dataset.features.assign(target=dataset.target)
        mlflow.log_input(
            from_pandas(full, source=prepared.dataset_source(), name=contract.name, targets="target", digest=dataset.fingerprint[:20]),
            context="training",
        )
        progress.step("search")
        result = search(settings, contract, prepared.contract_file, split.train, on_trial=progress.trial)
        progress.step("fit")
        pipeline = build_pipeline(contract, result.family, result.params, settings.seed).fit(split.train.features, split.train.target)
        validation_probabilities = pipeline.predict_proba(split.validation.features)[:, 1]
        threshold = choose_threshold(split.validation.target, validation_probabilities, settings.threshold_metric)
        mlflow.log_params({"family": result.family, **{f"model.{key}": value for key, value in result.params.items()}})
        mlflow.log_metrics(
            {
                "cv_roc_auc_mean": result.cv_roc_auc_mean,
                "cv_roc_auc_std": result.cv_roc_auc_std,
                "validation_roc_auc": float(roc_auc_score(split.validation.target, validation_probabilities)),
                "threshold": threshold,
            }
        )
        progress.step("log model")
        log_reference(pipeline, split.train.features)  # what monitoring compares production traffic with
        model_uri = log_model(pipeline, contract, prepared.contract_file, typical_customer(prepared), result.family, threshold)
        mlflow.set_tag("model_uri", model_uri)
    return Trained(run.info.run_id, model_uri, result.family, result.params, result.cv_roc_auc_mean, result.cv_roc_auc_std, threshold, pipeline)


def typical_customer(prepared: Prepared) -> dict[str, Any]:
    """Median / most frequent training values (and the first training id): the example in the docs and forms."""
    features = prepared.split.train.features
    example: dict[str, Any] = {}
    for name, spec in prepared.contract.columns.items():
        column = features[name].dropna()
        if column.empty:
            example[name] = spec.example_value()
        elif spec.type == "categorical":
            example[name] = str(column.mode().iloc[0])
        elif spec.type == "integer":
            example[name] = int(round(float(column.median())))
        else:
            example[name] = round(float(column.median()), 2)
    ids = prepared.split.train.ids
    if prepared.contract.id_column and ids is not None and len(ids):
        example[prepared.contract.id_column] = str(ids.iloc[0])
    return example


def evaluate_training(settings: Settings, prepared: Prepared, trained: Trained, progress: Progress) -> Evaluated:
    """A separate run, linked by tag, that scores the held-out test set and checks the fast path."""
    progress.step("evaluate")
    start_tracking(settings)
    test = prepared.split.test
    with mlflow.start_run(run_name=f"evaluate-{prepared.contract.name}") as run:
        mlflow.set_tags({"churnops.kind": "evaluation", "training_run_id": trained.run_id, "data_fingerprint": prepared.dataset.fingerprint})
        mlflow.log_params({"threshold": trained.threshold, "family": trained.family, "n_test": len(test.target)})
        mlflow.set_tags({"evaluation_set": prepared.evaluation.description, "evaluation_set_fingerprint": prepared.evaluation.fingerprint})
        evaluated_rows = test.features.assign(target=test.target.to_numpy())
        mlflow.log_input(
            from_pandas(evaluated_rows, name=f"{prepared.contract.name}-evaluation", targets="target", digest=prepared.evaluation.fingerprint[:20]),
            context="evaluation",
        )
        evaluation_sets.save(prepared.evaluation, mlflow.log_artifact)  # the next challenger is judged on it
        result = evaluate(trained.pipeline, test, trained.threshold, settings.seed)
        model_dir = Path(mlflow.artifacts.download_artifacts(trained.model_uri))
        onnx_file = churn_model.artifact_file(model_dir, "onnx")
        parity = onnx.parity_difference(trained.pipeline, onnx.OnnxChurnModel(onnx_file, prepared.contract), test.features)
        mlflow.log_metrics({**{f"test_{key}": value for key, value in result.metrics.items()}, "fast_path_max_abs_diff": parity})
        for name, figure in result.figures.items():
            mlflow.log_figure(figure, f"plots/{name}")
        if result.importance is not None:
            mlflow.log_table(result.importance, "feature_importance.json")
    return Evaluated(run.info.run_id, result.metrics, parity)


def champion_metrics_on(settings: Settings, client: Any, test: pd.DataFrame, target: pd.Series) -> tuple[str | None, dict[str, float] | None]:
    """Score the current champion on the same evaluation rows the challenger was scored on."""
    champion = registry.version_by_alias(client, settings.model_name, registry.CHAMPION)
    if champion is None:
        return None, None
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{champion.version}")
    probabilities = churn_probabilities(model.predict(test))
    return str(champion.version), {"roc_auc": float(roc_auc_score(target, probabilities))}


def synthetic_rule(client: Any, settings: Settings, prepared: Prepared) -> str | None:
    """Synthetic data is for a first run: it never replaces a champion trained on real data (force with promote)."""
    champion = registry.version_by_alias(client, settings.model_name, registry.CHAMPION)
    if champion is None or prepared.data_kind != "synthetic" or registry.version_data_kind(client, champion) == "synthetic":
        return None
    source = champion.tags.get("data_source") or "real data"
    return (
        f"trained on the built-in synthetic data, but champion v{champion.version} was trained on {source}: "
        "synthetic data never replaces it (set CHURNOPS_DATA to real data, or force with `churnops promote`)"
    )


@dataclass(frozen=True)
class Gated:
    version: str
    decision: registry.GateDecision
    gate_run_id: str


def register_and_gate(settings: Settings, prepared: Prepared, trained: Trained, evaluated: Evaluated, progress: Progress) -> Gated:
    """Register a new version (alias challenger) and promote it to champion only if it passes the gate."""
    progress.step("register")
    client = start_tracking(settings)
    metrics = evaluated.metrics
    version = registry.register_version(
        client,
        settings.model_name,
        trained.model_uri,
        tags={
            **{f"test_{key}": round(value, 6) for key, value in metrics.items()},
            "cv_roc_auc_mean": round(trained.cv_roc_auc_mean, 6),
            "threshold": trained.threshold,
            "family": trained.family,
            "data_fingerprint": prepared.dataset.fingerprint,
            "data_source": prepared.data_source,
            "data_kind": prepared.data_kind,
            "evaluation_set": prepared.evaluation.description,
            "evaluation_set_fingerprint": prepared.evaluation.fingerprint,
            "git_commit": git_commit(),
            "training_run_id": trained.run_id,
            "evaluation_run_id": evaluated.run_id,
            "fast_path": "onnx",
            "fast_path_max_abs_diff": evaluated.parity_difference,
            TRAINING_KEY_TAG: training_key(settings, prepared.dataset.fingerprint),  # lets `pipeline --reuse` skip retraining
        },
    ).version
    progress.step("gate")
    evaluation = prepared.evaluation
    champion_tags: dict[str, str] = {}
    try:
        champion_version, champion = champion_metrics_on(settings, client, prepared.split.test.features, prepared.split.test.target)
        if champion_version is not None:
            champion_tags = dict(client.get_model_version(settings.model_name, champion_version).tags or {})
    except Exception as error:  # noqa: BLE001 - an unscorable champion blocks promotion, it must not crash the run
        decision = registry.GateDecision(
            False, [f"current champion could not be scored on {evaluation.description} ({error}); use `churnops promote` to force"]
        )
        champion_version, champion = "unscorable", None
    else:
        decision = registry.decide_promotion(
            metrics,
            champion,
            evaluated.parity_difference,
            settings.gate,
            floors=prepared.contract.gate,
            evaluation=f"{evaluation.description}, fingerprint {evaluation.fingerprint[:12]}",
            data_rule=synthetic_rule(client, settings, prepared),
        )
    client.set_model_version_tag(settings.model_name, version, "gate_decision", "promote" if decision.promote else "reject")
    client.set_model_version_tag(settings.model_name, version, "gate_reasons", "; ".join(decision.reasons))
    gate_metrics = {"challenger_test_roc_auc": metrics["roc_auc"], "parity_max_abs_diff": evaluated.parity_difference}
    if champion is not None:
        gate_metrics["champion_test_roc_auc"] = champion["roc_auc"]
    gate_run_id = registry.record_decision(
        settings,
        "gate",
        str(version),
        decision,
        {
            "training_run_id": trained.run_id,
            "evaluation_run_id": evaluated.run_id,
            "champion_version": str(champion_version),
            # Both sides of the comparison, so the decision can be audited: what it was judged on, and
            # the set the champion itself was registered with (equal unless a pinned file or real data replaced it).
            "evaluation_set": evaluation.description,
            "evaluation_set_fingerprint": evaluation.fingerprint,
            "champion_evaluation_set_fingerprint": champion_tags.get("evaluation_set_fingerprint", "none"),
            "challenger_data_source": prepared.data_source,
            "challenger_data_fingerprint": prepared.dataset.fingerprint,
            "champion_data_source": champion_tags.get("data_source", "none"),
        },
        gate_metrics,
    )
    if decision.promote:
        registry.set_champion(client, settings.model_name, str(version), decision.reasons)
    return Gated(str(version), decision, gate_run_id)


def run_pipeline(settings: Settings, progress: Progress | None = None, prepared: Prepared | None = None) -> PipelineResult:
    """validate -> train -> evaluate -> register -> gate, all tracked in MLflow (`prepared`: data already validated and split)."""
    progress = progress or SilentProgress()
    started = time.perf_counter()
    if prepared is None:
        progress.step("validate")
        prepared = prepare(settings)
    prepared = hold_out(settings, prepared)
    with warnings.catch_warnings():
        # MLflow hints (integer columns in the signature, ambiguous local dataset source) are expected here.
        warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")
        trained = train(settings, prepared, progress)
        evaluated = evaluate_training(settings, prepared, trained, progress)
        gated = register_and_gate(settings, prepared, trained, evaluated, progress)
    return summarize(settings, prepared, trained, evaluated, gated, started)


def summarize(settings: Settings, prepared: Prepared, trained: Trained, evaluated: Evaluated, gated: Gated, started: float) -> PipelineResult:
    """What one pipeline run produced; `started` is its time.perf_counter() at the beginning."""
    decision = gated.decision
    return PipelineResult(
        model_name=settings.model_name,
        version=gated.version,
        promoted=decision.promote,
        reasons=decision.reasons,
        champion_version=registry.alias_version(start_tracking(settings), settings.model_name, registry.CHAMPION),
        family=trained.family,
        params=trained.params,
        test_metrics=evaluated.metrics,
        cv_roc_auc_mean=trained.cv_roc_auc_mean,
        cv_roc_auc_std=trained.cv_roc_auc_std,
        threshold=trained.threshold,
        parity_difference=evaluated.parity_difference,
        data_fingerprint=prepared.dataset.fingerprint,
        data_source=prepared.data_source,
        evaluation_set=prepared.evaluation.description,
        evaluation_set_fingerprint=prepared.evaluation.fingerprint,
        split_sizes=prepared.split.sizes(),
        training_run_id=trained.run_id,
        evaluation_run_id=evaluated.run_id,
        gate_run_id=gated.gate_run_id,
        seconds=round(time.perf_counter() - started, 2),
    )


def load_trained(settings: Settings, run_id: str, data: str | None = None) -> tuple[Prepared, Trained]:
    """Rebuild a training run's data split and model from what the run recorded (for `churnops evaluate` and `register`).

    `data`: where the training data is now, when not where the run read it (an Azure ML step mounts its input at a
    path of its own); its fingerprint must still be the run's.
    """
    run = _churnops_run(settings, run_id, "training")
    params, tags, metrics = run.data.params, run.data.tags, run.data.metrics
    if "model_uri" not in tags:
        raise ChurnopsError(f"Run '{run_id}' is not a completed churnops training run.")
    source = data or params["data_source"]
    replay = settings.model_copy(
        update={
            "dataset": Path(params["dataset_contract"]) if Path(params["dataset_contract"]).is_file() else settings.dataset,
            "data": None if source.startswith("synthetic:") else source,
            "seed": int(params["seed"]),
            "test_size": float(params["test_size"]),
            "validation_size": float(params["validation_size"]),
            **_synthetic_rows(source),
        }
    )
    prepared = hold_out(replay, prepare(replay))
    if prepared.dataset.fingerprint != tags.get("data_fingerprint"):
        raise DataError(f"The data at '{source}' changed since run {run_id} (fingerprint differs); its test split cannot be rebuilt.")
    family = params["family"]
    model_params = {
        key.removeprefix("model."): json.loads(value) if _is_json(value) else value for key, value in params.items() if key.startswith("model.")
    }
    pipeline = load_logged_pipeline(tags["model_uri"])
    trained = Trained(
        run_id, tags["model_uri"], family, model_params, metrics["cv_roc_auc_mean"], metrics["cv_roc_auc_std"], metrics["threshold"], pipeline
    )
    return prepared, trained


def load_evaluated(settings: Settings, run_id: str, trained: Trained) -> Evaluated:
    """Rebuild an evaluation run's result (for `churnops register`); it must be the evaluation of `trained`."""
    run = _churnops_run(settings, run_id, "evaluation")
    if run.data.tags.get("training_run_id") != trained.run_id:
        raise ChurnopsError(
            f"Evaluation run '{run_id}' evaluated training run '{run.data.tags.get('training_run_id')}', not '{trained.run_id}': "
            "pass the evaluation of this training run (`churnops evaluate --run-id` prints it)."
        )
    metrics = run.data.metrics
    if "fast_path_max_abs_diff" not in metrics:
        raise ChurnopsError(f"Run '{run_id}' is not a completed churnops evaluation run.")
    # evaluate_training logs its metrics as test_<name>: the same dict register_and_gate gets in `run_pipeline`
    scores = {key.removeprefix("test_"): value for key, value in metrics.items() if key.startswith("test_")}
    return Evaluated(run_id, scores, metrics["fast_path_max_abs_diff"])


def register_run(settings: Settings, training_run_id: str, evaluation_run_id: str, data: str | None, progress: Progress) -> PipelineResult:
    """Register and gate a training run evaluated earlier (steps run as separate processes, e.g. Azure ML components)."""
    started = time.perf_counter()
    prepared, trained = load_trained(settings, training_run_id, data)
    evaluated = load_evaluated(settings, evaluation_run_id, trained)
    gated = register_and_gate(settings, prepared, trained, evaluated, progress)
    return summarize(settings, prepared, trained, evaluated, gated, started)


def _churnops_run(settings: Settings, run_id: str, kind: str) -> Any:
    connect(settings)
    try:
        run = mlflow.get_run(run_id)
    except mlflow.exceptions.MlflowException as error:
        raise ChurnopsError(f"No MLflow run '{run_id}' in {settings.tracking_uri}. Use `churnops runs` to list runs.") from error
    if run.data.tags.get("churnops.kind") != kind:
        raise ChurnopsError(f"Run '{run_id}' is not a churnops {kind} run (it is {run.data.tags.get('churnops.kind') or 'not a churnops run'}).")
    return run


def _synthetic_rows(source: str) -> dict[str, int]:
    if not source.startswith("synthetic:"):
        return {}
    fields = dict(item.split("=") for item in source.removeprefix("synthetic:").split(","))
    return {"synthetic_rows": int(fields["rows"])}


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True
