"""The Streamlit command line `churnops ui` runs: the app script, bound where the settings say, no usage statistics."""

from __future__ import annotations

import sys
from pathlib import Path

from churnops.settings import Settings, environment_variable

APP = Path(__file__).parent / "app.py"


def secret_variables() -> set[str]:
    """CHURNOPS_* variables holding a secret: the API key, other API keys, passwords, and the store URL (it carries one)."""
    secret = {environment_variable(name) for name, field in Settings.flat_fields().items() if "SecretStr" in str(field.annotation)}
    return secret | {environment_variable("store_url")}


def without_secrets(environment: dict[str, str]) -> dict[str, str]:
    hidden = secret_variables()
    return {key: value for key, value in environment.items() if key not in hidden}


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
        "--client.showErrorDetails=type",  # an unexpected error names its type, never a traceback for every visitor
        "--theme.base=light",
    ]
