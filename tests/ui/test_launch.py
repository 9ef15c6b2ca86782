"""`churnops ui`: what Streamlit is started with (bound to loopback, no usage statistics) and the settings it passes on."""

from __future__ import annotations

import subprocess
import sys

from churnops.settings import Settings
from churnops.ui.launch import APP, streamlit_command


def option(command: list[str], name: str) -> str:
    values = [part.split("=", 1)[1] for part in command if part.startswith(f"--{name}=")]
    assert len(values) == 1, command
    return values[0]


def test_the_front_end_binds_to_loopback_and_sends_no_usage_statistics() -> None:
    command = streamlit_command(Settings())
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(APP)]
    assert option(command, "server.address") == "127.0.0.1" and option(command, "server.port") == "8501"
    assert option(command, "browser.gatherUsageStats") == "false" and option(command, "server.headless") == "true"


def test_host_and_port_come_from_the_settings() -> None:
    command = streamlit_command(Settings(ui_host="0.0.0.0", ui_port=9000))  # noqa: S104 - what a container binds to
    assert option(command, "server.address") == "0.0.0.0" and option(command, "server.port") == "9000"  # noqa: S104


def test_a_bad_api_url_is_refused_before_streamlit_starts() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "churnops", "ui", "--api-url", "ftp://example.com"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1 and "api_url" in result.stderr and "Traceback" not in result.stderr
