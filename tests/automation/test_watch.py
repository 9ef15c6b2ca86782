"""`python -m churnops.automation.watch --once` as a real process on a throwaway project.

The project's own Makefile records which gates ran (typecheck fails on purpose); a real SMTP server
process (aiosmtpd) receives the round's e-mail.
"""

from __future__ import annotations

import mailbox
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

from tests.support.gates import GateProject
from tests.support.mail import MailServer

READY_TIMEOUT = 60
ROUND_TIMEOUT = 180


@dataclass
class Watcher:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, start: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not any(line.startswith(start) for line in self.lines):
            assert self.process.poll() is None, f"watcher exited early:\n{self.output()}"
            assert time.monotonic() < deadline, f"no line starting {start!r} within {READY_TIMEOUT} s:\n{self.output()}"
            time.sleep(0.05)

    def wait_until_watching(self) -> None:
        self.wait_for_line("watching ")

    def wait_for_exit(self) -> int:
        return self.process.wait(timeout=ROUND_TIMEOUT)


@contextmanager
def watcher(project: GateProject, mail: MailServer) -> Iterator[Watcher]:
    command = [sys.executable, "-m", "churnops.automation.watch", "--once", "--root", str(project.root), "--debounce-ms", "200"]
    environment = project.environment(
        CHURNOPS_SMTP_HOST="127.0.0.1", CHURNOPS_SMTP_PORT=str(mail.port), CHURNOPS_SMTP_RECIPIENTS='["dev@example.com"]', COLUMNS="160"
    )
    process = subprocess.Popen(  # noqa: S603
        command, cwd=project.root, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    running = Watcher(process)
    assert process.stdout is not None
    reader = threading.Thread(target=running.lines.extend, args=(iter(process.stdout.readline, ""),), daemon=True)
    reader.start()
    try:
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        reader.join(timeout=10)


def change(path: Path) -> None:
    with path.open("a") as file:
        file.write("# changed by the test\n")


def mails(mail: MailServer) -> list[Message]:
    return sorted(mailbox.Maildir(mail.maildir), key=lambda message: message["Date"]) if mail.maildir.exists() else []


def body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_a_contract_change_runs_only_the_data_gate_and_mails_the_summary(gate_project: GateProject, mail_server: MailServer) -> None:
    with watcher(gate_project, mail_server) as running:
        running.wait_until_watching()
        assert "e-mail to dev@example.com" in running.output()
        change(gate_project.root / "README.md")  # no gate concerns it: the watcher keeps waiting
        running.wait_for_line("changed README.md: no gate concerns it")
        change(gate_project.root / "configs" / "telco.yaml")
        assert running.wait_for_exit() == 0, running.output()

    assert gate_project.gates_run() == ["test-data"]
    output = running.output()
    assert "changed README.md: no gate concerns it" in output
    assert "changed configs/telco.yaml -> make test-data" in output
    assert "all passed (1 of 1 gates passed)" in output and "notified: desktop unavailable, email sent" in output

    [message] = mails(mail_server)
    assert message["Subject"] == "[churnops] churnops watch: all passed (1 of 1 gates passed)" and message["To"] == "dev@example.com"
    text = body(message)
    assert "test-data  passed" in text and "changed:\n  configs/telco.yaml" in text


def test_a_training_change_runs_the_code_gates_and_the_reference_pipeline(gate_project: GateProject, mail_server: MailServer) -> None:
    with watcher(gate_project, mail_server) as running:
        running.wait_until_watching()
        change(gate_project.root / "src" / "churnops" / "training" / "search.py")
        assert running.wait_for_exit() == 1, running.output()  # typecheck failed

    assert gate_project.gates_run() == ["lint", "typecheck", "test-unit", "reference-pipeline"]  # the failure did not stop the rest
    output = running.output()
    assert "make lint typecheck test-unit reference-pipeline" in output
    assert "FAILED: typecheck (3 of 4 gates passed)" in output and "[assignment]" in output

    [message] = mails(mail_server)
    assert message["Subject"] == "[churnops] churnops watch: FAILED: typecheck (3 of 4 gates passed)"
    text = body(message)
    lines = {line.split()[0]: line.split()[1] for line in text.splitlines()[2:6]}
    assert lines == {"lint": "passed", "typecheck": "FAILED", "test-unit": "passed", "reference-pipeline": "passed"}
    assert "src/churnops/training/search.py:3: error: Incompatible types in assignment  [assignment]" in text
    assert "changed:\n  src/churnops/training/search.py" in text
