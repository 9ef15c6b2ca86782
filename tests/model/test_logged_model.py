"""The registered champion works wherever a user takes it: the raw IBM file through `mlflow.pyfunc.load_model`
in a fresh process, behind `mlflow models serve`, and in a clean virtual environment built only from the
version's own requirements; each answer equals the churnops API's within 1e-5."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest

from churnops.data.contract import DatasetContract
from churnops.data.loading import load_dataset, to_model_frame
from tests.support.prerequisites import require
from tests.support.registries import TelcoRegistry
from tests.support.servers import churnops_api, free_port, server_process
from tests.support.settings import api_settings

pytestmark = pytest.mark.slow
BATCH = 1000
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def api_answers(
    telco_registry: TelcoRegistry, telco_csv: Path, contract: DatasetContract, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, np.ndarray]:
    """What the churnops API answers for every one of the 7043 customers, in file order: through /predict/batch
    (contract values) and through /invocations with the raw rows exactly as a client of `mlflow models serve` sends them."""
    folder = tmp_path_factory.mktemp("api-for-parity")
    customers = json.loads(to_model_frame(load_dataset(telco_csv, contract).features, contract).to_json(orient="records"))
    raw = pd.read_csv(telco_csv).drop(columns="Churn")
    answers: dict[str, list[float]] = {"batch": [], "invocations": []}
    with churnops_api(api_settings(telco_registry.registry, folder), folder / "api.log") as url, httpx.Client(base_url=url, timeout=60) as client:
        for start in range(0, len(customers), BATCH):
            response = client.post("/predict/batch", json={"customers": customers[start : start + BATCH]})
            assert response.status_code == 200, response.text
            answers["batch"] += [row["churn_probability"] for row in response.json()["predictions"]]
            payload = {"dataframe_split": json.loads(raw.iloc[start : start + BATCH].to_json(orient="split", index=False))}
            invoked = client.post("/invocations", json=payload)
            assert invoked.status_code == 200, invoked.text[:2000]
            answers["invocations"] += [row["churn_probability"] for row in invoked.json()["predictions"]]
    return {name: np.array(values) for name, values in answers.items()}


@pytest.fixture(scope="module")
def api_probabilities(api_answers: dict[str, np.ndarray]) -> np.ndarray:
    return api_answers["batch"]


def test_the_apis_invocations_take_the_raw_rows_like_mlflow_models_serve(api_answers: dict[str, np.ndarray]) -> None:
    np.testing.assert_allclose(api_answers["invocations"], api_answers["batch"], rtol=0, atol=1e-12)


def use_registry(telco_registry: TelcoRegistry) -> None:
    """Tracking and registry both (an earlier test in the session may have pointed the registry elsewhere)."""
    uri = f"sqlite:///{telco_registry.registry.folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def _fresh_python(code: str, tracking_uri: str, cwd: Path, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CHURNOPS_", "MLFLOW_", "VIRTUAL_ENV"))}
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    return subprocess.run([python, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


RAW_PREDICT = """
import mlflow, pandas as pd, sys
df = pd.read_csv(sys.argv[1] if len(sys.argv) > 1 else {csv!r}).drop(columns="Churn")
model = mlflow.pyfunc.load_model({uri!r})
out = model.predict(df)
out.to_json({output!r}, orient="records")
"""


def test_pyfunc_predicts_the_raw_ibm_file_as_pandas_reads_it(
    telco_registry: TelcoRegistry, telco_csv: Path, api_probabilities: np.ndarray, tmp_path: Path
) -> None:
    """`pd.read_csv(...).drop(columns="Churn")`: SeniorCitizen 0/1 integers, TotalCharges text with 11 blanks, customerID present."""
    raw = pd.read_csv(telco_csv).drop(columns="Churn")
    assert raw["SeniorCitizen"].dtype.kind == "i" and raw["TotalCharges"].dtype == object  # the file as the issue describes it
    output = tmp_path / "predictions.json"
    code = RAW_PREDICT.format(csv=str(telco_csv), uri="models:/churn-classifier@champion", output=str(output))
    completed = _fresh_python(code, f"sqlite:///{telco_registry.registry.folder / 'mlflow.db'}", tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = pd.read_json(output, orient="records")
    assert list(rows.columns) == ["churn_probability", "churn"] and len(rows) == 7043
    np.testing.assert_allclose(rows["churn_probability"].to_numpy(), api_probabilities, rtol=0, atol=TOLERANCE)
    threshold = telco_registry.result.threshold
    # The threshold is a validation customer's probability, so some rows sit exactly on it; the JSON file keeps
    # 10 digits, which can round such a row to either side of it: the label is checked where the file can tell.
    probabilities = rows["churn_probability"].to_numpy()
    clear = np.abs(probabilities - threshold) > 1e-9
    assert clear.sum() > len(rows) - 10
    assert (rows["churn"].to_numpy()[clear] == (probabilities[clear] >= threshold)).all()


def test_values_outside_the_contract_are_refused_naming_column_and_row(telco_registry: TelcoRegistry, telco_csv: Path) -> None:
    use_registry(telco_registry)
    model = mlflow.pyfunc.load_model("models:/churn-classifier@champion")
    bad = pd.read_csv(telco_csv).drop(columns="Churn").head(4)
    bad.loc[0, "gender"] = "Robot"
    bad.loc[1, "Contract"] = "Three year"
    bad.loc[2, "tenure"] = -50
    bad["MonthlyCharges"] = bad["MonthlyCharges"].astype(object)
    bad.loc[3, "MonthlyCharges"] = True
    with pytest.raises(mlflow.exceptions.MlflowException) as raised:
        model.predict(bad)
    message = str(raised.value)
    assert "column 'gender': unknown category (allowed: Female, Male)" in message and "row 0: 'Robot'" in message
    assert "column 'Contract': unknown category" in message and "row 1: 'Three year'" in message
    assert "column 'tenure': value out of range" in message and "row 2" in message
    assert "column 'MonthlyCharges': expected numbers" in message and "row 3" in message
    sklearn_pipeline = model.unwrap_python_model().pipeline  # the fitted sklearn pipeline is there for sklearn tools
    assert sklearn_pipeline.predict_proba(to_model_frame(bad.iloc[[0]].assign(gender="Female"), model.unwrap_python_model().contract)).shape == (1, 2)


@pytest.fixture(scope="module")
def mlflow_scoring_server(telco_registry: TelcoRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow models serve` of the champion in the project's environment (no churnops-specific flags)."""
    folder = tmp_path_factory.mktemp("mlflow-serve")
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/churn-classifier@champion"]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CHURNOPS_", "MLFLOW_"))}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{telco_registry.registry.folder / 'mlflow.db'}"
    with server_process(command, port, folder / "mlflow-serve.log", timeout=180, stop_timeout=20, env=env, health="/ping") as url:
        yield url


