"""The steps composed: data -> split -> search + train -> evaluate -> register -> gate.

The CLI, MLproject entry points and (later) orchestrator flows and the API all call these functions.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

import mlflow
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from churnops import registry
from churnops.data import sources, synthetic
from churnops.data.contract import DatasetContract, load_contract
from churnops.data.loading import Dataset, load_dataset
from churnops.data.split import Split, split_dataset
from churnops.errors import ChurnopsError, DataError
from churnops.monitoring.reference import log_reference
from churnops.reuse import TRAINING_KEY_TAG, training_key
from churnops.settings import Settings
from churnops.tracking import connect, ensure_experiment, git_commit
from churnops.training import fast_path
from churnops.training.evaluate import choose_threshold, evaluate
from churnops.training.families import build_pipeline, trusted_types
from churnops.training.search import search

DATA_CACHE = Path(".churnops") / "data"
MODEL_ARTIFACT = "model"


class Progress(Protocol):
    def step(self, name: str) -> None: ...
    def trial(self, done: int, total: int, score: float, best: float) -> None: ...
    def rows(self, done: int, total: int) -> None: ...


class SilentProgress:
    def step(self, name: str) -> None:
        pass

    def trial(self, done: int, total: int, score: float, best: float) -> None:
        pass

    def rows(self, done: int, total: int) -> None:
        pass


@dataclass(frozen=True)
class Prepared:
    contract: DatasetContract
    dataset: Dataset
    split: Split
    data_path: Path

    def dataset_source(self) -> str:
        """What mlflow.log_input records as the dataset's source: the URL, or the local file read."""
        return self.dataset.source if sources.is_url(self.dataset.source) else str(self.data_path.resolve())


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
    split_sizes: dict[str, int]
    training_run_id: str
    evaluation_run_id: str
    gate_run_id: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def acquire_data(settings: Settings, contract: DatasetContract) -> tuple[Path, str]:
    """The local file to read and a description of where it came from."""
    if settings.data is None:
        path = DATA_CACHE / f"synthetic-{settings.seed}-{settings.synthetic_rows}.csv"
        synthetic.write(path, rows=settings.synthetic_rows, seed=settings.seed)
        return path, f"synthetic:rows={settings.synthetic_rows},seed={settings.seed}"
    return sources.resolve(settings.data, DATA_CACHE, settings.data_sha256), settings.data


def prepare(settings: Settings) -> Prepared:
    """Load the contract and the data, validate, and split."""
    contract = load_contract(settings.dataset)
    path, source = acquire_data(settings, contract)
    dataset = load_dataset(path, contract, source=source)
    split = split_dataset(dataset, settings.test_size, settings.validation_size, settings.seed)
    return Prepared(contract, dataset, split, path)


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
        mlflow.set_tags({"churnops.kind": "training", "data_fingerprint": dataset.fingerprint, "git_commit": git_commit()})
        mlflow.log_params(
            {
                "data_source": dataset.source,
                "dataset_contract": str(settings.dataset),
                "dataset_name": contract.name,
                "seed": settings.seed,
                "test_size": settings.test_size,
                "validation_size": settings.validation_size,
                "cv_folds": settings.cv_folds,
                "search_trials": settings.search_trials,
                **{f"n_{part}": size for part, size in split.sizes().items()},
            }
        )
        full = dataset.features.assign(target=dataset.target)
        mlflow.log_input(
            from_pandas(full, source=prepared.dataset_source(), name=contract.name, targets="target", digest=dataset.fingerprint[:20]),
            context="training",
        )
        progress.step("search")
        result = search(contract, split.train, settings, on_trial=progress.trial)
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
        model_uri = _log_model(pipeline, prepared, result.family, settings, threshold)
        mlflow.set_tag("model_uri", model_uri)
    return Trained(run.info.run_id, model_uri, result.family, result.params, result.cv_roc_auc_mean, result.cv_roc_auc_std, threshold, pipeline)


def _log_model(pipeline: Pipeline, prepared: Prepared, family: str, settings: Settings, threshold: float) -> str:
    """The sklearn pipeline (skops) plus, as extra files, its ONNX form and the dataset contract."""
    example = prepared.split.train.features.head(3)
    with tempfile.TemporaryDirectory() as folder:
        onnx_path = fast_path.export_onnx(pipeline, prepared.contract, Path(folder) / fast_path.FILE_NAME)
        contract_path = Path(folder) / "contract.yaml"
        contract_path.write_text(Path(settings.dataset).read_text(encoding="utf-8"), encoding="utf-8")
        info = mlflow.sklearn.log_model(
            pipeline,
            name=MODEL_ARTIFACT,
            serialization_format="skops",
            skops_trusted_types=trusted_types(family),
            signature=infer_signature(example, pipeline.predict_proba(example)),
            input_example=example,
            pyfunc_predict_fn="predict_proba",
            extra_files=[str(onnx_path), str(contract_path)],
            metadata={"threshold": threshold, "positive_label": prepared.contract.target.positive},
            pip_requirements=_requirements(),
        )
    return str(info.model_uri)


def _requirements() -> list[str]:
    """Pinned from the running environment (inferring them would re-import the model in a subprocess)."""
    return [f"{package}=={version(package)}" for package in ("scikit-learn", "skops", "numpy", "pandas", "scipy", "onnxruntime")]


