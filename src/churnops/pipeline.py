"""The steps composed: data -> split -> search + train -> evaluate -> register -> gate.

The CLI, MLproject entry points and (later) orchestrator flows and the API all call these functions.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types.schema import AnyType, ColSpec, Schema, TensorSpec
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

import churnops
from churnops import registry
from churnops.data import sources, synthetic
from churnops.data.contract import DatasetContract, contract_path, load_contract
from churnops.data.loading import Dataset, load_dataset
from churnops.data.split import Split, split_around, split_dataset
from churnops.errors import ChurnopsError, ConfigError, DataError
from churnops.monitoring.reference import log_reference
from churnops.reuse import TRAINING_KEY_TAG, training_key
from churnops.settings import Settings
from churnops.tracking import connect, ensure_experiment, git_commit
from churnops.training import churn_model, fast_path
from churnops.training import evaluation_set as evaluation_sets
from churnops.training.evaluate import choose_threshold, evaluate
from churnops.training.evaluation_set import EvaluationSet, data_kind
from churnops.training.families import build_pipeline
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
    if settings.gate_evaluation_data:
        return evaluation_sets.load_pinned(settings.gate_evaluation_data, prepared.contract, DATA_CACHE)
    champion = registry.version_by_alias(client, settings.model_name, registry.CHAMPION)
    if champion is None:
        return None
    if version_data_kind(client, champion) == "synthetic" and prepared.data_kind != "synthetic":
        return None  # real data is judged on real rows; the synthetic champion is scored on them too
    evaluation_run = champion.tags.get("evaluation_run_id")
    if not evaluation_run:
        return None
    found = evaluation_sets.load_registered(client, evaluation_run, prepared.contract, f"champion v{champion.version}'s evaluation set")
    if found is None:
        return None
    return replace(found, description=f"{found.description} ({found.rows} rows)")


def version_data_kind(client: MlflowClient, version: Any) -> str:
    """synthetic / file / url for a registered version (older versions: from their training run's data_source)."""
    kind = (version.tags or {}).get("data_kind")
    if kind:
        return str(kind)
    try:
        source = client.get_run(version.run_id).data.params.get("data_source", "")
    except Exception:  # noqa: BLE001 - a deleted run: treat as real data, the safe side for the synthetic rule
        return "file"
    return data_kind(source)


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
    """A models-from-code pyfunc (churnops.training.churn_model) with the skops pipeline, its ONNX form,
    the contract and a typical customer as artifacts, and a copy of the code it imports."""
    import skops.io  # noqa: PLC0415 - only logging a model writes skops files

    contract = prepared.contract
    files = churn_model.ARTIFACT_FILES
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        fast_path.export_onnx(pipeline, contract, root / files["onnx"])
        skops.io.dump(pipeline, root / files["pipeline"])
        shutil.copyfile(prepared.contract_file, root / files["contract"])
        example = typical_customer(prepared)
        (root / files["example"]).write_text(json.dumps(example), encoding="utf-8")
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=str(Path(churn_model.__file__).with_name("model_code.py")),
            artifacts={key: str(root / name) for key, name in files.items()},
            code_paths=[str(_model_code(root / "code"))],
            model_config={"threshold": threshold},
            signature=_signature(contract),
            input_example=pd.DataFrame([{name: example[name] for name in contract.feature_columns}]),
            metadata={"threshold": threshold, "positive_label": contract.target.positive, "family": family},
            pip_requirements=_requirements(),
        )
    return str(info.model_uri)


def _model_code(destination: Path) -> Path:
    """The churnops modules the model imports, as a package folder for `code_paths`."""
    package = Path(churnops.__file__).parent
    target = destination / "churnops"
    for relative in churn_model.MODEL_CODE:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package / relative, target / relative)
    return target


