"""The GitHub workflows: valid against the workflow schema (vendored in check-jsonschema, offline) and wired the way CI needs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.paths import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
TRAINING = WORKFLOWS / "training.yml"


def load(path: Path) -> dict[str, Any]:
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return dict(workflow)


def steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return list(workflow["jobs"][job]["steps"])


def step_using(workflow: dict[str, Any], job: str, action: str) -> dict[str, Any]:
    return next(step for step in steps(workflow, job) if step.get("uses", "").startswith(f"{action}@"))


def runs(workflow: dict[str, Any], job: str) -> str:
    return "\n".join(step.get("run", "") for step in steps(workflow, job))


def makefile_uv_version() -> str:
    match = re.search(r"^UV_VERSION\s*:?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "UV_VERSION not found in the Makefile"
    return match.group(1)


def test_workflows_match_the_github_workflow_schema() -> None:
    check_jsonschema = Path(sys.executable).with_name("check-jsonschema")
    files = sorted(str(path) for path in WORKFLOWS.glob("*.yml"))
    assert len(files) >= 2
    result = subprocess.run(  # noqa: S603
        [str(check_jsonschema), "--builtin-schema", "vendor.github-workflows", *files], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_make_ci_on_push_and_pull_request_against_a_postgres_service() -> None:
    workflow = load(CI)
    assert {"push", "pull_request"} <= set(workflow["on"])
    assert workflow["concurrency"]["cancel-in-progress"] is True
    [job_name] = workflow["jobs"]
    job = workflow["jobs"][job_name]
    assert job["runs-on"] == "ubuntu-latest"

    postgres = job["services"]["postgres"]
    assert postgres["image"] == "postgres:16" and postgres["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert "5432:5432" in postgres["ports"] and "--health-cmd" in postgres["options"]

    environment = job["env"]
    assert environment["CI"] == "true" and environment["CHURNOPS_AUDIT_STRICT"] == "true"
    assert environment["CHURNOPS_TEST_POSTGRES_URL"].startswith("postgresql://postgres@127.0.0.1:5432/")
    # The variable names the tests actually read.
    assert "CHURNOPS_TEST_POSTGRES_URL" in (ROOT / "tests" / "support" / "databases.py").read_text()
    assert "CHURNOPS_TELCO_CSV" in (ROOT / "tests" / "support" / "paths.py").read_text()

    assert step_using(workflow, job_name, "actions/setup-python")["with"]["python-version"] in ("3.11", "${{ env.PYTHON_VERSION }}")
    assert workflow["env"]["PYTHON_VERSION"] == "3.11"
    setup_uv = step_using(workflow, job_name, "astral-sh/setup-uv")["with"]
    assert setup_uv["version"] == "${{ env.UV_VERSION }}" and workflow["env"]["UV_VERSION"] == makefile_uv_version()
    assert setup_uv["enable-cache"] is True

    script = runs(workflow, job_name)
    assert "make system-deps" in script and "churnops fetch --out" in script and "CHURNOPS_TELCO_CSV=" in script
    assert script.index("make system-deps") < script.index("churnops fetch") < script.index("make ci")
    upload = step_using(workflow, job_name, "actions/upload-artifact")
    assert upload["if"] == "failure()" and ".churnops/gates/" in upload["with"]["path"]


def test_training_runs_on_a_schedule_and_on_demand_and_keeps_its_report() -> None:
    workflow = load(TRAINING)
    assert workflow["on"]["schedule"][0]["cron"]
    assert {"data_url", "trials"} <= set(workflow["on"]["workflow_dispatch"]["inputs"])
    [job_name] = workflow["jobs"]
    job = workflow["jobs"][job_name]
    assert "secrets.CHURNOPS_TRACKING_URI" in job["env"]["CHURNOPS_TRACKING_URI"]
    assert workflow["env"]["UV_VERSION"] == makefile_uv_version()

    script = runs(workflow, job_name)
    assert "churnops fetch" in script and "churnops pipeline" in script and "--json" in script
    assert script.index("churnops fetch") < script.index("churnops pipeline")
    assert "${{ inputs" not in script  # inputs reach the shell as environment variables, not pasted into it
    paths = step_using(workflow, job_name, "actions/upload-artifact")["with"]["path"]
    assert "report/pipeline.json" in paths and "mlartifacts/" in paths and "mlflow.db" in paths
