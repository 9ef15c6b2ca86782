"""The quality gates behind `make ci`: make targets run one after another, then one summary.

A gate is a make target, not a Python function, so `make lint` on its own, `make ci`, `make watch`
and pre-commit can never disagree about what a gate runs. The runner keeps going after a failure
(one run shows everything that is wrong), streams each gate's output as it comes, keeps its tail
for the summary, and writes the full output to .churnops/gates/<gate>.log (CI uploads those).

    python -m churnops.automation.gates                    # lint typecheck security test
    python -m churnops.automation.gates lint typecheck     # just these
"""

from __future__ import annotations

import os
import re
import signal
import subprocess  # nosec B404  # `make <target>` with an argument list, never a shell
import time
from collections import deque
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from churnops.errors import ChurnopsError

DEFAULT_GATES = ("lint", "typecheck", "security", "test")
MAKE = ("make",)
LOG_FOLDER = Path(".churnops") / "gates"
TAIL_LINES = 40  # kept per gate (e-mail, notifications)
SUMMARY_TAIL_LINES = 12  # shown per failed gate in the summary table
NON_TERMINAL_WIDTH = 150  # rich's 80-column default wraps compiler output badly in CI logs
STOP_GRACE_SECONDS = 10
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class AutomationError(ChurnopsError):
    """The gate runner or the watcher cannot do its job (no Makefile, no make, no file watching)."""


@dataclass(frozen=True)
class GateResult:
    """What one `make <gate>` did: enough for a summary line, a table row or an e-mail."""

    name: str
    seconds: float
    exit_code: int
    tail: tuple[str, ...]  # the last TAIL_LINES lines of output, colour codes removed
    log_path: Path | None  # the full output

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    @property
    def status(self) -> str:
        return "passed" if self.passed else "FAILED"


def make_console() -> Console:
    """stdout console; wider than rich's default when output goes to a file or a CI log."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=NON_TERMINAL_WIDTH)
    return console


def check_project(root: Path) -> Path:
    """The gates are the root's Makefile targets: fail early, and clearly, when there is none."""
    root = root.resolve()
    if not (root / "Makefile").is_file():
        raise AutomationError(f"No Makefile in {root}: run from the project root or pass --root <project folder>.")
    return root


def run_gate(name: str, root: Path, *, console: Console, make_command: Sequence[str] = MAKE, log_folder: Path | None = LOG_FOLDER) -> GateResult:
    """`make <name>` in `root`, its output streamed to the console and written to <root>/<log_folder>/<name>.log."""
    log_path = root / log_folder / f"{name}.log" if log_folder is not None else None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    console.rule(f"[bold]make {name}", style="cyan")
    started = time.monotonic()
    try:
        # Its own session, so stopping the gate (Ctrl+C, SIGTERM) stops everything make started too.
        process = subprocess.Popen(  # noqa: S603 - make and a target name, no shell  # nosec B603
            [*make_command, name],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,
        )
    except FileNotFoundError as error:
        raise AutomationError(
            f"Cannot run {make_command[0]!r}: {error.strerror}. Install make (e.g. `sudo apt-get install make`) and run again."
        ) from error
    try:
        with ExitStack() as files:
            log = files.enter_context(log_path.open("w", encoding="utf-8")) if log_path is not None else None
            for line in process.stdout or ():
                console.file.write(line)
                console.file.flush()
                if log is not None:
                    log.write(line)
                tail.append(ANSI_ESCAPE.sub("", line.rstrip("\n")))
        exit_code = process.wait()
    except BaseException:
        stop(process)
        raise
    return GateResult(name, time.monotonic() - started, exit_code, tuple(tail), log_path)


def stop(process: subprocess.Popen[str]) -> None:
    """Terminate the gate's whole process group, then kill it if it does not go within the grace period."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
            break
        except subprocess.TimeoutExpired:
            continue


def run_gates(
    names: Sequence[str], root: Path, *, console: Console | None = None, make_command: Sequence[str] = MAKE, log_folder: Path | None = LOG_FOLDER
) -> list[GateResult]:
    """Every gate in order, whatever the earlier ones did: one run shows all that is wrong."""
    root = check_project(root)
    console = console or make_console()
    return [run_gate(name, root, console=console, make_command=make_command, log_folder=log_folder) for name in names]


def summary_line(results: Sequence[GateResult]) -> str:
    """One line: how many passed, and which failed."""
    failed = [result.name for result in results if not result.passed]
    passed = len(results) - len(failed)
    verdict = f"FAILED: {', '.join(failed)}" if failed else "all passed"
    return f"{verdict} ({passed} of {len(results)} gates passed)"


def summary_table(results: Sequence[GateResult], title: str = "quality gates") -> Table:
    """gate, result, seconds and, for failures, the last lines of output (as plain text: mypy's `[arg-type]` is not markup)."""
    table = Table(title=title, show_lines=True, title_justify="left")
    table.add_column("gate", style="bold", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    table.add_column("last lines of output")
    for result in results:
        status = Text(result.status, style="green" if result.passed else "bold red")
        output = "" if result.passed else "\n".join(result.tail[-SUMMARY_TAIL_LINES:])
        table.add_row(result.name, status, f"{result.seconds:.1f}", Text(output))
    return table


def print_summary(console: Console, results: Sequence[GateResult], title: str = "quality gates") -> None:
    console.print()
    console.print(summary_table(results, title))
    verdict_style = "bold green" if all(result.passed for result in results) else "bold red"
    console.print(Text(summary_line(results), style=verdict_style))
    logs = [str(result.log_path) for result in results if not result.passed and result.log_path is not None]
    if logs:
        console.print(Text("full output: " + ", ".join(logs)), soft_wrap=True)


def summary_text(results: Sequence[GateResult], tail_lines: int = SUMMARY_TAIL_LINES) -> str:
    """The summary as plain text, for e-mail and notifications."""
    width = max((len(result.name) for result in results), default=4)
    lines = [summary_line(results), ""]
    lines += [f"{result.name:<{width}}  {result.status:<6}  {result.seconds:7.1f} s" for result in results]
    for result in results:
        if not result.passed:
            lines += ["", f"--- {result.name}: last lines of output (exit code {result.exit_code}) ---", *result.tail[-tail_lines:]]
            if result.log_path is not None:
                lines.append(f"(full output: {result.log_path})")
    return "\n".join(lines) + "\n"


app = typer.Typer(add_completion=False, help="Run the quality gates (make targets) one after another and summarise them.")


@app.command()
def main(
    names: Annotated[
        list[str] | None, typer.Argument(help=f"Make targets to run, in order (default: {' '.join(DEFAULT_GATES)}).", show_default=False)
    ] = None,
    root: Annotated[Path, typer.Option(help="Project folder with the Makefile.")] = Path(),
) -> None:
    """Run the quality gates (make targets) one after another and summarise them: exit code 1 when any failed, 2 when they cannot run."""
    console = make_console()
    try:
        results = run_gates(names or DEFAULT_GATES, root, console=console)
    except AutomationError as error:
        Console(stderr=True).print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted[/]")
        raise typer.Exit(code=130) from None
    print_summary(console, results)
    raise typer.Exit(code=0 if all(result.passed for result in results) else 1)


if __name__ == "__main__":
    app(prog_name="python -m churnops.automation.gates")
