"""The real SMTP server (aiosmtpd) the notification and watcher tests send to (fixture: tests/automation/conftest.py::mail_server)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MailServer:
    port: int
    maildir: Path
