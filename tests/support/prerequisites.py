"""Prerequisites a test cannot run without (a server, a tool, the real data): a skip on a laptop, a failure in CI."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip on a laptop; in CI (CI=true) a missing prerequisite is a failure, not a skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)
