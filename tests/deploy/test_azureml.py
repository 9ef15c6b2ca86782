"""The Azure ML pipeline (src/churnops/azureml, deploy/azureml): built and checked offline, its steps run for real.

No workspace is reachable here, so the pipeline job is checked with the SDK's own offline validation and a YAML
round trip, and each component's command line is run as Azure ML would run it (bash, in the code snapshot, with
the step's environment variables and MLFLOW_TRACKING_URI set by the platform), its `${{inputs.*}}` and
`${{outputs.*}}` replaced by local folders, chained as the pipeline chains them, against a real MLflow server.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from azure.ai.ml import load_job
from azure.ai.ml.entities import Environment
from azure.core.exceptions import ResourceNotFoundError
from mlflow.tracking import MlflowClient

from churnops.azureml import submit
from churnops.azureml.checkout import CONTEXT, Checkout, checkout
from churnops.azureml.pipeline import export_pipeline
from churnops.errors import ConfigError
from churnops.settings import Settings
from tests.support.paths import CONTRACT_PATH, ROOT, TELCO_CSV
from tests.support.prerequisites import require
from tests.support.servers import mlflow_server

STEPS = ["validate", "train", "evaluate", "register"]
PLACEHOLDER = re.compile(r"\$\{\{(inputs|outputs)\.(\w+)\}\}")
UPSTREAM = re.compile(r"^\$\{\{parent\.jobs\.(\w+)\.outputs\.(\w+)\}\}$")
ASSET = "azureml:telco-customer-churn:3"


def job_settings(tmp_path: Path, **overrides: object) -> Settings:
    """A small training (2 trials, logistic regression, 3 folds) on an Azure ML data asset and compute."""
    values: dict[str, object] = {
        "tracking_uri": f"sqlite:///{tmp_path / 'unused.db'}",  # the steps must not get it: they track to the platform's URI
        "dataset": CONTRACT_PATH,
        "search_trials": 2,
        "cv_folds": 3,
        "families": ["logistic_regression"],
        "azureml_data": ASSET,
        "azureml_compute": "cpu-small",
        "azureml_environment": "churnops-test",
        "gate_tolerance": 0.01,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture()
def exported(tmp_path: Path) -> tuple[Settings, Path, dict[str, Any]]:
    settings = job_settings(tmp_path)
    path = export_pipeline(settings, checkout(), tmp_path / "azureml" / "pipeline.yaml")
    return settings, path, yaml.safe_load(path.read_text())


def execution_order(jobs: dict[str, Any]) -> list[str]:
    """The steps in the order their inputs allow (each after the steps whose outputs it reads)."""
    upstream = {
        name: {match.group(1) for value in job.get("inputs", {}).values() if (match := UPSTREAM.match(str(value.get("path", ""))))}
        for name, job in jobs.items()
    }
    order: list[str] = []
    while len(order) < len(jobs):
        ready = sorted(name for name, needs in upstream.items() if name not in order and needs <= set(order))
        assert ready, f"the steps' inputs form a cycle: {upstream}"
        order.append(ready[0])
    return order


def test_the_pipeline_job_is_built_offline_and_round_trips_through_yaml(exported: tuple[Settings, Path, dict[str, Any]]) -> None:
    settings, path, document = exported
    found = checkout()
    assert document["type"] == "pipeline"
    assert document["settings"]["default_compute"] == "azureml:cpu-small"
    assert document["experiment_name"] == settings.experiment_name
    assert document["inputs"] == {"data": {"type": "uri_file", "path": ASSET}}  # the versioned data asset
    jobs = document["jobs"]
    assert execution_order(jobs) == STEPS
    # wiring: every step reads the data asset; each reads the previous steps' report folders
    expected_inputs = {
        "validate": {"data": "${{parent.inputs.data}}"},
        "train": {"data": "${{parent.inputs.data}}", "validation": "${{parent.jobs.validate.outputs.validation}}"},
        "evaluate": {"data": "${{parent.inputs.data}}", "training": "${{parent.jobs.train.outputs.training}}"},
        "register": {
            "data": "${{parent.inputs.data}}",
            "training": "${{parent.jobs.train.outputs.training}}",
            "evaluation": "${{parent.jobs.evaluate.outputs.evaluation}}",
        },
    }
    assert {name: {key: value["path"] for key, value in job["inputs"].items()} for name, job in jobs.items()} == expected_inputs
    assert document["outputs"] == {"decision": {"type": "uri_folder"}}
    assert jobs["register"]["outputs"] == {"decision": "${{parent.outputs.decision}}"}

    for name, job in jobs.items():
        component = job["component"]
        assert component["type"] == "command" and component["name"] == f"churnops_{name}"
        assert component["environment"] == f"azureml:churnops-test:{found.environment_version}"
        assert (path.parent / component["code"]).resolve() == (ROOT / "src").resolve()  # relative to the YAML, as az reads it
        assert component["inputs"]["data"]["type"] == "uri_file"
        assert all(output["type"] == "uri_folder" for output in component["outputs"].values())
        # only validation may be reused by Azure ML: the other steps depend on the registry's champion
        assert component["is_deterministic"] is (name == "validate")
        variables = job["environment_variables"]
        assert "CHURNOPS_TRACKING_URI" not in variables  # the platform's MLFLOW_TRACKING_URI is the workspace
        assert variables["CHURNOPS_SEARCH_TRIALS"] == "2" and variables["CHURNOPS_FAMILIES"] == '["logistic_regression"]'
        assert variables["CHURNOPS_DATASET"] == "telco"  # the shipped contract by name: an absolute local path means nothing in a job
        assert variables["CHURNOPS_DATA_DERIVED_FROM"] == ASSET
        assert not any("KEY" in key or "PASSWORD" in key for key in variables)
        assert variables == jobs["validate"]["environment_variables"]  # one set of settings for every step

    commands = {name: job["component"]["command"] for name, job in jobs.items()}
    assert commands["validate"] == 'python -m churnops validate --data "${{inputs.data}}" --report "${{outputs.validation}}/validation.json"'
    tracked = 'CHURNOPS_TRACKING_URI="${MLFLOW_TRACKING_URI:?is set by Azure ML in every job}" python -m churnops'
    assert commands["train"] == (
        f'{tracked} train --data "${{{{inputs.data}}}}" --validated "${{{{inputs.validation}}}}/validation.json" '
        '--json --report "${{outputs.training}}/training.json"'
    )
    assert commands["evaluate"] == (
        f'{tracked} evaluate --training-report "${{{{inputs.training}}}}/training.json" --data "${{{{inputs.data}}}}" '
        '--json --report "${{outputs.evaluation}}/evaluation.json"'
    )
    assert commands["register"] == (
        f'{tracked} register --training-report "${{{{inputs.training}}}}/training.json" '
        '--evaluation-report "${{inputs.evaluation}}/evaluation.json" --data "${{inputs.data}}" --report "${{outputs.decision}}/decision.json"'
    )
    for name, job in jobs.items():  # every placeholder names a port of its component
        ports = {("inputs", key) for key in job["component"]["inputs"]} | {("outputs", key) for key in job["component"]["outputs"]}
        assert set(PLACEHOLDER.findall(commands[name])) <= ports

    loaded = load_job(path)
    assert loaded._validate().passed, loaded._validate().error_messages
    assert list(loaded.jobs) == list(jobs)
    assert {name: step.component.command for name, step in loaded.jobs.items()} == commands
    assert {name: step.environment_variables for name, step in loaded.jobs.items()} == {
        name: job["environment_variables"] for name, job in jobs.items()
    }
    assert loaded.settings.default_compute == "cpu-small" and loaded.inputs["data"].path == ASSET.removeprefix("azureml:")
    for name, step in loaded.jobs.items():
        assert step.component.environment == f"churnops-test:{found.environment_version}"  # the SDK drops the azureml: prefix on load
        assert (path.parent / step.component.code).resolve() == (ROOT / "src").resolve()  # relative to the YAML file
        assert step.component.is_deterministic is (name == "validate")
        assert {port: str(binding.path) for port, binding in step.inputs.items()} == expected_inputs[name]


def test_a_contract_travels_by_name_or_inside_the_code_snapshot(tmp_path: Path) -> None:
    found = checkout()
    assert found.job_contract(None) is None
    assert found.job_contract(Path("telco")) == "telco"
    assert found.job_contract(CONTRACT_PATH) == "telco"
    inside = Checkout(tmp_path, CONTEXT)
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "mine.yaml").write_text("name: mine\n")
    assert inside.job_contract(tmp_path / "contracts" / "mine.yaml") == "contracts/mine.yaml"  # relative to the job's working folder
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.yaml"
    with pytest.raises(ConfigError, match="not in the code the Azure ML jobs get"):
        inside.job_contract(outside)


def test_the_environment_version_is_a_digest_of_its_build_context(tmp_path: Path) -> None:
    context = tmp_path / "environment"
    shutil.copytree(CONTEXT, context)
    copy = Checkout(ROOT / "src", context)
    assert copy.environment_version == checkout().environment_version  # the same files name the same version
    requirements = context / "requirements.txt"
    requirements.write_text(requirements.read_text() + "# a new lock\n")
    assert copy.environment_version != checkout().environment_version


def test_the_environment_requirements_are_the_lock() -> None:
    spec = importlib.util.spec_from_file_location("build_environment", ROOT / "deploy" / "azureml" / "build_environment.py")
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    assert (CONTEXT / "requirements.txt").read_text() == builder.render(), "run python deploy/azureml/build_environment.py"
    locked = (CONTEXT / "requirements.txt").read_text()
    pinned = [line.split("==")[0] for line in locked.splitlines() if "==" in line and not line.startswith((" ", "#"))]
    assert {"mlflow", "scikit-learn", "azure-identity", "azure-storage-blob", "msrest"} <= set(pinned)  # the plugin's dependencies too
    assert "churnops" not in pinned and not any(line.startswith("-e") for line in locked.splitlines())  # the code travels as the snapshot
    assert "mlflow==3.17." in locked and not {"pytest", "ruff", "mypy"} & set(pinned)  # no dev tools in the image


def test_the_environments_mlflow_plugin_builds_the_workspace_stores_with_the_locked_mlflow(tmp_path: Path) -> None:
    """azureml-mlflow declares mlflow-skinny<=3.15; the image installs it without resolution beside MLflow 3.17, so prove it loads."""
    uv = os.environ.get("UV") or shutil.which("uv")
    require(uv is not None, "uv not found (make env installs it)")
    target = tmp_path / "plugin"
    installed = subprocess.run(
        [str(uv), "pip", "install", "--quiet", "--no-deps", "--require-hashes", "--target", str(target), "--python", sys.executable]
        + ["-r", str(CONTEXT / "plugin-requirements.txt")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    require(installed.returncode == 0, f"the plugin could not be installed from the package registry: {installed.stderr[-500:]}")
    workspace = (
        "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/00000000-0000-0000-0000-000000000000"
        "/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
    )
    probe = (
        "import mlflow\n"
        "from mlflow.tracking._tracking_service.utils import _get_store\n"
        "from mlflow.tracking._model_registry.utils import _get_store as _get_registry\n"
        f"print(mlflow.__version__, type(_get_store({workspace!r})).__name__, type(_get_registry({workspace!r})).__name__)\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    mlflow_version, tracking, registry = result.stdout.split()
    assert mlflow_version.startswith("3.17.")
    assert (tracking, registry) == ("AzureMLRestStore", "AzureMLflowModelRegistry")


def run_step(command: str, variables: dict[str, str], code: Path, tracking_uri: str) -> subprocess.CompletedProcess[str]:
    """One step as Azure ML runs it: bash, in the code snapshot, with the step's variables and the platform's MLFLOW_TRACKING_URI."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("CHURNOPS_", "MLFLOW_"))}
    environment.update(variables)
    environment["MLFLOW_TRACKING_URI"] = tracking_uri
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"  # `python` is this venv's
    return subprocess.run(["bash", "-c", command], cwd=code, env=environment, capture_output=True, text=True, timeout=900, check=False)


