"""The Dagster assets materialized on the real Telco CSV: a gated champion in the registry and its batch scores stored."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from churnops.orchestrators.dagster import ASSETS, ChurnopsSettings, build_definitions, defs
from churnops.settings import Settings
from tests.support.orchestrators import TELCO_ROWS, assert_gated_champion, stored_predictions


@pytest.mark.slow
def test_assets_leave_a_gated_champion_and_its_batch_scores(orchestrated: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [key for key in os.environ if key.startswith("CHURNOPS_")]:
        monkeypatch.delenv(key)
    for key, value in orchestrated.as_environment().items():  # the resource reads them, as in production
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)

    result = dg.materialize(ASSETS, resources={"churnops": ChurnopsSettings()}, instance=dg.DagsterInstance.ephemeral())
    assert result.success

    gated = result.output_for_node("gate_decision")
    assert gated.decision.promote, gated.decision.reasons
    assert assert_gated_champion(orchestrated) == gated.version == "1"

    (scored,) = result.asset_materializations_for_node("batch_scores")
    summary = {key: value.value for key, value in scored.metadata.items()}
    assert summary["rows"] == TELCO_ROWS and summary["model_version"] == gated.version and summary["spooled"] == 0
    assert stored_predictions(orchestrated) == {summary["run_id"]: TELCO_ROWS}
    assert len(pd.read_parquet(summary["output"])) == TELCO_ROWS
    assert (tmp_path / "batch") in Path(summary["output"]).parents


def test_definitions_schedule_the_jobs_on_the_configured_crons() -> None:
    definitions = build_definitions(
        Settings(schedule_training_cron="15 4 * * 1", schedule_batch_scoring_cron="", schedule_timezone="Europe/Berlin")  # type: ignore[call-arg]
    )
    schedules = {schedule.name: schedule for schedule in definitions.schedules or []}
    assert list(schedules) == ["daily_training"], "an empty cron disables the batch-scoring schedule"
    daily = schedules["daily_training"]
    assert (daily.cron_schedule, daily.execution_timezone, daily.job_name) == ("15 4 * * 1", "Europe/Berlin", "training")
    jobs = {job.name: job for job in definitions.resolve_all_job_defs()}
    assert set(jobs["training"].asset_layer.executable_asset_keys) == {
        dg.AssetKey(name) for name in ("validated_data", "trained_model", "model_evaluation", "gate_decision")
    }
    assert set(jobs["batch_scoring"].asset_layer.executable_asset_keys) == {dg.AssetKey("batch_scores")}


def test_the_module_dagster_loads_builds_its_definitions_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNOPS_SCHEDULE_BATCH_SCORING_CRON", "")
    loaded = defs()  # what `dagster dev -m churnops.orchestrators.dagster` calls: settings read then, not at import
    assert isinstance(loaded, dg.Definitions)
    assert [schedule.name for schedule in loaded.schedules or []] == ["daily_training"]
