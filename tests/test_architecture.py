"""The layers of docs/architecture.md hold: lint-imports passes on the code, and fails on a copy that breaks a rule."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess[str]:
    """import-linter with the project's contracts (pyproject.toml) over the churnops package found in `package_parent`."""
    environment = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(  # noqa: S603 - the venv's own lint-imports
        [str(LINT_IMPORTS), str(ROOT / "pyproject.toml"), "--no-logo", "--no-cache"],
        cwd=package_parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_code_keeps_every_import_contract() -> None:
    result = lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden_import", "broken"),
    [
        ("store/records.py", "from churnops.serving import service", "churnops.store is not allowed to import churnops.serving"),
        ("model/served.py", "from churnops.training import pipeline", "churnops.model is not allowed to import churnops.training"),
        ("monitoring/window.py", "from churnops.serving import jobs", "churnops.monitoring is not allowed to import churnops.serving"),
        ("batch_scoring.py", "from churnops.training import reuse", "churnops.batch_scoring is not allowed to import churnops.training"),
        ("store/engine.py", "from churnops import timespan", "churnops.store is not allowed to import churnops.timespan"),
        ("ui/client.py", "from churnops.model import served", "churnops.ui is not allowed to import churnops.model"),
        ("reports.py", "from churnops.ui import client", "churnops.reports is not allowed to import churnops.ui"),
        ("llm/server.py", "from churnops.serving import service", "churnops.llm is not allowed to import churnops.serving"),
        ("llm/engine.py", "from churnops.data import contract", "churnops.llm is not allowed to import churnops.data"),
    ],
)
def test_an_import_against_the_layers_fails_lint(tmp_path: Path, module: str, forbidden_import: str, broken: str) -> None:
    shutil.copytree(ROOT / "src" / "churnops", tmp_path / "churnops", ignore=shutil.ignore_patterns("__pycache__"))
    with (tmp_path / "churnops" / module).open("a", encoding="utf-8") as file:
        file.write(f"\n{forbidden_import}  # breaks a layer rule\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert broken in result.stdout
