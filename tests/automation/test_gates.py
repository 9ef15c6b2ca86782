"""The gate runner behind `make ci`, on a throwaway project whose Makefile records which gates ran (typecheck fails on purpose)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from churnops.automation.gates import AutomationError, run_gates, summary_text
from tests.support.gates import GateProject


def test_every_gate_runs_in_order_and_a_failure_does_not_stop_the_rest(gate_project: GateProject) -> None:
    output = io.StringIO()
    results = run_gates(["lint", "typecheck", "test-unit"], gate_project.root, console=Console(file=output, width=120))

    assert gate_project.gates_run() == ["lint", "typecheck", "test-unit"]
    assert [(result.name, result.passed) for result in results] == [("lint", True), ("typecheck", False), ("test-unit", True)]
    failed = results[1]
    assert failed.exit_code != 0 and failed.status == "FAILED" and failed.seconds >= 0
    assert "src/churnops/training/search.py:3: error: Incompatible types in assignment  [assignment]" in failed.tail
    streamed = output.getvalue()
    assert "lint: all good" in streamed and "Found 1 error in 1 file" in streamed  # streamed as it came
    assert failed.log_path == gate_project.root / ".churnops" / "gates" / "typecheck.log"
    assert "Found 1 error in 1 file" in failed.log_path.read_text()

    text = summary_text(results)
    assert text.startswith("FAILED: typecheck (2 of 3 gates passed)")
    assert "Found 1 error in 1 file" in text and "lint: all good" not in text  # only failures carry their output


def test_an_unknown_gate_is_a_failed_gate_that_says_why(gate_project: GateProject) -> None:
    [result] = run_gates(["lnt"], gate_project.root, console=Console(file=io.StringIO()))
    assert not result.passed and any("No rule to make target" in line and "lnt" in line for line in result.tail)


def test_a_folder_without_a_makefile_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AutomationError, match="No Makefile in .*: run from the project root or pass --root"):
        run_gates(["lint"], tmp_path)


def test_a_missing_make_is_a_clear_error(gate_project: GateProject) -> None:
    with pytest.raises(AutomationError, match="Install make"):
        run_gates(["lint"], gate_project.root, console=Console(file=io.StringIO()), make_command=["no-such-make-program"])


def test_the_command_line_summarises_and_exits_1_when_a_gate_failed(gate_project: GateProject) -> None:
    command = [sys.executable, "-m", "churnops.automation.gates", "lint", "typecheck", "--root", str(gate_project.root)]
    failing = subprocess.run(command, capture_output=True, text=True, timeout=120, env=gate_project.environment(COLUMNS="160"), check=False)  # noqa: S603
    assert failing.returncode == 1, failing.stderr
    assert gate_project.gates_run() == ["lint", "typecheck"]
    summary = failing.stdout[failing.stdout.index("quality gates") :]
    lint_row = next(line for line in summary.splitlines() if "lint" in line and "passed" in line)
    typecheck_row = next(line for line in summary.splitlines() if "typecheck" in line and "FAILED" in line)
    assert "[assignment]" in summary  # the output tail, as text (not eaten as rich markup)
    assert lint_row and typecheck_row
    assert "FAILED: typecheck (1 of 2 gates passed)" in summary

    passing = subprocess.run(
        [*command[:-3], "--root", str(gate_project.root)], capture_output=True, text=True, timeout=120, env=gate_project.environment(), check=False
    )  # noqa: S603
    assert passing.returncode == 0, passing.stdout
    assert "all passed (1 of 1 gates passed)" in passing.stdout

    missing = subprocess.run([*command[:4], "--root", str(gate_project.root / "nowhere")], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    assert missing.returncode == 2 and "No Makefile in" in missing.stderr and "Traceback" not in missing.stderr
