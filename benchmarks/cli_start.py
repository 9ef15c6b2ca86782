"""CLI start-up benchmark: how long `churnops` takes to answer, beside `churnops --help` in the same run.

Each command runs as a fresh process `--repeat` times (round-robin, so a busy moment of the machine
spreads over all of them); the median wall time is printed with its ratio to `churnops --help`,
whose cost is Python, typer and rich starting. Rejecting a bad argument or a missing file must not
pay for mlflow, sklearn, pandas or prefect: the target is at most 1.5x `--help` for
`score --input /nonexistent` and `monitor --window 1x`.

    uv run python benchmarks/cli_start.py [--repeat 7] [--check]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = ("--help",)
COMMANDS: list[tuple[tuple[str, ...], int]] = [  # arguments, expected exit code
    (BASELINE, 0),
    (("--version",), 0),
    (("score", "--input", "/nonexistent"), 1),
    (("monitor", "--window", "1x"), 1),
    (("pipeline", "--data", "/nonexistent.csv"), 1),
]
TARGETS = {("score", "--input", "/nonexistent"): 1.5, ("monitor", "--window", "1x"): 1.5}


def churnops_command() -> list[str]:
    """The installed console script users run; `python -m churnops` when it is not beside the interpreter."""
    script = Path(sys.executable).with_name("churnops")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "churnops"]


def time_once(command: list[str], expected: int, folder: str, environment: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, check=False)  # noqa: S603 - our own CLI
    seconds = time.perf_counter() - started
    if result.returncode != expected:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}, expected {expected}:\n{result.stderr[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7, help="Runs of each command (default 7).")
    parser.add_argument("--check", action="store_true", help="Exit 1 when a target is missed.")
    args = parser.parse_args()
    base = churnops_command()
    # An empty folder and no CHURNOPS_* variables: no .env, the same settings for every run.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("CHURNOPS_")}
    folder = tempfile.mkdtemp(prefix="churnops-cli-start-")
    try:
        for arguments, expected in COMMANDS:  # one warm-up each: the first start also fills the OS file cache
            time_once([*base, *arguments], expected, folder, environment)
        times: dict[tuple[str, ...], list[float]] = {arguments: [] for arguments, _ in COMMANDS}
        for _ in range(args.repeat):
            for arguments, expected in COMMANDS:
                times[arguments].append(time_once([*base, *arguments], expected, folder, environment))
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    baseline = statistics.median(times[BASELINE])
    print(f"churnops start-up, median of {args.repeat} fresh processes ({' '.join(base)})")
    print(f"{'command':<44} {'median s':>9} {'x --help':>9}  target")
    missed = []
    for arguments, _ in COMMANDS:
        median = statistics.median(times[arguments])
        ratio = median / baseline
        target = TARGETS.get(arguments)
        verdict = "" if target is None else f"<= {target:.1f}x {'met' if ratio <= target else 'MISSED'}"
        if target is not None and ratio > target:
            missed.append(" ".join(arguments))
        print(f"{'churnops ' + ' '.join(arguments):<44} {median:>9.3f} {ratio:>8.2f}x  {verdict}")
    if missed:
        print(f"missed: {', '.join(missed)}")
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
