"""A real Prefect server for the flow tests, and churnops settings (via CHURNOPS_* variables) for its flows.

The server is started the way `churnops schedule` starts one on a laptop (`prefect_api`), with its
database under a temporary PREFECT_HOME and analytics off.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

from churnops.flows.schedule import prefect_api
from churnops.settings import load_settings
from tests.support.flows import FlowEnvironment
from tests.support.paths import CONTRACT_PATH
from tests.support.servers import free_port


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("prefect-home")
    saved = {key: os.environ.get(key) for key in ("PREFECT_HOME", "PREFECT_API_URL", "PREFECT_SERVER_ANALYTICS_ENABLED")}
    os.environ.pop("PREFECT_API_URL", None)
    os.environ["PREFECT_HOME"] = str(home)  # the server's SQLite database and the flows' result storage
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    try:
        with temporary_settings({PREFECT_LOCAL_STORAGE_PATH: home / "storage"}), prefect_api(free_port()) as url:
            yield url
            # Send the flows' last logs and events while the server still answers (else Prefect retries for minutes at exit).
            APILogWorker.drain_all(timeout=10)
            EventsWorker.drain_all(timeout=10)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def flow_environment(prefect_server: str, telco_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowEnvironment]:
    """A private registry, store and output folder; the flows run from this folder and read these variables."""
    folder = tmp_path_factory.mktemp("flows")
    variables = {
        "CHURNOPS_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "CHURNOPS_ARTIFACT_LOCATION": str(folder / "mlartifacts"),
        "CHURNOPS_DATASET": str(CONTRACT_PATH),
        "CHURNOPS_DATA": str(telco_csv),
        "CHURNOPS_FAMILIES": '["logistic_regression"]',
        "CHURNOPS_SEARCH_TRIALS": "2",
        "CHURNOPS_CV_FOLDS": "3",
        "CHURNOPS_GATE_MIN_ROC_AUC": "0.6",
        "CHURNOPS_SYSTEM_METRICS_SECONDS": "0.5",
        "CHURNOPS_STORE_URL": f"sqlite:///{folder / 'predictions.db'}",
        "CHURNOPS_SPOOL_DIR": str(folder / "spool"),
        "CHURNOPS_STORE_FLUSH_SECONDS": "0.05",
        "CHURNOPS_BATCH_OUTPUT_DIR": str(folder / "batch"),
        "CHURNOPS_MONITOR_REPORT_DIR": str(folder / "reports"),
        "CHURNOPS_RETRAIN_DATA_DIR": str(folder / "retrain"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key in [key for key in os.environ if key.startswith("CHURNOPS_")]:
            patch.delenv(key)
        for key, value in variables.items():
            patch.setenv(key, value)
        patch.chdir(folder)
        yield FlowEnvironment(folder, load_settings(), variables)
