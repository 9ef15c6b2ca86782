"""`churnops serve`, `score` and `monitor` started in an empty folder with only CHURNOPS_TRACKING_URI set:
the contract comes from the served version itself, the docs example from its training data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.support.registries import TelcoRegistry
from tests.support.servers import free_port, server_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def bare_environment(tracking_uri: str) -> dict[str, str]:
    """The process environment with no CHURNOPS_* setting but the tracking URI."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CHURNOPS_", "MLFLOW_"))}
    env["CHURNOPS_TRACKING_URI"] = tracking_uri
    return env


def churnops(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "churnops", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_serve_score_and_monitor_from_an_empty_folder(telco_registry: TelcoRegistry, telco_csv: Path, tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    registry.mkdir()
    shutil.copy(telco_registry.registry.folder / "mlflow.db", registry / "mlflow.db")
    env = bare_environment(f"sqlite:///{registry / 'mlflow.db'}")
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    customers = tmp_path / "customers.csv"
    shutil.copyfile(telco_csv, customers)

    port = free_port()
    command = [sys.executable, "-m", "churnops", "serve", "--port", str(port)]
    with server_process(command, port, empty / "serve.log", timeout=120, stop_timeout=30, env=env) as url, httpx.Client(base_url=url) as client:
        wait_until(lambda: client.get("/ready").status_code == 200, 60, f"not ready: {client.get('/ready').text}")
        schema = client.get("/openapi.json").json()["components"]["schemas"]["Customer"]
        example = schema["examples"][0]
        # Typical training values (medians, most frequent categories), not the contract's fixed examples (tenure 12, 844.2).
        assert isinstance(example["tenure"], int) and 25 <= example["tenure"] <= 33
        assert abs(example["TotalCharges"] - 1397) < 150 and example["PaymentMethod"] == "Electronic check"
        assert example["customerID"] in set(pd.read_csv(telco_csv)["customerID"])  # an id from the training data
        answer = client.post("/predict", json=example)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == "1"

    scored = churnops("score", "--input", str(customers), "--json", cwd=empty, env=env)
    assert scored.returncode == 0, scored.stderr[-3000:]
    result = json.loads(scored.stdout)
    assert result["rows"] == 7043 and (empty / result["output"]).is_file()  # relative to the folder it ran in

    monitored = churnops("monitor", "--window", "1h", "--json", cwd=empty, env=env)
    assert monitored.returncode == 0, monitored.stderr[-3000:]
    summary = json.loads(monitored.stdout)
    assert summary["quality"]["rows"] == 7043 + 1 and summary["model"]["version"] == "1"
    assert (empty / "predictions.db").is_file()
    assert not list(empty.glob("configs*"))