def test_mlflow_models_serve_answers_raw_rows_like_the_api(mlflow_scoring_server: str, telco_csv: Path, api_probabilities: np.ndarray) -> None:
    raw = pd.read_csv(telco_csv).drop(columns="Churn")
    answers: list[float] = []
    with httpx.Client(base_url=mlflow_scoring_server, timeout=120) as client:
        for start in range(0, len(raw), BATCH):
            payload = {"dataframe_split": json.loads(raw.iloc[start : start + BATCH].to_json(orient="split", index=False))}
            response = client.post("/invocations", json=payload)
            assert response.status_code == 200, response.text[:2000]
            answers += [row["churn_probability"] for row in response.json()["predictions"]]
    np.testing.assert_allclose(answers, api_probabilities, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("gender", "Robot", "unknown category (allowed: Female, Male)"),
        ("Contract", "Three year", "unknown category"),
        ("tenure", -50, "value out of range"),
    ],
)
def test_mlflow_models_serve_refuses_values_outside_the_contract(
    mlflow_scoring_server: str, telco_csv: Path, column: str, value: object, expected: str
) -> None:
    row = json.loads(pd.read_csv(telco_csv).drop(columns="Churn").head(1).to_json(orient="records"))[0]
    response = httpx.post(f"{mlflow_scoring_server}/invocations", json={"dataframe_records": [{**row, column: value}]}, timeout=60)
    assert response.status_code == 400, response.text[:2000]
    assert f"column '{column}': {expected}" in response.json()["message"]


def test_the_version_loads_and_predicts_in_a_clean_venv_from_its_own_requirements(
    telco_registry: TelcoRegistry, telco_csv: Path, api_probabilities: np.ndarray, tmp_path: Path
) -> None:
    """Only the version's requirements.txt is installed: no churnops, no project checkout on the path."""
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    require(Path(uv).is_file(), "uv is needed to build the clean environment (make env installs it)")
    use_registry(telco_registry)
    model_dir = Path(mlflow.artifacts.download_artifacts("models:/churn-classifier@champion", dst_path=str(tmp_path / "model")))
    venv = tmp_path / "clean-venv"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "UV_PROJECT", "PYTHONPATH"))}
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, env=env, timeout=120)
    python = str(venv / "bin" / "python")
    installed = subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", python, "-r", str(model_dir / "requirements.txt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    no_churnops = _fresh_python("import importlib.util; print(importlib.util.find_spec('churnops'))", "", tmp_path, python)
    assert no_churnops.stdout.strip() == "None", "the clean environment must not have churnops installed"
    output = tmp_path / "clean.json"
    completed = _fresh_python(RAW_PREDICT.format(csv=str(telco_csv), uri=str(model_dir), output=str(output)), "", tmp_path, python)
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = pd.read_json(output, orient="records")
    np.testing.assert_allclose(rows["churn_probability"].to_numpy(), api_probabilities, rtol=0, atol=TOLERANCE)
