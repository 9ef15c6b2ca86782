"""The full pipeline against the default store (SQLite + local artifacts): registry, gate, promote, rollback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from typer.testing import CliRunner

from churnops import registry
from churnops.cli import app
from churnops.errors import RegistryError
from churnops.model.writer import log_model
from churnops.progress import SilentProgress
from churnops.tracking import connect, ensure_experiment
from churnops.training.families import DEFAULT_PARAMS, build_pipeline
from churnops.training.pipeline import Trained, evaluate_training, prepare, register_and_gate, run_pipeline, typical_customer
from tests.support.settings import fast_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory):
    """One real pipeline run on synthetic data; later tests build on its registry."""
    folder = tmp_path_factory.mktemp("sqlite-pipeline")
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        settings = fast_settings(folder)
        result = run_pipeline(settings)
    finally:
        os.chdir(cwd)
    return folder, settings, result


def test_first_run_registers_and_promotes(first_run) -> None:
    _, settings, result = first_run
    client = connect(settings)
    assert result.version == "1" and result.promoted and result.champion_version == "1"
    assert registry.alias_version(client, settings.model_name, "challenger") == "1"
    assert registry.alias_version(client, settings.model_name, "champion") == "1"
    tags = client.get_model_version(settings.model_name, "1").tags
    for key in ("test_roc_auc", "data_fingerprint", "git_commit", "threshold", "fast_path_max_abs_diff", "gate_decision"):
        assert key in tags, key
    assert tags["data_fingerprint"] == result.data_fingerprint
    assert float(tags["fast_path_max_abs_diff"]) <= settings.gate.parity_tolerance
    assert tags["gate_decision"] == "promote"


def test_runs_are_tracked_and_linked(first_run) -> None:
    _, settings, result = first_run
    connect(settings)
    training = mlflow.get_run(result.training_run_id)
    evaluation = mlflow.get_run(result.evaluation_run_id)
    gate = mlflow.get_run(result.gate_run_id)
    assert evaluation.data.tags["training_run_id"] == result.training_run_id
    assert gate.data.tags["decision"] == "promote"
    assert training.data.tags["data_fingerprint"] == result.data_fingerprint
    assert int(training.data.params["n_train"]) + int(training.data.params["n_validation"]) + int(training.data.params["n_test"]) == 1500
    assert training.inputs.dataset_inputs, "dataset logged with mlflow.log_input"
    trials = mlflow.search_runs(
        [training.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{result.training_run_id}'", output_format="list"
    )
    assert len(trials) == settings.search.trials
    client = mlflow.MlflowClient()
    training_artifacts = {item.path for item in client.list_artifacts(result.training_run_id, "search")}
    assert "search/history.png" in training_artifacts
    plots = {item.path for item in client.list_artifacts(result.evaluation_run_id, "plots")}
    assert {
        f"plots/{name}"
        for name in ("roc_curve.png", "precision_recall_curve.png", "confusion_matrix.png", "calibration_curve.png", "feature_importance.png")
    } <= plots
    metrics = evaluation.data.metrics
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier"):
        assert f"test_{name}" in metrics
    assert evaluation.data.params["threshold"] == str(result.threshold)


def test_pyfunc_loads_champion_in_fresh_process(first_run) -> None:
    """Raw rows as the file holds them (SeniorCitizen 0/1, TotalCharges text with blanks, the id column) go straight in."""
    folder, settings, result = first_run
    script = (
        "import mlflow, json\n"
        "from churnops.data.synthetic import generate\n"
        "rows = generate(20, seed=3).drop(columns=['Churn'])\n"
        "model = mlflow.pyfunc.load_model('models:/churn-classifier@champion')\n"
        "print(model.predict(rows).to_json(orient='records'))\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": settings.tracking_uri}
    completed = subprocess.run([sys.executable, "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    rows = json.loads(completed.stdout.strip().splitlines()[-1])
    assert len(rows) == 20 and set(rows[0]) == {"churn_probability", "churn"}
    probabilities = np.array([row["churn_probability"] for row in rows])
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert [row["churn"] for row in rows] == list(probabilities >= result.threshold)


def _train_worse_model(settings, prepared) -> Trained:
    """A real pipeline fitted on shuffled labels: it has learnt nothing, so the gate must reject it."""
    shuffled = prepared.split.train.target.sample(frac=1.0, random_state=0).to_numpy()
    pipeline = build_pipeline(prepared.contract, "logistic_regression", DEFAULT_PARAMS["logistic_regression"], 0)
    pipeline.fit(prepared.split.train.features, shuffled)
    with mlflow.start_run(run_name="deliberately-worse") as run:
        mlflow.set_tag("churnops.kind", "training")
        model_uri = log_model(pipeline, prepared.contract, prepared.contract_file, typical_customer(prepared), "logistic_regression", 0.5)
    return Trained(run.info.run_id, model_uri, "logistic_regression", {}, 0.5, 0.0, 0.5, pipeline)


def test_worse_model_is_registered_but_not_promoted(first_run) -> None:
    folder, settings, _ = first_run
    settings = settings.model_copy(update={"gate_min_roc_auc": 0.0})  # only the champion comparison can reject it
    os.chdir(folder)
    client = connect(settings)
    ensure_experiment(settings)
    prepared = prepare(settings)
    worse = _train_worse_model(settings, prepared)
    evaluated = evaluate_training(settings, prepared, worse, SilentProgress())
    gated = register_and_gate(settings, prepared, worse, evaluated, SilentProgress())
    version, decision, gate_run_id = gated.version, gated.decision, gated.gate_run_id
    assert version == "2"
    assert not decision.promote
    assert any("worse than" in reason for reason in decision.reasons), decision.reasons
    assert registry.alias_version(client, settings.model_name, "challenger") == "2"
    assert registry.alias_version(client, settings.model_name, "champion") == "1"
    assert client.get_model_version(settings.model_name, "2").tags["gate_decision"] == "reject"
    assert mlflow.get_run(gate_run_id).data.tags["decision"] == "reject"


def test_forced_promotion_and_rollback_move_aliases(first_run) -> None:
    folder, settings, _ = first_run
    os.chdir(folder)
    client = connect(settings)
    runner = CliRunner()
    env = {"CHURNOPS_TRACKING_URI": settings.tracking_uri, "CHURNOPS_ARTIFACT_LOCATION": settings.artifact_location}

    promoted = runner.invoke(app, ["promote", "--version", "2", "--reason", "test force"], env=env)
    assert promoted.exit_code == 0, promoted.output
    assert registry.alias_version(client, settings.model_name, "champion") == "2"
    assert client.get_model_version(settings.model_name, "2").tags["promotion"] == "forced"

    rolled = runner.invoke(app, ["rollback"], env=env)
    assert rolled.exit_code == 0, rolled.output
    assert "version 2 -> version 1" in rolled.output
    assert registry.alias_version(client, settings.model_name, "champion") == "1"

    again = runner.invoke(app, ["rollback"], env=env)
    assert again.exit_code == 1
    assert "no previous champion" in again.output and "Traceback" not in again.output
    with pytest.raises(RegistryError):
        registry.rollback(client, settings.model_name)

    unknown = runner.invoke(app, ["promote", "--version", "99"], env=env)
    assert unknown.exit_code == 1 and "no version 99" in unknown.output


def test_runs_command_lists_top_runs(first_run) -> None:
    folder, settings, _ = first_run
    os.chdir(folder)
    env = {"CHURNOPS_TRACKING_URI": settings.tracking_uri}
    result = CliRunner().invoke(app, ["runs", "--metric", "cv_roc_auc_mean", "--top", "2", "--trials", "--json"], env=env)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 2
    assert rows[0]["cv_roc_auc_mean"] >= rows[1]["cv_roc_auc_mean"]
    top_level = CliRunner().invoke(app, ["runs", "--metric", "cv_roc_auc_mean", "--json"], env=env)
    assert top_level.exit_code == 0, top_level.output
    kinds = {row["kind"] for row in json.loads(top_level.output)}
    assert "training" in kinds and "search-trial" not in kinds  # trials only with --trials


def test_same_data_and_seed_give_the_same_metrics(first_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, first = first_run
    monkeypatch.chdir(tmp_path)
    again = run_pipeline(fast_settings(tmp_path))
    assert again.data_fingerprint == first.data_fingerprint
    assert again.family == first.family and again.params == first.params
    assert again.cv_roc_auc_mean == first.cv_roc_auc_mean
    assert again.test_metrics == first.test_metrics
    assert again.threshold == first.threshold


def test_bad_file_fails_cleanly_and_registers_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synthetic_csv: Path) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(synthetic_csv.read_text().replace("Month-to-month", "Monthly", 1))
    settings = fast_settings(tmp_path)
    result = CliRunner().invoke(app, ["pipeline", "--data", str(bad), "--tracking-uri", settings.tracking_uri, "--dataset", str(settings.dataset)])
    assert result.exit_code == 1
    assert "unknown category" in result.output and "'Contract'" in result.output and "Monthly" in result.output
    assert "Traceback" not in result.output
    client = connect(settings)
    assert client.search_registered_models() == []
