"""A throwaway project with its own real Makefile, for the gate runner and the watcher (fixture: tests/automation/conftest.py::gate_project)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Each gate appends its name to $(GATE_LOG); typecheck fails on purpose with a mypy-like message.
GATES_MAKEFILE = """\
.PHONY: lint typecheck test-unit test-data reference-pipeline

lint test-unit test-data reference-pipeline:
\t@echo $@ >> "$(GATE_LOG)"
\t@echo "$@: all good"

typecheck:
\t@echo $@ >> "$(GATE_LOG)"
\t@echo "src/churnops/training/search.py:3: error: Incompatible types in assignment  [assignment]"
\t@echo "Found 1 error in 1 file"
\t@exit 1
"""

# What the outer make (when the tests run under `make test`), this machine's desktop or terminal would pass on to the children.
OUTSIDE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "FORCE_COLOR", "COLUMNS")


@dataclass(frozen=True)
class GateProject:
    root: Path
    gate_log: Path

    def gates_run(self) -> list[str]:
        return self.gate_log.read_text().split() if self.gate_log.exists() else []

    def environment(self, **extra: str) -> dict[str, str]:
        """The test's environment without CHURNOPS_* settings, outer-make or desktop variables, plus `extra`."""
        keep = {key: value for key, value in os.environ.items() if not key.startswith("CHURNOPS_") and key not in OUTSIDE_VARIABLES}
        return {**keep, "GATE_LOG": str(self.gate_log), "PYTHONUNBUFFERED": "1", **extra}
