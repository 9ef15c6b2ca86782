"""The workspace a pipeline is submitted to: its settings, the SDK, and credentials, each checked with an error that says what to do.

Importing this module loads no Azure SDK: the CLI checks the settings before the seconds-long SDK import.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from churnops.errors import ConfigError
from churnops.settings import AzureMLSettings, group_variable

WORKSPACE_FIELDS = ("subscription_id", "resource_group", "workspace")
MANAGEMENT_SCOPE = "https://management.azure.com/.default"
SIGN_IN = (
    "sign in with `az login` (or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET for a service principal, "
    "or run where a managed identity is assigned)"
)


def require_sdk() -> None:
    if importlib.util.find_spec("azure.ai.ml") is None or importlib.util.find_spec("azure.identity") is None:
        raise ConfigError("The Azure ML commands need the azure extra: `uv sync --extra azure` (or `pip install 'churnops[azure]'`).")


def require_workspace(azureml: AzureMLSettings) -> None:
    """All three workspace settings, or one paragraph naming the missing ones and how to find them."""
    missing = [group_variable(AzureMLSettings, name) for name in WORKSPACE_FIELDS if not getattr(azureml, name)]
    if missing:
        raise ConfigError(
            f"No Azure ML workspace to submit to: set {', '.join(missing)} (in the environment or .env; "
            "`az ml workspace list -o table` and `az account show --query id` print them), "
            f"{SIGN_IN}, and run again. `churnops azureml export --out pipeline.yaml` writes the pipeline without a workspace."
        )


def connect_workspace(azureml: AzureMLSettings) -> Any:
    """An MLClient for the workspace, once a credential has produced a token (so a missing login fails here, in one paragraph)."""
    require_workspace(azureml)
    require_sdk()
    from azure.ai.ml import MLClient  # noqa: PLC0415 - seconds to import: only once the settings are known to be there
    from azure.core.exceptions import ClientAuthenticationError  # noqa: PLC0415
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415

    # The chain logs every credential it tried as a warning; the error below says the same in one paragraph.
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    credential = DefaultAzureCredential()
    try:
        credential.get_token(MANAGEMENT_SCOPE)
    except ClientAuthenticationError as error:
        raise ConfigError(
            f"No Azure credentials for workspace {azureml.workspace} (resource group {azureml.resource_group}): {SIGN_IN}, "
            f"then run again.{_azure_cli_note(error)}"
        ) from error
    return MLClient(credential, azureml.subscription_id, azureml.resource_group, azureml.workspace)


def _azure_cli_note(error: Exception) -> str:
    """What the chain said about the Azure CLI (`az login` is the usual fix): e.g. that it is not installed."""
    for line in str(error).splitlines():
        if line.strip().startswith("AzureCliCredential:"):
            return f" Azure CLI: {line.strip().removeprefix('AzureCliCredential:').strip()}."
    return ""
