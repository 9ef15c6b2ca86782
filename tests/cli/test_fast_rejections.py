"""A bad argument or a missing file is refused at once: exit 1, a message naming it, no traceback, nothing heavy imported.

Timing is left to benchmarks/cli_start.py (machines are noisy); what is asserted here is the behaviour
behind it: the rejection happens before mlflow, sklearn, pandas, prefect or evidently are imported
(read from `python -X importtime`, which lists every module a process imports).
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

CONTRACT = Path(__file__).resolve().parents[2] / "src" / "churnops" / "data" / "contracts" / "telco.yaml"
HEAVY = {"mlflow", "sklearn", "pandas", "prefect", "evidently", "sqlalchemy", "onnxruntime", "optuna", "uvicorn"}


def churnops(folder: Path, *arguments: str, importtime: bool = False, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHURNOPS_")}
    env.update(environment)
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *flags, "-m", "churnops", *arguments], cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def imported(stderr: str) -> set[str]:
    """Top-level package names from `-X importtime` lines (`import time: self | cumulative | name`)."""
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in stderr.splitlines() if line.startswith("import time:") and "|" in line}


def messages(stderr: str) -> str:
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("import time:"))


CASES = [
    (["score", "--input", "/nonexistent"], {}, "Data file '/nonexistent' does not exist"),
    (["monitor", "--window", "1x"], {}, "Window '1x' is not a duration"),
    (["monitor", "--end", "yesterday"], {}, "Window end 'yesterday' is not an ISO time"),
    (["pipeline", "--data", "/nonexistent.csv"], {}, "Data file '/nonexistent.csv' does not exist"),
    (["validate", "--data", "missing.csv"], {}, "Data file 'missing.csv' does not exist"),
    (["train", "--data", "missing.csv"], {}, "Data file 'missing.csv' does not exist"),
    (["pipeline", "--data", "ftp://example.com/x.csv"], {}, "Unsupported data source 'ftp://example.com/x.csv'"),
    (["pipeline", "--dataset", "missing.yaml"], {}, "Dataset contract 'missing.yaml' does not exist"),
    (["score", "--output", "scored.csv"], {}, "Output 'scored.csv' must be a .parquet file"),
    (["pipeline"], {"CHURNOPS_DATA": "from-env.csv"}, "Data file 'from-env.csv' does not exist"),
    (["monitor"], {"CHURNOPS_MONITOR_WINDOW": "soon"}, "Window 'soon' is not a duration"),
    (["monitor"], {"CHURNOPS_DATASET": "gone.yaml"}, "Dataset contract 'gone.yaml' does not exist"),
    (["kibana", "import", "--file", "nope.ndjson"], {}, "Saved objects file nope.ndjson does not exist"),
]


@pytest.mark.parametrize(("arguments", "environment", "message"), CASES, ids=[" ".join(case[0]) or "env" for case in CASES])
def test_rejected_before_heavy_imports(tmp_path: Path, arguments: list[str], environment: dict[str, str], message: str) -> None:
    result = churnops(tmp_path, *arguments, importtime=True, **environment)
    text = messages(result.stderr)
    assert result.returncode == 1, text
    assert text.strip().startswith("error:") and message in text, text
    assert "Traceback" not in text
    assert not (imported(result.stderr) & HEAVY), sorted(imported(result.stderr) & HEAVY)


def test_version_is_the_package_version(tmp_path: Path) -> None:
    result = churnops(tmp_path, "--version", importtime=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"churnops {version('churnops')}"
    assert not (imported(result.stderr) & HEAVY)


def test_an_error_inside_a_step_is_the_last_line_without_progress_leftovers(tmp_path: Path) -> None:
    """A file that breaks the contract fails inside the progress display: the display is gone before the error is printed."""
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    result = churnops(
        tmp_path, "pipeline", "--data", str(bad), "--dataset", str(CONTRACT), CHURNOPS_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}"
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:") and "bad.csv" in lines[-1], result.stderr
    assert "0/?" not in result.stderr and "Traceback" not in result.stderr
    assert not any(line.lstrip("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ").startswith("validate") for line in lines), result.stderr


def test_score_without_pyarrow_names_the_extra_before_scoring(tmp_path: Path) -> None:
    """The core install (the API image) has no pyarrow, which the Parquet file needs: the extra is named, no traceback."""
    customers = tmp_path / "customers.csv"
    customers.write_text("customerID,gender\nA-1,Female\n", encoding="utf-8")
    blocked = "import sys; sys.modules['pyarrow'] = None; from churnops.cli import run; sys.argv[0] = 'churnops'; run()"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHURNOPS_")}
    result = subprocess.run(
        [sys.executable, "-c", blocked, "score", "--input", str(customers)],
        cwd=tmp_path,
        env={**env, "CHURNOPS_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "needs the 'train' dependencies (pyarrow is not installed here)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlflow.db").exists()  # refused before the model was looked up
