"""The Airflow DAG (deploy/airflow/dags) run by `dag.test()` in Airflow's own virtual environment, on the real Telco CSV.

Its tasks call this environment's `churnops` command, configured by CHURNOPS_* variables: afterwards the registry
has a champion the gate promoted and the batch of every customer is stored.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from churnops.settings import Settings
from tests.support.orchestrators import TELCO_ROWS, assert_gated_champion, settings_environment, stored_predictions
from tests.support.paths import ROOT

DAGS = ROOT / "deploy" / "airflow" / "dags"
CHURNOPS = str(Path(sys.executable).with_name("churnops"))

# Run inside .venv-airflow: parse the DAG folder as the scheduler would, run one DAG run in process, print what happened.
DAG_TEST = """
import json
from airflow.dag_processing.dagbag import DagBag

bag = DagBag()  # AIRFLOW__CORE__DAGS_FOLDER
dag = bag.get_dag("churnops_training")
if dag is None:
    raise SystemExit(f"churnops_training not found; import errors: {bag.import_errors}")
run = dag.test()
print(json.dumps({"state": str(run.state), "import_errors": bag.import_errors, "schedule": dag.timetable.summary, "tasks": list(dag.task_ids)}))
"""


@pytest.fixture(scope="session")
def airflow_python() -> Path:
    """.venv-airflow's interpreter; `make airflow-env` creates it once (uv's cache makes that a few seconds) and then does nothing."""
    subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "airflow-env"], check=True, timeout=900)
    return ROOT / ".venv-airflow" / "bin" / "python"


@pytest.mark.slow
def test_dag_test_leaves_a_gated_champion_and_the_batch_scores(airflow_python: Path, orchestrated: Settings, tmp_path: Path) -> None:
    environment = settings_environment(orchestrated) | {
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "CHURNOPS_EXECUTABLE": CHURNOPS,
        "CHURNOPS_SCHEDULE_TRAINING_CRON": "15 4 * * 1",
    }
    airflow = str(airflow_python.with_name("airflow"))
    subprocess.run(
        [airflow, "db", "migrate"], env=environment, cwd=tmp_path, capture_output=True, check=True, timeout=180
    )  # dag.test needs the tables
    finished = subprocess.run(
        [str(airflow_python), "-c", DAG_TEST], env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert finished.returncode == 0, finished.stdout[-5000:] + finished.stderr[-5000:]
    outcome = json.loads(finished.stdout.strip().splitlines()[-1])
    assert outcome["state"] == "success", finished.stdout[-5000:]
    assert outcome["tasks"] == ["validate", "pipeline", "score"]
    assert "15 4 * * 1" in outcome["schedule"], "the DAG runs on CHURNOPS_SCHEDULE_TRAINING_CRON"

    assert assert_gated_champion(orchestrated) == "1"
    assert '"promoted": true' in finished.stdout + finished.stderr, "the pipeline task's summary (its XCom) says the gate promoted it"
    (batch,) = stored_predictions(orchestrated).values()
    assert batch == TELCO_ROWS
    assert len(list((tmp_path / "batch").glob("*.parquet"))) == 1
