"""A throwaway project with its own real Makefile, and a real SMTP server process, for the gate runner and the watcher."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gates import GATES_MAKEFILE, OUTSIDE_VARIABLES, GateProject
from tests.support.mail import MailServer
from tests.support.prerequisites import require
from tests.support.servers import free_port


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
