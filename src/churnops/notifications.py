"""How churnops tells people things: a webhook, e-mail through SMTP, a desktop notification.

Shared by monitoring alerts and `make watch`. Every sender returns what happened ("sent",
"failed (...)", "unavailable") instead of raising: a broken channel must not stop the work that
wanted to report something, and the caller shows the outcome next to its own result.
"""

from __future__ import annotations

import logging
import os
import shutil
import smtplib
import subprocess  # nosec B404  # notify-send, found on PATH, with an argument list
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import httpx

from churnops.settings import AlertSettings

log = logging.getLogger("churnops.notifications")

WEBHOOK_ATTEMPTS = 3
DESKTOP_SESSION_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")


def post_webhook(url: str, payload: Mapping[str, Any]) -> str:
    """POST `payload` as JSON (Slack/Teams-style incoming webhook), with retries: receivers blip."""
    last = ""
    for attempt in range(WEBHOOK_ATTEMPTS):
        try:
            response = httpx.post(url, json=dict(payload), timeout=5.0)
            if response.is_success:  # any 2xx
                return "sent"
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as error:
            last = f"{type(error).__name__}: {error}"
        log.warning("Webhook %s failed (attempt %d of %d): %s", url, attempt + 1, WEBHOOK_ATTEMPTS, last)
    return f"failed ({last})"


def email_configured(alerts: AlertSettings) -> bool:
    """E-mail goes out only when both a server and someone to tell are set."""
    return bool(alerts.smtp_host and alerts.smtp_recipients)


def send_email(alerts: AlertSettings, subject: str, body: str) -> str:
    """A plain-text mail to `smtp_recipients` through `smtp_host` (STARTTLS and login when configured)."""
    if not email_configured(alerts) or alerts.smtp_host is None:
        return "failed (no SMTP server or recipients: set CHURNOPS_SMTP_HOST and CHURNOPS_SMTP_RECIPIENTS)"
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = alerts.smtp_sender
    message["To"] = ", ".join(alerts.smtp_recipients)
    message.set_content(body if body.endswith("\n") else body + "\n")
    try:
        with smtplib.SMTP(alerts.smtp_host, alerts.smtp_port, timeout=10) as smtp:
            if alerts.smtp_starttls:
                smtp.starttls()
            if alerts.smtp_user and alerts.smtp_password:
                smtp.login(alerts.smtp_user, alerts.smtp_password.get_secret_value())
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        log.error("E-mail through %s:%d failed: %s", alerts.smtp_host, alerts.smtp_port, error)
        return f"failed ({type(error).__name__}: {error})"
    return "sent"


def desktop_notify(title: str, body: str, *, urgent: bool = False) -> str:
    """A desktop pop-up through `notify-send`, when there is a desktop session to show it in.

    Returns "unavailable" on servers, in CI and in containers (no notify-send, or no display and no
    session bus), so callers can offer it unconditionally.
    """
    executable = shutil.which("notify-send")
    if executable is None or not any(os.environ.get(name) for name in DESKTOP_SESSION_VARIABLES):
        return "unavailable"
    command = [executable, "--app-name=churnops", f"--urgency={'critical' if urgent else 'normal'}", title, body]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603 - argument list, no shell  # nosec B603
    except (OSError, subprocess.SubprocessError) as error:
        return f"failed ({type(error).__name__}: {error})"
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()
        return f"failed (notify-send exited {result.returncode}{': ' + reason[-1] if reason else ''})"
    return "sent"
