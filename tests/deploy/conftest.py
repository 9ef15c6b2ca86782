"""Fixtures of the container tests: the images (built once per run) and a registry served to containers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.containers import HOST_FROM_CONTAINER, BuiltImages, RegistryServer, ServedRegistry, built_images, train_through_a_server
from tests.support.servers import mlflow_server
from tests.support.workers import once_per_run


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> BuiltImages:
    return built_images(tmp_path_factory, worker_id)


@pytest.fixture(scope="session")
def served_registry(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> ServedRegistry:
    """A champion trained once per run through a real `mlflow server` (so its artifacts are served, not local paths)."""
    return once_per_run(tmp_path_factory, worker_id, "served-registry", train_through_a_server)


@pytest.fixture(scope="module")
def registry_server(served_registry: ServedRegistry) -> Iterator[RegistryServer]:
    """That registry behind a real `mlflow server` listening where containers reach it; the tests only read it."""
    folder = served_registry.folder
    with mlflow_server(f"sqlite:///{folder / 'mlflow.db'}", folder / "artifacts", host="0.0.0.0") as url:  # noqa: S104 - containers reach it
        yield RegistryServer(url, url.replace("127.0.0.1", HOST_FROM_CONTAINER), served_registry.result)
