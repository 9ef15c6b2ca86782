"""Connecting to MLflow: tracking URI, experiments, and a clear error when the server is down."""

from __future__ import annotations

import shutil
import subprocess  # nosec B404  # git rev-parse, with an argument list, never a shell
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from churnops.errors import TrackingServerError
from churnops.settings import Settings


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured store (checking an HTTP server answers) and return a client."""
    uri = settings.tracking_uri
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5):  # noqa: S310  # nosec B310  # http(s) checked above
                pass
        except (urllib.error.URLError, OSError) as error:
            raise TrackingServerError(
                f"MLflow tracking server {uri} is not reachable ({error}). Start it (e.g. `mlflow server --port 5000`) "
                "or set CHURNOPS_TRACKING_URI to a reachable server or to sqlite:///mlflow.db."
            ) from error
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(settings: Settings, name: str | None = None) -> str:
    """Create the experiment on first use; with a direct database store, artifacts go under artifact_location."""
    name = name or settings.experiment_name
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        mlflow.set_experiment(experiment_id=experiment.experiment_id)
        return str(experiment.experiment_id)
    location = None
    if settings.tracking_is_local_database():
        location = (Path(settings.artifact_location).resolve() / name).as_uri()
    experiment_id = mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)


def git_commit() -> str:
    """The commit the code runs from, or 'unknown' outside a git checkout."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        result = subprocess.run([git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)  # noqa: S603  # nosec B603  # a fixed git command
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"
