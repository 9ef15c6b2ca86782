"""deploy/prometheus for real: promtool checks, and Debian's prometheus scraping a running API."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml

from churnops.store import MONITORING_RUNS, PredictionStore
from tests.support.prerequisites import require
from tests.support.registries import TelcoRegistry
from tests.support.servers import churnops_api, prometheus_server
from tests.support.settings import api_settings
from tests.support.waiting import wait_until

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    require(
        shutil.which("promtool") is not None and shutil.which("prometheus") is not None,
        "Debian's prometheus package is not installed (apt-get install prometheus)",
    )
    return "promtool"


def test_promtool_accepts_the_config_and_the_rules(promtool: str) -> None:
    config = subprocess.run([promtool, "check", "config", str(DEPLOY / "prometheus.yml")], capture_output=True, text=True, check=False)
    assert config.returncode == 0, config.stdout + config.stderr
    rules = subprocess.run([promtool, "check", "rules", str(DEPLOY / "alerts.yml")], capture_output=True, text=True, check=False)
    assert rules.returncode == 0 and "SUCCESS: 7 rules found" in rules.stdout, rules.stdout + rules.stderr


def query(prometheus: str, expression: str) -> list[dict]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expression}, timeout=10).json()
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def test_prometheus_scrapes_the_api_and_loads_the_alert_rules(promtool: str, telco_registry: TelcoRegistry, tmp_path: Path) -> None:
    settings = api_settings(telco_registry.registry, tmp_path)
    # A monitoring run's figures, as `churnops monitor` records them: the API exports them as gauges.
    store = PredictionStore(settings.store.url, settings.store.spool_dir)
    store.start()
    store.close()
    engine = sa.create_engine(settings.store.url)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(MONITORING_RUNS),
            [
                {
                    "run_id": "r1",
                    "window_start": datetime.now(UTC) - timedelta(days=1),
                    "window_end": datetime.now(UTC),
                    "model_version": "1",
                    "predictions": 500,
                    "share_drifted_features": 0.42,
                    "prediction_drift_score": 0.2,
                    "roc_auc": None,
                    "alerts": 2,
                }
            ],
        )
    engine.dispose()

    with churnops_api(settings, tmp_path / "api.log") as api:
        body = httpx.get(f"{api}/model", timeout=10)
        assert body.status_code == 200
        config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
        config["global"]["scrape_interval"] = config["global"]["evaluation_interval"] = "1s"
        config["scrape_configs"][0]["static_configs"][0]["targets"] = [api.removeprefix("http://")]
        config["rule_files"] = [str(DEPLOY / "alerts.yml")]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        with prometheus_server(tmp_path / "prometheus.yml", tmp_path / "prometheus.log") as prometheus:
            wait_until(lambda: query(prometheus, 'up{job="churnops-api"} == 1'), 60, "prometheus never scraped the API")
            wait_until(lambda: query(prometheus, "churnops_requests_total"), 30, "churnops_requests_total not scraped")
            assert query(prometheus, "churnops_model_version")[0]["value"][1] == "1"
            assert float(query(prometheus, "churnops_drift_share")[0]["value"][1]) == pytest.approx(0.42)
            groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
            assert {rule["name"] for group in groups for rule in group["rules"]} >= {
                "ChurnopsHighLatency",
                "ChurnopsHighErrorRate",
                "ChurnopsDataDrift",
            }
            # 0.42 >= 0.3 and the rule has no `for`: it fires at the next evaluation.
            wait_until(
                lambda: any(
                    alert["labels"]["alertname"] == "ChurnopsDataDrift" and alert["state"] == "firing"
                    for alert in httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
                ),
                30,
                "ChurnopsDataDrift did not fire",
            )
