"""`make watch`: after each batch of file changes, re-run only the gates the change concerns.

What changed decides what runs (`gates_for`):

    code      *.py under src/ tests/ benchmarks/ scripts/ deploy/, pyproject.toml, uv.lock  -> lint, typecheck, test-unit
    data      configs/**/*.yaml, data/**/*.csv, src/churnops/data/**                         -> test-data
    training  src/churnops/training/**, src/churnops/model/**, src/churnops/features.py    -> code gates + reference-pipeline
    deploy    deploy/{docker,k8s,cloudrun,ecs,azureml}/**, deploy/compose.yaml, heroku.yml, app.json -> test-deploy
              (the offline manifest checks; a Dockerfile also -> lint, for hadolint)

After each round it prints the gates' summary and tells you: a desktop notification when there is a
desktop session, e-mail when CHURNOPS_SMTP_HOST and CHURNOPS_SMTP_RECIPIENTS are set.

    python -m churnops.automation.watch                 # until Ctrl+C
    python -m churnops.automation.watch --once          # one round (the first change that concerns a gate), exit 1 if a gate failed
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import closing
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
import watchfiles
from rich.console import Console
from rich.text import Text
from watchfiles._rust_notify import WatchfilesRustInternalError  # public in its module, not re-exported

from churnops.automation.gates import (
    MAKE,
    AutomationError,
    GateResult,
    check_project,
    make_console,
    print_summary,
    run_gates,
    summary_line,
    summary_text,
)
from churnops.errors import ChurnopsError
from churnops.notifications import desktop_notify, email_configured, send_email
from churnops.settings import AlertSettings, load_settings

CODE_GATES = ("lint", "typecheck", "test-unit")
DATA_GATES = ("test-data",)
TRAINING_GATES = ("reference-pipeline",)
DEPLOY_GATES = ("test-deploy",)
GATE_ORDER = (*CODE_GATES, *DEPLOY_GATES, *DATA_GATES, *TRAINING_GATES)  # fast, broad checks first

CODE_FOLDERS = frozenset({"src", "tests", "benchmarks", "scripts", "deploy"})
CODE_FILES = frozenset({"pyproject.toml", "uv.lock"})  # tool configuration and the locked dependencies
PYTHON_SUFFIXES = frozenset({".py", ".pyi"})
CONTRACT_SUFFIXES = frozenset({".yaml", ".yml"})
DATA_PACKAGE = ("src", "churnops", "data")
# What trains or writes the logged model: a change re-runs the reference pipeline.
TRAINING_PACKAGES = (("src", "churnops", "training"), ("src", "churnops", "model"))
TRAINING_MODULES = frozenset({"src/churnops/features.py"})
# Deployment files: images, manifests, the stack (the Prometheus and Kibana files have tests of their own).
DEPLOY_FOLDERS = frozenset({"docker", "k8s", "cloudrun", "ecs", "azureml"})
DEPLOY_FILES = frozenset({"deploy/compose.yaml", "heroku.yml", "app.json", "heroku.Dockerfile", ".dockerignore"})

# Never a reason to run anything: tool state, environments, run outputs, databases, editor temp files.
IGNORED_FOLDERS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        ".venv-airflow",  # make airflow-env
        "venv",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".ipynb_checkpoints",
        "node_modules",
        "mlruns",
        "mlartifacts",
        ".churnops",
    }
)
IGNORED_NAMES = re.compile(
    r"""(
        \.py[cod]$ | \.egg-info$
      | \.db$ | \.db-(wal|shm|journal)$ | \.sqlite3?$
      | ~$ | ^\.\# | ^\#.*\#$            # emacs backups, lock and autosave files
      | \.sw[a-p]$ | ^4913$               # vim swap files and its write test
      | \.(tmp|bak|orig|crswap)$ | ___jb_(tmp|old)___$ | \.kate-swp$ | ^flycheck_ | ^\.DS_Store$
    )""",
    re.VERBOSE,
)

WATCHER_TIMEOUT_MS = 500  # how soon the watcher reports that it is live


def is_ignored(relative: Path) -> bool:
    """Whether a path (relative to the project root) is tool or editor noise."""
    return any(part in IGNORED_FOLDERS or IGNORED_NAMES.search(part) for part in relative.parts)


def _relative(path: Path, root: Path) -> Path | None:
    """`path` relative to `root`, or None when it lies outside (watchfiles reports absolute paths)."""
    absolute = path if path.is_absolute() else root / path
    for candidate, base in ((absolute, root), (absolute.resolve(), root.resolve())):
        try:
            return candidate.relative_to(base)
        except ValueError:
            continue
    return None


def _gates_for_one(relative: Path) -> set[str]:
    parts, posix = relative.parts, relative.as_posix()
    gates: set[str] = set()
    if (len(parts) > 1 and parts[0] in CODE_FOLDERS and relative.suffix in PYTHON_SUFFIXES) or posix in CODE_FILES:
        gates.update(CODE_GATES)
    if any(len(parts) > len(package) and parts[: len(package)] == package for package in TRAINING_PACKAGES) or posix in TRAINING_MODULES:
        gates.update(CODE_GATES + TRAINING_GATES)
    is_contract = len(parts) > 1 and parts[0] == "configs" and relative.suffix in CONTRACT_SUFFIXES
    is_data_file = len(parts) > 1 and parts[0] == "data" and relative.suffix == ".csv"
    if is_contract or is_data_file or (len(parts) > len(DATA_PACKAGE) and parts[: len(DATA_PACKAGE)] == DATA_PACKAGE):
        gates.update(DATA_GATES)
    if (len(parts) > len(("deploy", "folder")) and parts[0] == "deploy" and parts[1] in DEPLOY_FOLDERS) or posix in DEPLOY_FILES:
        gates.update(DEPLOY_GATES)
        if relative.name.endswith("Dockerfile"):
            gates.add("lint")
    return gates


def gates_for(changed_paths: Iterable[Path | str], root: Path) -> list[str]:
    """The make targets a batch of changed paths concerns, in GATE_ORDER; empty when none does."""
    wanted: set[str] = set()
    for path in changed_paths:
        relative = _relative(Path(path), root)
        if relative is not None and relative.parts and not is_ignored(relative):
            wanted |= _gates_for_one(relative)
    return [gate for gate in GATE_ORDER if gate in wanted]


def project_filter(root: Path) -> Callable[[watchfiles.Change, str], bool]:
    """watchfiles filter: drop noise before it can wake the watcher up (gates write caches and databases)."""

    def keep(_change: watchfiles.Change, path: str) -> bool:
        relative = _relative(Path(path), root)
        return relative is not None and not is_ignored(relative)

    return keep


def notify_round(results: Sequence[GateResult], changed: Sequence[str], alerts: AlertSettings) -> dict[str, str]:
    """Tell the developer how the round went: desktop when there is one, e-mail when configured. Channel -> outcome."""
    failed = not all(result.passed for result in results)
    title = f"churnops watch: {summary_line(results)}"
    body = summary_text(results) + "\nchanged:\n" + "\n".join(f"  {path}" for path in changed) + "\n"
    outcome = {"desktop": desktop_notify(title, summary_text(results, tail_lines=3), urgent=failed)}
    if email_configured(alerts):
        outcome["email"] = send_email(alerts, f"[churnops] {title}", body)
    return outcome


def _changed_paths(batch: Iterable[tuple[watchfiles.Change, str]], root: Path) -> list[str]:
    """A batch from watchfiles as sorted project-relative paths (a file changed twice is listed once)."""
    relative = (_relative(Path(path), root) for _, path in batch)
    return sorted({path.as_posix() for path in relative if path is not None})


def _describe(paths: Sequence[str], most: int = 5) -> str:
    shown = ", ".join(paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")


def _batches(root: Path, debounce_ms: int) -> Generator[set[tuple[watchfiles.Change, str]], None, None]:
    """watchfiles batches of the project's changes; an empty batch every WATCHER_TIMEOUT_MS while nothing happens."""
    try:
        yield from watchfiles.watch(
            root,
            watch_filter=project_filter(root),
            debounce=debounce_ms,
            rust_timeout=WATCHER_TIMEOUT_MS,
            yield_on_timeout=True,
            raise_interrupt=True,
        )
    except (OSError, WatchfilesRustInternalError) as error:
        raise AutomationError(
            f"Cannot watch {root}: {error}. If the OS limit on watched folders is reached, raise it "
            "(sudo sysctl fs.inotify.max_user_watches=524288) and run again."
        ) from error