def evaluate_training(settings: Settings, prepared: Prepared, trained: Trained, progress: Progress) -> Evaluated:
    """A separate run, linked by tag, that scores the held-out test set and checks the fast path."""
    progress.step("evaluate")
    start_tracking(settings)
    test = prepared.split.test
    with mlflow.start_run(run_name=f"evaluate-{prepared.contract.name}") as run:
        mlflow.set_tags({"churnops.kind": "evaluation", "training_run_id": trained.run_id, "data_fingerprint": prepared.dataset.fingerprint})
        mlflow.log_params({"threshold": trained.threshold, "family": trained.family, "n_test": len(test.target)})
        result = evaluate(trained.pipeline, test, trained.threshold, settings.seed)
        model_dir = Path(mlflow.artifacts.download_artifacts(trained.model_uri))
        onnx_file = model_dir / "extra_files" / fast_path.FILE_NAME
        parity = fast_path.parity_difference(trained.pipeline, fast_path.OnnxChurnModel(onnx_file, prepared.contract), test.features)
        mlflow.log_metrics({**{f"test_{key}": value for key, value in result.metrics.items()}, "fast_path_max_abs_diff": parity})
        for name, figure in result.figures.items():
            mlflow.log_figure(figure, f"plots/{name}")
        if result.importance is not None:
            mlflow.log_table(result.importance, "feature_importance.json")
    return Evaluated(run.info.run_id, result.metrics, parity)


def champion_metrics_on(settings: Settings, client: Any, test: pd.DataFrame, target: pd.Series) -> tuple[str | None, dict[str, float] | None]:
    """Score the current champion on the same test rows the challenger was scored on."""
    champion = registry.version_by_alias(client, settings.model_name, registry.CHAMPION)
    if champion is None:
        return None, None
    model = mlflow.sklearn.load_model(f"models:/{settings.model_name}/{champion.version}")
    probabilities = model.predict_proba(test)[:, 1]
    return str(champion.version), {"roc_auc": float(roc_auc_score(target, probabilities))}


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
            "git_commit": git_commit(),
            "training_run_id": trained.run_id,
            "evaluation_run_id": evaluated.run_id,
            "fast_path": "onnx",
            "fast_path_max_abs_diff": evaluated.parity_difference,
            TRAINING_KEY_TAG: training_key(settings, prepared.dataset.fingerprint),  # lets `pipeline --reuse` skip retraining
        },
    ).version
    progress.step("gate")
    try:
        champion_version, champion = champion_metrics_on(settings, client, prepared.split.test.features, prepared.split.test.target)
    except Exception as error:  # noqa: BLE001 - an unscorable champion blocks promotion, it must not crash the run
        decision = registry.GateDecision(
            False, [f"current champion could not be scored on this test data ({error}); use `churnops promote` to force"]
        )
        champion_version, champion = "unscorable", None
    else:
        decision = registry.decide_promotion(metrics, champion, evaluated.parity_difference, settings)
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
        {"training_run_id": trained.run_id, "evaluation_run_id": evaluated.run_id, "champion_version": str(champion_version)},
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
        split_sizes=prepared.split.sizes(),
        training_run_id=trained.run_id,
        evaluation_run_id=evaluated.run_id,
        gate_run_id=gated.gate_run_id,
        seconds=round(time.perf_counter() - started, 2),
    )


def load_trained(settings: Settings, run_id: str) -> tuple[Prepared, Trained]:
    """Rebuild a training run's data split and model from what the run recorded (for `churnops evaluate`)."""
    connect(settings)
    try:
        run = mlflow.get_run(run_id)
    except mlflow.exceptions.MlflowException as error:
        raise ChurnopsError(f"No MLflow run '{run_id}' in {settings.tracking_uri}. Use `churnops runs` to list runs.") from error
    params, tags, metrics = run.data.params, run.data.tags, run.data.metrics
    if tags.get("churnops.kind") != "training" or "model_uri" not in tags:
        raise ChurnopsError(f"Run '{run_id}' is not a completed churnops training run.")
    source = params["data_source"]
    replay = settings.model_copy(
        update={
            "dataset": Path(params["dataset_contract"]),
            "data": None if source.startswith("synthetic:") else source,
            "seed": int(params["seed"]),
            "test_size": float(params["test_size"]),
            "validation_size": float(params["validation_size"]),
            **_synthetic_rows(source),
        }
    )
    prepared = prepare(replay)
    if prepared.dataset.fingerprint != tags.get("data_fingerprint"):
        raise DataError(f"The data at '{source}' changed since run {run_id} (fingerprint differs); its test split cannot be rebuilt.")
    family = params["family"]
    model_params = {
        key.removeprefix("model."): json.loads(value) if _is_json(value) else value for key, value in params.items() if key.startswith("model.")
    }
    pipeline = mlflow.sklearn.load_model(tags["model_uri"])
    trained = Trained(
        run_id, tags["model_uri"], family, model_params, metrics["cv_roc_auc_mean"], metrics["cv_roc_auc_std"], metrics["threshold"], pipeline
    )
    return prepared, trained


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
