"""Schemathesis against the service's own OpenAPI schema: no 5xx, no undocumented status, no response off its schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.registries import TrainedRegistry
from tests.support.servers import churnops_api
from tests.support.settings import api_settings

API_KEY = "schemathesis-admin-key"
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
MINIMUM_CASES = 500


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(trained_registry: TrainedRegistry, tmp_path: Path) -> None:
    settings = api_settings(trained_registry, tmp_path, api_key=API_KEY, max_batch_size=20)
    report = tmp_path / "schemathesis.json"
    with churnops_api(settings, tmp_path / "api.log") as url:
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{url}/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            "40",
            "--seed",
            "7",
            "--generation-database",
            "none",
            "--header",
            f"X-API-Key: {API_KEY}",
            "--exclude-path",
            "/admin/retrain",  # would start real training runs; its auth and jobs are tested in test_api
            "--exclude-path",
            "/comments/analyze",  # no LLM runs here: its documented 503; with the real model in tests/comments/test_llm_analysis.py
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--no-color",
        ]
        run = subprocess.run(
            command, capture_output=True, text=True, cwd=tmp_path, timeout=600, env={**os.environ, "SCHEMATHESIS_HOOKS": ""}, check=False
        )
    summary = json.loads(report.read_text())
    output = run.stdout[-6000:]
    print(f"schemathesis test cases: {summary['test_cases']}")  # shown with `pytest -s`
    assert summary["complete"], output
    assert summary["failures"] == [], output
    assert summary["errors"] == [], output
    assert summary["test_cases"]["generated"] >= MINIMUM_CASES, summary["test_cases"]
    assert run.returncode == 0, output
