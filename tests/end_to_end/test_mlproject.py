"""The MLproject entry point runs with `mlflow run . -e pipeline --env-manager local`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

pytestmark = pytest.mark.integration


def test_mlflow_run_pipeline_entry_point(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "MLproject", project / "MLproject")
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("CHURNOPS_", "MLFLOW_"))},
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "CHURNOPS_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "CHURNOPS_CV_FOLDS": "3",
        "CHURNOPS_SYNTHETIC_ROWS": "1500",
        "CHURNOPS_GATE_MIN_ROC_AUC": "0.6",
    }
    command = [sys.executable, "-m", "mlflow", "run", ".", "-e", "pipeline", "--env-manager", "local", "-P", "trials=2"]
    completed = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads([line for line in completed.stdout.splitlines() if line.startswith("{")][-1])
    assert summary["version"] == "1" and summary["promoted"] is True
    assert summary["test_metrics"]["roc_auc"] > 0.6
