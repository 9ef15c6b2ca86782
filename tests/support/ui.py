"""A backend for the web front end's tests: the trained registry, real traffic through a real API process
(stored predictions and feedback), and two real `churnops monitor` windows in MLflow."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from churnops.data.contract import load_contract
from churnops.data.loading import load_dataset, to_model_frame
from churnops.settings import Settings
from tests.support.cli import monitor
from tests.support.databases import count_rows
from tests.support.paths import CONTRACT_PATH
from tests.support.registries import TrainedRegistry
from tests.support.servers import churnops_api, free_port, server_process
from tests.support.settings import fast_settings
from tests.support.waiting import wait_until

API_KEY = "ui-test-admin-key"
TRAFFIC = 300  # customers scored through the API for each monitoring window (drift needs monitor_min_rows)
UI_APP = Path(__file__).parents[2] / "src" / "churnops" / "ui" / "app.py"


@dataclass(frozen=True)
class UiBackend:
    folder: Path  # mlflow.db (versions 1 and 2, two monitoring runs) and predictions.db
    artifacts: Path  # the trained registry's artifact folder (read-only)


def backend_settings(folder: Path, registry: TrainedRegistry) -> Settings:
    """The API's and the front end's settings over `folder`'s registry copy and store."""
    return fast_settings(
        folder,
        artifact_location=str(registry.folder / "mlartifacts"),
        store_url=f"sqlite:///{folder / 'predictions.db'}",
        spool_dir=folder / "spool",
        alias_poll_seconds=0.5,
        store_retry_seconds=0.5,
        api_key=API_KEY,
        monitor_report_dir=folder / "reports",
        retrain_data_dir=folder / "retrain",
        monitor_min_rows=100,
        monitor_min_labelled=50,
    )


def build_backend(folder: Path, registry: TrainedRegistry, telco_csv: Path) -> UiBackend:
    """Two windows of traffic, each scored by the API, labelled through /feedback and then monitored."""
    shutil.copy(registry.folder / "mlflow.db", folder / "mlflow.db")
    settings = backend_settings(folder, registry)
    customers, outcomes = labelled_customers(telco_csv, TRAFFIC * 2)
    with churnops_api(settings, folder / "api.log") as url, httpx.Client(base_url=url, timeout=30) as client:
        for window in range(2):
            batch = slice(window * TRAFFIC, (window + 1) * TRAFFIC)
            answer = client.post("/predict/batch", json={"customers": customers[batch]})
            answer.raise_for_status()
            for prediction, churned in zip(answer.json()["predictions"], outcomes[batch], strict=True):  # the customer's real outcome
                client.post("/feedback", json={"prediction_id": prediction["prediction_id"], "churned": churned}).raise_for_status()
            stored = (window + 1) * TRAFFIC  # before monitoring reads the store: every prediction and outcome so far
            wait_until(lambda stored=stored: all_stored(settings.store.url, stored), 30, "the predictions and outcomes were not stored")
            result = monitor(settings, "--window", "1d", "--json")
            assert result.returncode == 0, result.stderr
    return UiBackend(folder, registry.folder / "mlartifacts")


def all_stored(store_url: str, count: int) -> bool:
    return count_rows(store_url)[0] == count_rows(store_url, "feedback")[0] == count


def labelled_customers(telco_csv: Path, count: int) -> tuple[list[dict[str, Any]], list[bool]]:
    """Real Telco customers as a client sends them, and whether each one churned."""
    contract = load_contract(CONTRACT_PATH)
    dataset = load_dataset(telco_csv, contract)
    frame = to_model_frame(dataset.features, contract).head(count)
    return json.loads(frame.to_json(orient="records")), [bool(value) for value in dataset.target.head(count)]


def private_copy(backend: UiBackend, registry: TrainedRegistry, tmp_path: Path) -> Settings:
    """The backend's registry and store copied for one module, which may promote, roll back and store more."""
    for name in ("mlflow.db", "predictions.db"):
        shutil.copy(backend.folder / name, tmp_path / name)
    return backend_settings(tmp_path, registry)


@contextmanager
def streamlit_server(settings: Settings, api_url: str, log: Path) -> Iterator[str]:
    """`churnops ui` as a real process; yields its URL once Streamlit's health endpoint answers."""
    port = free_port()
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("CHURNOPS_")},
        **settings.as_environment(),
        "CHURNOPS_API_URL": api_url,
        "CHURNOPS_UI_PORT": str(port),
    }
    command = [sys.executable, "-m", "churnops", "ui"]
    with server_process(command, port, log, timeout=90, stop_timeout=20, env=env, health="/_stcore/health") as url:
        yield url
