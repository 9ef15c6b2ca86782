"""The Kibana dashboard: its saved objects, and `churnops kibana import` against a FAKE Kibana
(tests/support/fakes/kibana.py; no Kibana can run here) or a real one when CHURNOPS_KIBANA_URL is set."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from churnops.data.contract import DatasetContract
from churnops.monitoring.kibana import import_saved_objects
from churnops.store.elasticsearch import mappings
from tests.support.fakes.kibana import FakeKibana

ROOT = Path(__file__).resolve().parents[2]
NDJSON = ROOT / "deploy" / "kibana" / "churnops-dashboard.ndjson"


def objects() -> list[dict]:
    return [json.loads(line) for line in NDJSON.read_text().splitlines() if line.strip()]


def mapped_fields(properties: dict, prefix: str = "") -> set[str]:
    fields = set()
    for name, spec in properties.items():
        fields |= mapped_fields(spec["properties"], f"{prefix}{name}.") if "properties" in spec else {prefix + name}
    return fields


def test_the_ndjson_is_what_the_builder_writes() -> None:
    spec = importlib.util.spec_from_file_location("build_dashboard", ROOT / "deploy" / "kibana" / "build_dashboard.py")
    assert spec and spec.loader
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    assert NDJSON.read_text() == builder.render(), "run python deploy/kibana/build_dashboard.py"


def test_every_panel_reads_fields_the_exporter_maps(contract: DatasetContract) -> None:
    kinds = mappings(contract)
    patterns = {item["id"]: item["attributes"]["title"] for item in objects() if item["type"] == "index-pattern"}
    visualizations = [item for item in objects() if item["type"] == "visualization"]
    assert len(visualizations) >= 6
    for item in visualizations:
        pattern = patterns[item["references"][0]["id"]]
        kind = pattern.removeprefix("churnops-").removesuffix("-*")
        fields = mapped_fields(kinds[kind])
        for agg in json.loads(item["attributes"]["visState"])["aggs"]:
            if "field" in agg["params"]:
                assert agg["params"]["field"] in fields, f"{item['id']} uses {agg['params']['field']}, not mapped in {kind}"
    dashboard = next(item for item in objects() if item["type"] == "dashboard")
    panel_refs = {ref["id"] for ref in dashboard["references"]}
    assert panel_refs == {item["id"] for item in visualizations}
    titles = " ".join(item["attributes"]["title"] for item in visualizations)
    for topic in ("ROC AUC", "drifted", "PSI", "volume", "Churn rate", "latency"):
        assert topic.lower() in titles.lower(), topic


def kibana_import(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURNOPS_")}
    return subprocess.run(
        [sys.executable, "-m", "churnops", "kibana", "import", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_import_posts_the_saved_objects_to_kibana() -> None:
    with FakeKibana() as kibana:
        result = kibana_import("--url", kibana.url)
        assert result.returncode == 0, result.stderr
        assert f"imported {len(objects())} saved objects" in result.stdout
        assert set(kibana.objects) == {(item["type"], item["id"]) for item in objects()}
        request = kibana.imports[0]
        assert request["query"] == "overwrite=true" and request["headers"]["kbn-xsrf"]
        assert kibana_import("--url", kibana.url, "--space", "ops").returncode == 0
        assert kibana.imports[1]["path"] == "/s/ops/api/saved_objects/_import"


def test_import_failures_are_explained(tmp_path: Path) -> None:
    missing = kibana_import("--url", "http://127.0.0.1:9", "--file", str(tmp_path / "nope.ndjson"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    unreachable = kibana_import("--url", "http://127.0.0.1:9")
    assert unreachable.returncode == 1 and "not reachable" in unreachable.stderr and "Traceback" not in unreachable.stderr
    broken = tmp_path / "broken.ndjson"
    broken.write_text(
        json.dumps({"type": "dashboard", "id": "d", "attributes": {}, "references": [{"type": "visualization", "id": "gone", "name": "p"}]}) + "\n"
    )
    with FakeKibana() as kibana:
        refused = kibana_import("--url", kibana.url, "--file", str(broken))
    assert refused.returncode == 1 and "missing_references" in refused.stderr
    no_url = kibana_import()
    assert no_url.returncode == 1 and "CHURNOPS_KIBANA_URL" in no_url.stderr


@pytest.mark.skipif(not os.environ.get("CHURNOPS_KIBANA_URL"), reason="CHURNOPS_KIBANA_URL not set: no real Kibana to test against")
def test_import_into_a_real_kibana() -> None:
    url = os.environ["CHURNOPS_KIBANA_URL"]
    answer = import_saved_objects(url, NDJSON)
    assert answer["successCount"] == len(objects())
    found = httpx.get(f"{url.rstrip('/')}/api/saved_objects/dashboard/churnops-monitoring", timeout=30)
    assert found.status_code == 200 and found.json()["attributes"]["title"].startswith("churnops")
