"""The Streamlit command line `churnops ui` runs: the app script, bound where the settings say, no usage statistics."""

from __future__ import annotations

import sys
from pathlib import Path

from churnops.settings import Settings

APP = Path(__file__).parent / "app.py"


def streamlit_command(settings: Settings) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        f"--server.address={settings.ui.host}",
        f"--server.port={settings.ui.port}",
        "--server.headless=true",  # no browser opened on a server; `churnops ui` prints the URL instead
        "--browser.gatherUsageStats=false",  # Streamlit reports usage to its makers unless told not to
        "--server.fileWatcherType=none",  # a served app, not a development session
        "--client.toolbarMode=viewer",
        "--theme.base=light",
    ]
