"""The Azure ML pipeline job: the four steps wired as `run_pipeline` chains them, on the data asset and compute from settings.

Every step gets the same training settings as CHURNOPS_* environment variables (what the training key and the gate
read), never the tracking URI (the workspace's, set by Azure ML) nor secrets.
"""

# No `from __future__ import annotations`: the @dsl.pipeline decorator reads the function's annotations as types.
import logging
import os
from pathlib import Path
from typing import Any

import yaml
from azure.ai.ml import Input, dsl
from azure.ai.ml.entities import PipelineJob

from churnops.azureml.checkout import Checkout
from churnops.azureml.components import build_steps
from churnops.errors import ChurnopsError
from churnops.settings import GateSettings, Settings, environment_variable
from churnops.training.reuse import TRAINING_SETTINGS

# Besides the training settings and the gate group: where the runs and the model go, and the search's parallelism.
STEP_SETTINGS = (
    *TRAINING_SETTINGS,
    *(field.alias or name for name, field in GateSettings.model_fields.items()),
    "experiment_name",
    "model_name",
    "n_jobs",
)


def step_environment(settings: Settings, checkout: Checkout) -> dict[str, str]:
    """The CHURNOPS_* variables every step runs with."""
    chosen = settings.as_environment()
    variables = {name: chosen[name] for name in map(environment_variable, STEP_SETTINGS) if name in chosen}
    contract = checkout.job_contract(settings.dataset)
    if contract is not None:
        variables[environment_variable("dataset")] = contract
    # The steps read the asset where Azure ML mounts it; the version records the asset, not that passing mount path.
    variables[environment_variable("data_derived_from")] = settings.azureml.data
    return variables


def build_pipeline_job(settings: Settings, checkout: Checkout) -> PipelineJob:
    """The pipeline job, offline: nothing is looked up in a workspace."""
    # The SDK warns about experimental schema classes it uses itself while building and dumping: nothing to act on.
    logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)
    environment = f"azureml:{settings.azureml.environment}:{checkout.environment_version}"
    steps = build_steps(environment, checkout.code)
    variables = step_environment(settings, checkout)

    def churnops_training(data: Input) -> dict[str, object]:
        # The DSL names each step after the local variable holding it: one variable per step, no loop over them.
        validate = _configured(steps.validate(data=data), variables)
        train = _configured(steps.train(data=data, validation=validate.outputs.validation), variables)
        evaluate = _configured(steps.evaluate(data=data, training=train.outputs.training), variables)
        register = _configured(steps.register(data=data, training=train.outputs.training, evaluation=evaluate.outputs.evaluation), variables)
        return {"decision": register.outputs.decision}

    build = dsl.pipeline(
        churnops_training,
        name="churnops_training",
        display_name="churnops training",
        description="validate -> train -> evaluate -> register and gate: a new version, @champion only through the gate",
        experiment_name=settings.experiment_name,
        default_compute=settings.azureml.compute,
    )
    return build(data=Input(type="uri_file", path=settings.azureml.data))


def _configured(step: Any, variables: dict[str, str]) -> Any:
    step.environment_variables = dict(variables)
    return step


def check_pipeline_job(job: PipelineJob) -> PipelineJob:
    """The SDK's own offline validation (schema, wiring, inputs); a failure here is a bug in this module, said plainly."""
    result = job._validate()  # noqa: SLF001 - the SDK's only offline check; MLClient.jobs.validate needs a workspace
    if not result.passed:
        raise ChurnopsError(f"The Azure ML pipeline job does not validate: {result.error_messages}")
    return job


def export_pipeline(settings: Settings, checkout: Checkout, out: Path) -> Path:
    """Write the pipeline job YAML (for `az ml job create --file`), with the code path relative to the file, as az reads it."""
    job = check_pipeline_job(build_pipeline_job(settings, checkout))
    document = job._to_dict()  # noqa: SLF001 - what PipelineJob.dump writes, but dump makes the code path absolute
    code = Path(os.path.relpath(checkout.code, out.parent.resolve())).as_posix()
    for step in document["jobs"].values():
        step["component"]["code"] = code
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(document, sort_keys=False, width=150), encoding="utf-8")
    return out
