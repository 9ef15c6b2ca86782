"""`churnops pipeline --reuse/--force`, `versions`, `runs`, `links` and `promote` as real processes on one small registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import CONTRACT_PATH

pytestmark = pytest.mark.slow


class Registry:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("CHURNOPS_")}
        self.env.update(
            {  # small and quick, as tests/support/settings.py::fast_settings
                "CHURNOPS_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
                "CHURNOPS_ARTIFACT_LOCATION": str(folder / "mlartifacts"),
                "CHURNOPS_DATASET": str(CONTRACT_PATH),
                "CHURNOPS_SEARCH_TRIALS": "3",
                "CHURNOPS_CV_FOLDS": "3",
                "CHURNOPS_SYNTHETIC_ROWS": "1500",
                "CHURNOPS_GATE_MIN_ROC_AUC": "0.6",
            }
        )

    def run(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "churnops", *arguments], cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=600, check=False
        )

    def json(self, *arguments: str) -> Any:
        result = self.run(*arguments, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """Before any training: `versions` says so. Then one version trained through `pipeline --reuse` (no champion to reuse yet)."""
    found = Registry(tmp_path_factory.mktemp("cli-registry"))
    empty = found.run("versions")
    assert empty.returncode == 1
    assert "error: Model 'churn-classifier' is not registered yet" in empty.stderr and "churnops pipeline" in empty.stderr
    assert "Traceback" not in empty.stderr
    first = found.json("pipeline", "--reuse")
    assert first["version"] == "1" and first["promoted"]
    return found


def test_reuse_keeps_the_champion_and_force_retrains(registry: Registry) -> None:
    again = registry.run("pipeline", "--reuse")
    assert again.returncode == 0, again.stderr
    assert "champion v1 was trained on the same data, code and settings: reusing it" in again.stdout
    assert "--force" in again.stdout and "FORCE=1 make run" in again.stdout
    assert [row["version"] for row in registry.json("versions")] == ["1"]  # nothing trained or registered

    forced = registry.json("pipeline", "--reuse", "--force")
    assert forced["version"] == "2"
    rows = registry.json("versions")
    assert [row["version"] for row in rows] == ["2", "1"]  # newest first
    assert rows[0]["training_key"] == rows[1]["training_key"]  # same data, code and settings: the same key


def test_versions_show_aliases_metrics_source_gate_and_promotion(registry: Registry) -> None:
    rows = {row["version"]: row for row in registry.json("versions")}
    newest = rows[max(rows, key=int)]
    assert "champion" in newest["aliases"] and "challenger" in newest["aliases"]
    assert 0.5 < newest["test_roc_auc"] <= 1 and 0 < newest["test_pr_auc"] <= 1
    assert newest["family"] in ("logistic_regression", "random_forest", "gradient_boosting", "lightgbm")
    assert newest["data_source"] == "synthetic:rows=1500,seed=42"  # from the training run's parameter (no data_source tag yet)
    assert newest["gate_decision"] == "promote" and "minimum" in newest["gate_reasons"]
    assert newest["promotion"] == "gate" and newest["promoted_at"]
    text = registry.run("versions")
    assert text.returncode == 0
    assert f"v{newest['version']} @challenger @champion" in text.stdout
    assert f"gate:      promote: {newest['gate_reasons']}" in text.stdout
    assert newest["training_run_id"] in text.stdout  # whole run ids


def test_runs_lists_top_level_runs_unless_trials_are_asked_for(registry: Registry) -> None:
    top_level = registry.json("runs")
    assert top_level and {row["kind"] for row in top_level} == {"training"}
    assert all(row["parent_run_id"] is None for row in top_level)
    with_trials = registry.json("runs", "--trials", "--top", "50")
    assert {"training", "search-trial"} <= {row["kind"] for row in with_trials}
    table = registry.run("runs", "--trials", "--top", "50")
    for row in with_trials:  # neither ids nor names cut short
        assert row["run_id"] in table.stdout and row["name"] in table.stdout


def test_links_point_straight_at_runs_and_model(registry: Registry) -> None:
    links = registry.json("links", "--ui-url", "http://127.0.0.1:5999")
    champion = next(row for row in registry.json("versions") if "champion" in row["aliases"])
    experiment = links["experiment_id"]
    assert links["training_runs"] == f"http://127.0.0.1:5999/#/experiments/{experiment}/runs"
    assert links["champion_evaluation_run"] == f"http://127.0.0.1:5999/#/experiments/{experiment}/runs/{champion['evaluation_run_id']}"
    assert links["model"] == "http://127.0.0.1:5999/#/models/churn-classifier"
    text = registry.run("links", "--ui-url", "http://127.0.0.1:5999").stdout
    assert links["champion_evaluation_run"] in text and links["training_runs"] in text


def test_promoting_an_unknown_version_points_to_versions(registry: Registry) -> None:
    result = registry.run("promote", "--version", "99")
    assert result.returncode == 1
    assert "no version 99" in result.stderr and "churnops versions" in result.stderr and "Traceback" not in result.stderr