@pytest.mark.integration
@pytest.mark.slow
def test_the_components_run_as_plain_processes_chained_into_a_gated_champion(
    exported: tuple[Settings, Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require(TELCO_CSV.is_file(), f"real Telco CSV not found at {TELCO_CSV}")
    monkeypatch.setenv("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")  # the server's six job runners would only compete for the cores
    settings, _, document = exported
    jobs = document["jobs"]
    # The code snapshot Azure ML uploads: the component's code folder, copied (nothing is written into the checkout).
    code = tmp_path / "snapshot"
    shutil.copytree(ROOT / "src", code, ignore=shutil.ignore_patterns("__pycache__"))
    outputs: dict[tuple[str, str], Path] = {}
    mounts: dict[str, Path] = {}
    with mlflow_server(f"sqlite:///{tmp_path / 'workspace.db'}", tmp_path / "workspace-artifacts", timeout=300) as tracking_uri:
        for name in execution_order(jobs):
            job = jobs[name]
            # Each step gets the data asset mounted at a path of its own, as Azure ML mounts it.
            mounts[name] = tmp_path / "mounts" / name / "telco_customer_churn.csv"
            mounts[name].parent.mkdir(parents=True)
            shutil.copyfile(TELCO_CSV, mounts[name])
            values: dict[tuple[str, str], Path] = {("inputs", "data"): mounts[name]}
            for port, binding in job["inputs"].items():
                upstream = UPSTREAM.match(binding["path"])
                if upstream:
                    values["inputs", port] = outputs[upstream.group(1), upstream.group(2)]
            for port in job["component"]["outputs"]:
                folder = tmp_path / "outputs" / name / port
                folder.mkdir(parents=True)  # Azure ML creates (mounts) every output folder before the command starts
                values["outputs", port] = outputs[name, port] = folder
            command = PLACEHOLDER.sub(lambda match, values=values: str(values[match.group(1), match.group(2)]), job["component"]["command"])
            assert "${{" not in command
            result = run_step(command, job["environment_variables"], code, tracking_uri)
            assert result.returncode == 0, f"step {name} failed:\n{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"

        validation = json.loads((outputs["validate", "validation"] / "validation.json").read_text())
        training = json.loads((outputs["train", "training"] / "training.json").read_text())
        evaluation = json.loads((outputs["evaluate", "evaluation"] / "evaluation.json").read_text())
        decision = json.loads((outputs["register", "decision"] / "decision.json").read_text())
        assert validation["rows"] == 7043 and validation["contract"] == "telco-customer-churn"
        assert evaluation["training_run_id"] == training["run_id"] == decision["training_run_id"]
        assert decision["evaluation_run_id"] == evaluation["evaluation_run_id"]
        assert decision["data_fingerprint"] == validation["fingerprint"]
        assert decision["promoted"] is True and decision["version"] == "1", decision["reasons"]
        assert decision["test_metrics"] == evaluation["test_metrics"]  # the gate judged what the evaluation step measured

        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        champion = client.get_model_version_by_alias(settings.model_name, "champion")
        assert champion.version == decision["version"]
        assert champion.tags["gate_decision"] == "promote"
        assert champion.tags["data_source"] == ASSET  # the asset, not the step's passing mount path
        assert champion.tags["training_run_id"] == training["run_id"] and champion.tags["evaluation_run_id"] == evaluation["evaluation_run_id"]
        training_run = client.get_run(training["run_id"])
        assert training_run.data.params["data_source"] == str(mounts["train"])  # evaluate and register found the data elsewhere
        assert training_run.data.params["search_trials"] == "2"
        assert training_run.info.artifact_uri.startswith("mlflow-artifacts:")  # tracked through the server, as to the workspace
    assert not list(code.rglob("mlflow.db")) and not (code / "mlartifacts").exists()


def churnops(folder: Path, *arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """`churnops ...` in a clean folder: no CHURNOPS_*, no Azure credentials, no Azure CLI login (HOME is the folder)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CHURNOPS_", "AZURE_", "MSI_", "IDENTITY_"))}
    env.update({"HOME": str(folder), "AZURE_CONFIG_DIR": str(folder / ".azure"), **environment})
    return subprocess.run(
        [sys.executable, "-m", "churnops", *arguments], cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def one_paragraph_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_submit_without_workspace_settings_names_them(tmp_path: Path) -> None:
    message = one_paragraph_error(churnops(tmp_path, "azureml", "submit"))
    for name in ("CHURNOPS_AZUREML_SUBSCRIPTION_ID", "CHURNOPS_AZUREML_RESOURCE_GROUP", "CHURNOPS_AZUREML_WORKSPACE"):
        assert name in message
    assert "az login" in message and "churnops azureml export" in message

    partly = one_paragraph_error(churnops(tmp_path, "azureml", "submit", CHURNOPS_AZUREML_SUBSCRIPTION_ID="00000000-0000-0000-0000-000000000000"))
    assert "CHURNOPS_AZUREML_RESOURCE_GROUP, CHURNOPS_AZUREML_WORKSPACE" in partly and "SUBSCRIPTION_ID" not in partly


def test_submit_without_credentials_is_one_clear_error(tmp_path: Path) -> None:
    workspace = {
        "CHURNOPS_AZUREML_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
        "CHURNOPS_AZUREML_RESOURCE_GROUP": "churn-rg",
        "CHURNOPS_AZUREML_WORKSPACE": "churn-ws",
    }
    message = one_paragraph_error(churnops(tmp_path, "azureml", "submit", **workspace))
    assert "No Azure credentials for workspace churn-ws (resource group churn-rg)" in message
    assert "az login" in message and "AZURE_CLIENT_SECRET" in message


def test_export_writes_the_pipeline_yaml_from_the_command_line(tmp_path: Path) -> None:
    result = churnops(tmp_path, "azureml", "export", "--out", "jobs/pipeline.yaml", "--data", "azureml:churn:7", "--compute", "big", "--trials", "5")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no SDK chatter
    document = yaml.safe_load((tmp_path / "jobs" / "pipeline.yaml").read_text())
    assert document["inputs"]["data"]["path"] == "azureml:churn:7" and document["settings"]["default_compute"] == "azureml:big"
    assert {job["environment_variables"]["CHURNOPS_SEARCH_TRIALS"] for job in document["jobs"].values()} == {"5"}
    assert "wrote jobs/pipeline.yaml" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["register", "--evaluation-run-id", "e"], "Pass --run-id, or --training-report"),
        (["register", "--run-id", "a", "--training-report", "t.json", "--evaluation-run-id", "e"], "Pass --run-id or --training-report, not both"),
        (["evaluate", "--training-report", "missing.json"], "Cannot read report missing.json"),
        (["train", "--validated", "empty.json"], "Report empty.json has no 'fingerprint': pass the file `churnops validate --report` wrote"),
    ],
)
def test_step_commands_refuse_missing_or_wrong_reports(tmp_path: Path, arguments: list[str], expected: str) -> None:
    (tmp_path / "empty.json").write_text("{}")
    assert expected in one_paragraph_error(churnops(tmp_path, *arguments))


class FakeMLClient:
    """A FAKE stand-in for azure.ai.ml.MLClient (no workspace is reachable here): records what submit sends it."""

    def __init__(self, environments: set[tuple[str, str]]) -> None:
        self.existing = environments
        self.created: list[Any] = []
        self.submitted: list[tuple[Any, str]] = []
        self.environments = self
        self.jobs = self

    def get(self, name: str, version: str) -> object:
        if (name, version) not in self.existing:
            raise ResourceNotFoundError(f"environment {name}:{version} not found")
        return object()

    def create_or_update(self, entity: Any, experiment_name: str | None = None) -> Any:
        if isinstance(entity, Environment):
            self.created.append(entity)
            return entity
        self.submitted.append((entity, str(experiment_name)))
        return SimpleNamespace(name="churnops-job-1", status="NotStarted", studio_url="https://ml.azure.com/runs/churnops-job-1")


@pytest.mark.parametrize("exists", [False, True])
def test_submit_creates_a_missing_environment_then_submits_the_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exists: bool) -> None:
    settings = job_settings(tmp_path)
    found = checkout()
    client = FakeMLClient({("churnops-test", found.environment_version)} if exists else set())
    monkeypatch.setattr(submit, "connect_workspace", lambda azureml: client)
    submitted = submit.submit_pipeline(settings, found)
    assert (submitted.name, submitted.environment_created) == ("churnops-job-1", not exists)
    assert submitted.environment == f"azureml:churnops-test:{found.environment_version}"
    if not exists:
        (environment,) = client.created
        assert (environment.name, environment.version) == ("churnops-test", found.environment_version)
        assert Path(environment.build.path) == CONTEXT  # Azure ML builds the image from the Dockerfile and the locked requirements
    else:
        assert client.created == []
    ((job, experiment),) = client.submitted
    assert experiment == settings.experiment_name
    assert list(job.jobs) == STEPS and job.settings.default_compute == "cpu-small"
    assert {step.component.environment for step in job.jobs.values()} == {submitted.environment}


def test_train_refuses_data_other_than_the_validated_data(tmp_path: Path, synthetic_csv: Path) -> None:
    """The train step reads the data asset again: a different file than the one validated stops before any training run."""
    (tmp_path / "validation.json").write_text(json.dumps({"fingerprint": "0" * 64}))
    message = one_paragraph_error(churnops(tmp_path, "train", "--data", str(synthetic_csv), "--validated", "validation.json", "--json"))
    assert f"The data at '{synthetic_csv}'" in message and "is not the data validated in validation.json (fingerprint 000000000000)" in message
    assert not (tmp_path / "mlflow.db").exists()  # nothing was tracked
