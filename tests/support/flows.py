"""What the flow tests' environment is (fixture: tests/flows/conftest.py::flow_environment)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from churnops.settings import Settings


@dataclass(frozen=True)
class FlowEnvironment:
    folder: Path
    settings: Settings
    variables: dict[str, str]  # the CHURNOPS_* variables the flows read their settings from
