"""`churnops` commands as real child processes, with exactly the given settings."""

from __future__ import annotations

import os
import subprocess
import sys

from churnops.settings import Settings


def monitor(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`churnops monitor *args` with `settings` (no other CHURNOPS_* variable), run from beside the report folder."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CHURNOPS_")}, **settings.as_environment()}
    return subprocess.run(
        [sys.executable, "-m", "churnops", "monitor", *args],
        env=env,
        cwd=settings.monitoring.report_dir.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def churnops_command(settings: Settings, *args: str, cwd: str | os.PathLike[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`churnops *args` as a child process with exactly `settings` (no other CHURNOPS_* variable)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CHURNOPS_")}, **settings.as_environment()}
    return subprocess.run([sys.executable, "-m", "churnops", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
