"""`churnops azureml submit`: register the steps' environment if the workspace lacks it, then submit the pipeline job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.ai.ml.entities import BuildContext, Environment
from azure.ai.ml.exceptions import JobException
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

from churnops.azureml.checkout import Checkout
from churnops.azureml.pipeline import build_pipeline_job, check_pipeline_job
from churnops.azureml.workspace import connect_workspace
from churnops.errors import ChurnopsError
from churnops.settings import Settings


@dataclass(frozen=True)
class Submitted:
    name: str
    status: str
    studio_url: str | None
    environment: str  # azureml:name:version the steps run in
    environment_created: bool  # False: the workspace had it (same lock), nothing was built


def submit_pipeline(settings: Settings, checkout: Checkout, stream: bool = False) -> Submitted:
    client = connect_workspace(settings.azureml)
    job = check_pipeline_job(build_pipeline_job(settings, checkout))  # refused here rather than after uploads
    try:
        created_environment = ensure_environment(client, settings.azureml.environment, checkout)
        submitted = client.jobs.create_or_update(job, experiment_name=settings.experiment_name)
        if stream:
            client.jobs.stream(submitted.name)  # the steps' logs until the pipeline ends
            submitted = client.jobs.get(submitted.name)
    except JobException as error:
        raise ChurnopsError(f"Azure ML pipeline job failed: {error}; its steps' logs are in Azure ML studio.") from error
    except HttpResponseError as error:
        raise ChurnopsError(f"Azure ML refused the request for workspace {settings.azureml.workspace}: {error.message}") from error
    except AzureError as error:
        raise ChurnopsError(
            f"Azure ML workspace {settings.azureml.workspace} is not reachable ({error}); check the network and run again."
        ) from error
    environment = f"azureml:{settings.azureml.environment}:{checkout.environment_version}"
    return Submitted(submitted.name, str(submitted.status), submitted.studio_url, environment, created_environment)


def ensure_environment(client: Any, name: str, checkout: Checkout) -> bool:
    """Create the environment version the jobs name (Azure ML builds its image from the context) unless it exists; True if created."""
    version = checkout.environment_version
    try:
        client.environments.get(name, version=version)
    except ResourceNotFoundError:
        description = "churnops steps: python:3.11-slim and uv.lock's dependencies (deploy/azureml/environment)"
        client.environments.create_or_update(
            Environment(name=name, version=version, build=BuildContext(path=str(checkout.context)), description=description)
        )
        return True
    return False
