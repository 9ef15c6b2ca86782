"""The gate judges every challenger on a trusted evaluation set it did not choose, and retraining never
trains on anything but the configured data: synthetic data, worse data and /etc/passwd never move @champion."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from churnops import registry
from churnops.settings import Settings
from churnops.training.pipeline import run_pipeline
from tests.support.registries import TelcoRegistry
from tests.support.servers import churnops_api
from tests.support.settings import api_settings
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
API_KEY = "gate-test-key"


def registry_settings(telco_registry: TelcoRegistry, tmp_path: Path, **overrides: object) -> Settings:
    """A private copy of the Telco registry (champion v1, trained on the real file)."""
    return api_settings(telco_registry.registry, tmp_path, families=["logistic_regression"], search_trials=2, **overrides)


def champion(settings: Settings) -> str | None:
    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    return registry.alias_version(client, settings.model_name, registry.CHAMPION)


def test_synthetic_data_never_replaces_a_real_data_champion(telco_registry: TelcoRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = registry_settings(telco_registry, tmp_path, data=None, gate_min_roc_auc=0.0, gate_tolerance=1.0)  # only the data rule can reject
    result = run_pipeline(settings)
    assert not result.promoted and champion(settings) == "1"
    assert any("synthetic data never replaces it" in reason for reason in result.reasons), result.reasons
    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    tags = client.get_model_version(settings.model_name, result.version).tags
    assert tags["data_kind"] == "synthetic" and tags["data_source"].startswith("synthetic:")
    assert client.get_model_version(settings.model_name, "1").tags["data_kind"] == "file"


def test_worse_data_is_judged_on_the_champions_evaluation_set_and_rejected(
    telco_registry: TelcoRegistry, telco_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half of the labels scrambled: on its own test split it might look fine; on the champion's rows it cannot."""
    monkeypatch.chdir(tmp_path)
    frame = pd.read_csv(telco_csv, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(5)
    scrambled = rng.random(len(frame)) < 0.5
    frame.loc[scrambled, "Churn"] = rng.permutation(frame.loc[scrambled, "Churn"].to_numpy())
    worse = tmp_path / "worse.csv"
    frame.to_csv(worse, index=False)
    settings = registry_settings(telco_registry, tmp_path, data=str(worse))
    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    champion_tags = client.get_model_version(settings.model_name, "1").tags

    result = run_pipeline(settings)

    assert not result.promoted and champion(settings) == "1"
    trusted = champion_tags["evaluation_set_fingerprint"]
    assert any(f"on champion v1's evaluation set (1409 rows), fingerprint {trusted[:12]}" in reason for reason in result.reasons), result.reasons
    assert result.split_sizes["test"] == 1409  # the champion's rows, not a split this run chose
    gate = mlflow.get_run(result.gate_run_id).data.tags
    assert gate["evaluation_set_fingerprint"] == trusted == gate["champion_evaluation_set_fingerprint"]
    assert gate["challenger_data_source"] == str(worse) and gate["champion_data_source"] == str(telco_csv)
    training = mlflow.get_run(result.training_run_id).data.params
    assert int(training["held_out_evaluation_rows"]) > 600  # the unscrambled evaluation rows never trained the challenger
    # The new version carries the same evaluation set forward.
    assert client.get_model_version(settings.model_name, result.version).tags["evaluation_set_fingerprint"] == trusted


def test_a_pinned_evaluation_file_judges_both_and_is_recorded(
    telco_registry: TelcoRegistry, telco_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pinned = tmp_path / "pinned.csv"
    pd.read_csv(telco_csv, dtype=str, keep_default_na=False).sample(n=1500, random_state=3).to_csv(pinned, index=False)
    settings = registry_settings(telco_registry, tmp_path, data=str(telco_csv), gate_evaluation_data=str(pinned))
    result = run_pipeline(settings)
    assert result.split_sizes["test"] == 1500
    assert any(f"pinned evaluation file {pinned} (1500 rows)" in reason for reason in result.reasons), result.reasons
    # Its rows never train (a few more than 1500: the IBM file has customers identical in every column and the label).
    assert 1500 <= int(mlflow.get_run(result.training_run_id).data.params["held_out_evaluation_rows"]) <= 1520


def test_api_retraining_without_configured_data_or_outside_the_allow_list_is_refused(telco_registry: TelcoRegistry, tmp_path: Path) -> None:
    """The observed attack: a server without CHURNOPS_DATA, `{"trials": 6}`; and `data=/etc/passwd`."""
    settings = registry_settings(telco_registry, tmp_path, data=None, api_key=API_KEY)
    headers = {"X-API-Key": API_KEY}
    with churnops_api(settings, tmp_path / "api.log") as url, httpx.Client(base_url=url, timeout=60, headers=headers) as client:
        wait_until(lambda: client.get("/ready").status_code == 200, 60, "API not ready")
        no_data = client.post("/admin/retrain", json={"trials": 6})
        assert no_data.status_code == 409, no_data.text
        assert "No training data is configured (CHURNOPS_DATA)" in no_data.json()["detail"]
        passwd = client.post("/admin/retrain", json={"data": "/etc/passwd"})
        assert passwd.status_code == 422, passwd.text
        assert "not allowed" in passwd.json()["detail"] and "root:" not in passwd.text
        assert client.get("/model").json()["version"] == "1"
    assert champion(settings) == "1"


def test_api_retraining_on_an_allowed_source_goes_through_the_gate(telco_registry: TelcoRegistry, telco_csv: Path, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed.csv"
    shutil.copyfile(telco_csv, allowed)
    settings = registry_settings(telco_registry, tmp_path, data=str(telco_csv), retrain_allowed_data=[str(allowed)], api_key=API_KEY)
    with churnops_api(settings, tmp_path / "api.log") as url, httpx.Client(base_url=url, timeout=60, headers={"X-API-Key": API_KEY}) as client:
        wait_until(lambda: client.get("/ready").status_code == 200, 60, "API not ready")
        job = client.post("/admin/retrain", json={"data": str(allowed), "trials": 1})
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]
        wait_until(lambda: client.get(f"/admin/jobs/{job_id}").json()["status"] in ("succeeded", "failed"), 600, "the job did not finish")
        finished = client.get(f"/admin/jobs/{job_id}").json()
    assert finished["status"] == "succeeded", finished
    assert finished["version"] == "2" and any("champion v1's evaluation set" in reason for reason in finished["reasons"]), finished