def _signature(contract: DatasetContract) -> ModelSignature:
    """Column names documented, types left to the model: it accepts raw file codes and numbers as text, and checks them itself."""
    columns: list[ColSpec | TensorSpec] = [ColSpec(AnyType(), name, required=not spec.nullable) for name, spec in contract.columns.items()]
    if contract.id_column:
        columns.insert(0, ColSpec(AnyType(), contract.id_column, required=False))  # passed through, not scored
    inputs = Schema(columns)
    outputs = Schema([ColSpec("double", "churn_probability"), ColSpec("boolean", "churn")])
    return ModelSignature(inputs=inputs, outputs=outputs)


# What the logged model imports (see churn_model.MODEL_CODE), pinned from the running environment:
# a clean environment built from them loads and scores the version.
MODEL_REQUIREMENTS = ("scikit-learn", "skops", "numpy", "pandas", "scipy", "onnxruntime", "pandera", "pydantic", "pyyaml")


def _requirements() -> list[str]:
    """Pinned from the running environment (inferring them would re-import the model in a subprocess)."""
    return [f"mlflow=={version('mlflow')}", *(f"{package}=={version(package)}" for package in MODEL_REQUIREMENTS)]


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
        parity = fast_path.parity_difference(trained.pipeline, fast_path.OnnxChurnModel(onnx_file, prepared.contract), test.features)
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


def churn_probabilities(output: Any) -> np.ndarray:
    """P(churn) from a version's pyfunc output: the churn_probability column (or, for versions logged
    before churnops 0.2 as sklearn predict_proba, the second of two columns)."""
    if isinstance(output, pd.DataFrame) and "churn_probability" in output.columns:
        return output["churn_probability"].to_numpy(dtype=np.float64)
    values = np.asarray(output, dtype=np.float64)
    return values[:, 1] if values.ndim == 2 else values  # noqa: PLR2004 - one column per class


def check_retraining_source(settings: Settings, client: MlflowClient) -> None:
    """Retraining (API, monitoring, flows) trains on the configured data. Without any, it would train on the
    built-in synthetic data, which may only replace a champion that was trained on synthetic data too."""
    if settings.data is not None:
        return
    champion = registry.version_by_alias(client, settings.model_name, registry.CHAMPION)
    if champion is None or version_data_kind(client, champion) == "synthetic":
        return
    source = champion.tags.get("data_source") or "real data"
    raise ConfigError(
        f"No training data is configured (CHURNOPS_DATA), and champion v{champion.version} of '{settings.model_name}' was trained on "
        f"{source}: retraining on the built-in synthetic data could never replace it. Set CHURNOPS_DATA to the data to retrain on."
    )


def retraining_settings(settings: Settings, client: MlflowClient) -> Settings:
    """Settings for a retraining run: the configured data (checked), and the champion's own contract unless --dataset is set."""
    check_retraining_source(settings, client)
    if settings.dataset is not None:
        return settings
    champion = registry.version_by_alias(client, settings.model_name, registry.CHAMPION)
    if champion is None:
        return settings
    destination = DATA_CACHE / "contracts" / f"{settings.model_name}-v{champion.version}.yaml"
    path = churn_model.save_version_contract(settings.model_name, str(champion.version), destination)
    return settings.model_copy(update={"dataset": path.resolve()})


def synthetic_rule(client: Any, settings: Settings, prepared: Prepared) -> str | None:
    """Synthetic data is for a first run: it never replaces a champion trained on real data (force with promote)."""
    champion = registry.version_by_alias(client, settings.model_name, registry.CHAMPION)
    if champion is None or prepared.data_kind != "synthetic" or version_data_kind(client, champion) == "synthetic":
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
            settings,
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


def load_logged_pipeline(model_uri: str) -> Pipeline:
    """The fitted sklearn pipeline of a logged model (skops artifact; older versions: their sklearn flavor)."""
    model_dir = Path(mlflow.artifacts.download_artifacts(model_uri))
    skops_file = churn_model.artifact_file(model_dir, "pipeline")
    if skops_file.is_file():
        return churn_model.load_pipeline(skops_file)  # type: ignore[no-any-return]
    return mlflow.sklearn.load_model(model_uri)  # type: ignore[no-any-return]


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