def watch(
    root: Path,
    *,
    once: bool = False,
    debounce_ms: int = 1600,
    console: Console | None = None,
    make_command: Sequence[str] = MAKE,
) -> int:
    """Watch `root` until interrupted (or, with `once`, for one round); returns the exit code (1: a gate failed in that round)."""
    root = check_project(root)
    console = console or make_console()
    alerts = load_settings(env_file=root / ".env").alerts
    email = f"e-mail to {', '.join(alerts.smtp_recipients)} via {alerts.smtp_host}:{alerts.smtp_port}" if email_configured(alerts) else "no e-mail"
    live = False
    with closing(_batches(root, debounce_ms)) as batches:
        for batch in batches:
            if not live:  # the first yield, even an empty one, means the OS watches are in place
                live = True
                console.print(Text(f"watching {root} for changes (Ctrl+C to stop); notifications: desktop when available, {email}"), soft_wrap=True)
            if not batch:
                continue
            changed = _changed_paths(batch, root)
            gates = gates_for(changed, root)
            if not gates:
                console.print(Text(f"changed {_describe(changed)}: no gate concerns it", style="dim"), soft_wrap=True)
                continue
            console.print(Text(f"changed {_describe(changed)} -> make {' '.join(gates)}", style="bold"), soft_wrap=True)
            results = run_gates(gates, root, console=console, make_command=make_command)
            print_summary(console, results, title="gates for this change")
            outcome = notify_round(results, changed, alerts)
            console.print(Text("notified: " + ", ".join(f"{channel} {result}" for channel, result in outcome.items()), style="dim"), soft_wrap=True)
            if once:
                return 0 if all(result.passed for result in results) else 1
    return 0


def _stop_on_sigterm(_signal: int, _frame: FrameType | None) -> None:
    """SIGTERM (a service manager, `kill`) ends the watcher as cleanly as Ctrl+C does."""
    raise KeyboardInterrupt


app = typer.Typer(add_completion=False, help="Re-run the gates a change concerns whenever a project file changes.")


@app.command()
def main(
    root: Annotated[Path, typer.Option(help="Project folder to watch (with the Makefile).")] = Path(),
    once: Annotated[
        bool, typer.Option("--once", help="Run one round (the first change that concerns a gate) and exit; 1 when a gate failed.")
    ] = False,
    debounce_ms: Annotated[int, typer.Option("--debounce-ms", min=0, help="Wait this long for a burst of changes to settle.")] = 1600,
) -> None:
    """Re-run the gates a change concerns whenever a project file changes, until Ctrl+C."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    console = make_console()
    try:
        code = watch(root, once=once, debounce_ms=debounce_ms, console=console)
    except ChurnopsError as error:  # AutomationError, or a ConfigError from bad settings
        Console(stderr=True).print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        console.print("\nstopped watching")
        code = 0
    raise typer.Exit(code=code)


if __name__ == "__main__":
    app(prog_name="python -m churnops.automation.watch")
