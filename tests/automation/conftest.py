"""A throwaway project with its own real Makefile, and a real SMTP server process, for the gate runner and the watcher."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require
from tests.integration.servers import free_port

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


@pytest.fixture()
def gate_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GateProject:
    """tmp/project with a Makefile, a contract and a training module; the gate log lives outside it (writing it is no change)."""
    require(shutil.which("make") is not None, "make is not installed")
    root = tmp_path / "project"
    (root / "configs").mkdir(parents=True)
    (root / "configs" / "telco.yaml").write_text("name: telco-customer-churn\n")
    (root / "src" / "churnops" / "training").mkdir(parents=True)
    (root / "src" / "churnops" / "training" / "search.py").write_text('"""Search."""\n')
    (root / "README.md").write_text("# project\n")
    (root / "Makefile").write_text(GATES_MAKEFILE)
    project = GateProject(root, tmp_path / "gates.log")
    monkeypatch.setenv("GATE_LOG", str(project.gate_log))
    for key in [key for key in os.environ if key.startswith("CHURNOPS_") or key in OUTSIDE_VARIABLES]:
        monkeypatch.delenv(key)
    return project


@dataclass(frozen=True)
class MailServer:
    port: int
    maildir: Path


@pytest.fixture()
def mail_server(tmp_path: Path) -> Iterator[MailServer]:
    """aiosmtpd as its own process, delivering into a Maildir."""
    port, maildir = free_port(), tmp_path / "maildir"
    command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Mailbox", str(maildir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            assert process.poll() is None, "aiosmtpd exited"
            assert time.monotonic() < deadline, "aiosmtpd did not start within 30 s"
            time.sleep(0.1)
        yield MailServer(port, maildir)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
