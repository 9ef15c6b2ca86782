"""notifications.py: desktop notifications (absent here, and through a recording fake notify-send), e-mail and webhook outcomes."""

from __future__ import annotations

import json
import mailbox
import os
import stat
import sys
from pathlib import Path

import pytest

from churnops.notifications import desktop_notify, post_webhook, send_email
from churnops.settings import Settings
from tests.support.mail import MailServer
from tests.support.servers import free_port

SESSION_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")

# A FAKE notify-send: there is no desktop on a test machine. It records its arguments as JSON so the test can read them.
FAKE_NOTIFY_SEND = """#!{python}
import json, sys
with open({record!r}, "a") as record:
    record.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def install_fake_notify_send(folder: Path, record: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the fake first on PATH."""
    folder.mkdir()
    script = folder / "notify-send"
    script.write_text(FAKE_NOTIFY_SEND.format(python=sys.executable, record=str(record)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_without_a_desktop_session_desktop_notify_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SESSION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert desktop_notify("title", "body") == "unavailable"
    # notify-send alone is not enough: with no display and no session bus there is nothing to show it on.
    install_fake_notify_send(tmp_path / "bin", tmp_path / "calls.jsonl", monkeypatch)
    assert desktop_notify("title", "body") == "unavailable"
    assert not (tmp_path / "calls.jsonl").exists()


def test_with_a_session_the_title_and_body_reach_notify_send(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = tmp_path / "calls.jsonl"
    install_fake_notify_send(tmp_path / "bin", record, monkeypatch)
    for name in SESSION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus")

    assert desktop_notify("churnops watch: all passed", "lint passed\ntypecheck passed") == "sent"
    assert desktop_notify("churnops watch: FAILED: lint", "lint FAILED", urgent=True) == "sent"

    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert calls[0][-2:] == ["churnops watch: all passed", "lint passed\ntypecheck passed"]
    assert calls[1][-2:] == ["churnops watch: FAILED: lint", "lint FAILED"]
    assert "--urgency=normal" in calls[0] and "--urgency=critical" in calls[1]


def test_a_failing_notify_send_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    fake = folder / "notify-send"  # a FAKE that fails like notify-send without a notification daemon
    fake.write_text("#!/bin/sh\necho 'GDBus.Error: no notification server' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":0")
    assert desktop_notify("t", "b") == "failed (notify-send exited 1: GDBus.Error: no notification server)"


def test_send_email_delivers_subject_and_body(mail_server: MailServer) -> None:
    settings = Settings(smtp_host="127.0.0.1", smtp_port=mail_server.port, smtp_recipients=["dev@example.com", "ops@example.com"])
    assert send_email(settings.alerts, "[churnops] subject", "line one\nline two") == "sent"
    [message] = list(mailbox.Maildir(mail_server.maildir))
    assert message["Subject"] == "[churnops] subject" and message["To"] == "dev@example.com, ops@example.com"
    assert message["From"] == "churnops@localhost" and message.get_payload() == "line one\nline two\n"


def test_send_email_reports_an_unreachable_or_unconfigured_server() -> None:
    down = Settings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_recipients=["dev@example.com"])
    assert send_email(down.alerts, "s", "b").startswith("failed (ConnectionRefusedError")
    assert (
        send_email(Settings(smtp_host=None, smtp_recipients=[]).alerts, "s", "b")
        == "failed (no SMTP server or recipients: set CHURNOPS_SMTP_HOST and CHURNOPS_SMTP_RECIPIENTS)"
    )


def test_post_webhook_reports_an_unreachable_receiver() -> None:
    assert post_webhook(f"http://127.0.0.1:{free_port()}/hook", {"text": "hi"}).startswith("failed (ConnectError")
