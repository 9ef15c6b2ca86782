"""The web front end's tests share one backend (built once per run): a trained registry with two versions,
predictions and feedback sent through a real API process, and two real monitoring windows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from churnops.settings import Settings
from tests.support.registries import TrainedRegistry
from tests.support.servers import churnops_api
from tests.support.ui import UiBackend, build_backend, private_copy
from tests.support.workers import once_per_run


@pytest.fixture(scope="session")
def ui_backend(tmp_path_factory: pytest.TempPathFactory, worker_id: str, trained_registry: TrainedRegistry, telco_csv: Path) -> UiBackend:
    return once_per_run(tmp_path_factory, worker_id, "ui-backend", lambda folder: build_backend(folder, trained_registry, telco_csv))


@dataclass(frozen=True)
class RunningApi:
    url: str
    settings: Settings  # what the API runs with: the front end reads the same registry and monitoring runs


@pytest.fixture(scope="module")
def running_api(ui_backend: UiBackend, trained_registry: TrainedRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """A real `churnops serve` over this module's own copy of the backend (tests may promote, roll back, store)."""
    folder = tmp_path_factory.mktemp("ui-api")
    settings = private_copy(ui_backend, trained_registry, folder)
    with churnops_api(settings, folder / "api.log") as url:
        yield RunningApi(url, settings)
