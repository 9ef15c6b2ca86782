"""The `churnops` command line: each command is a thin call into a step."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from churnops.errors import ChurnopsError

app = typer.Typer(
    help="Customer churn prediction as a complete MLOps system.", no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False
)
err = Console(stderr=True)
out = Console()
T = TypeVar("T")

DataOption = Annotated[str | None, typer.Option("--data", help="CSV path or http(s) URL. Omit for built-in synthetic data.")]
DatasetOption = Annotated[Path | None, typer.Option("--dataset", help="Dataset contract YAML (default configs/telco.yaml).")]
TrialsOption = Annotated[int | None, typer.Option("--trials", help="Optuna trials across all model families.")]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Seed for split, search and models.")]
TrackingOption = Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI.")]
ModelNameOption = Annotated[str | None, typer.Option("--model-name", help="Registered model name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a summary.")]
StoreUrlOption = Annotated[str | None, typer.Option("--store-url", help="Prediction store URL (default sqlite:///predictions.db).")]


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
        err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None


class RichProgress:
    """Steps and search trials as rich progress bars on stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.steps = progress.add_task("pipeline", total=None)
        self.search: Any = None
        self.scoring: Any = None

    def step(self, name: str) -> None:
        self.progress.update(self.steps, description=f"[cyan]{name}")

    def trial(self, done: int, total: int, score: float, best: float) -> None:
        if self.search is None:
            self.search = self.progress.add_task("search", total=total)
        self.progress.update(self.search, completed=done, description=f"search: trial {score:.4f}, best CV ROC AUC {best:.4f}")

    def rows(self, done: int, total: int) -> None:
        if self.scoring is None:
            self.scoring = self.progress.add_task("scoring", total=total)
        self.progress.update(self.scoring, completed=done, description="scoring customers")


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    if not enabled:
        from churnops.pipeline import SilentProgress

        yield SilentProgress()
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        yield RichProgress(progress)


@app.command()
def pipeline(
    data: DataOption = None,
    dataset: DatasetOption = None,
    trials: TrialsOption = None,
    seed: SeedOption = None,
    tracking_uri: TrackingOption = None,
    model_name: ModelNameOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate, train, evaluate, register and gate: a CSV in, a versioned (maybe promoted) model out."""
    from churnops.pipeline import run_pipeline

    settings = _run(lambda: _settings(data=data, dataset=dataset, search_trials=trials, seed=seed, tracking_uri=tracking_uri, model_name=model_name))
    with _progress(enabled=sys.stderr.isatty() or not as_json) as progress:
        result = _run(lambda: run_pipeline(settings, progress))
    if as_json:
        print(json.dumps(result.to_dict(), default=str))
        return
    _print_summary(result, settings)


def _print_summary(result: Any, settings: Any) -> None:
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
    out.print(f"runs: training {result.training_run_id}, evaluation {result.evaluation_run_id}, gate {result.gate_run_id}")
    out.print(f"took {result.seconds:.1f} s; tracking store: {settings.tracking_uri}")


@app.command()
def train(
    data: DataOption = None,
    dataset: DatasetOption = None,
    trials: TrialsOption = None,
    seed: SeedOption = None,
    tracking_uri: TrackingOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate and train only: logs a training run with the model; prints its run id."""
    from churnops.pipeline import prepare
    from churnops.pipeline import train as train_step

    settings = _run(lambda: _settings(data=data, dataset=dataset, search_trials=trials, seed=seed, tracking_uri=tracking_uri))

    def action() -> Any:
        prepared = prepare(settings)
        with _progress(enabled=not as_json) as progress:
            return train_step(settings, prepared, progress)

    trained = _run(action)
    summary = {
        "run_id": trained.run_id,
        "model_uri": trained.model_uri,
        "family": trained.family,
        "cv_roc_auc_mean": trained.cv_roc_auc_mean,
        "threshold": trained.threshold,
    }
    print(json.dumps(summary) if as_json else f"training run {trained.run_id}: {trained.family}, CV ROC AUC {trained.cv_roc_auc_mean:.4f}")


@app.command()
def evaluate(
    run_id: Annotated[str, typer.Option("--run-id", help="The training run to evaluate.")],
    tracking_uri: TrackingOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score a training run's model on its held-out test split, in a separate linked run."""
    from churnops.pipeline import SilentProgress, evaluate_training, load_trained

    settings = _run(lambda: _settings(tracking_uri=tracking_uri))

    def action() -> Any:
        prepared, trained = load_trained(settings, run_id)
        return evaluate_training(settings, prepared, trained, SilentProgress())

    evaluated = _run(action)
    summary = {"evaluation_run_id": evaluated.run_id, "test_metrics": evaluated.metrics, "parity_difference": evaluated.parity_difference}
    print(
        json.dumps(summary)
        if as_json
        else "\n".join([f"evaluation run {evaluated.run_id}", *(f"  {k}: {v:.4f}" for k, v in evaluated.metrics.items())])
    )


@app.command()
def promote(
    version: Annotated[int, typer.Option("--version", help="Registered version to make champion.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded on the version and in a run).")] = "manual promotion",
    tracking_uri: TrackingOption = None,
    model_name: ModelNameOption = None,
) -> None:
    """Force a version to champion, bypassing the gate; the decision is recorded."""
    from churnops import registry
    from churnops.tracking import connect, ensure_experiment

    settings = _run(lambda: _settings(tracking_uri=tracking_uri, model_name=model_name))

    def action() -> None:
        client = connect(settings)
        ensure_experiment(settings)
        registry.force_promote(client, settings, str(version), reason)

    _run(action)
    out.print(f"{settings.model_name}@champion -> version {version} (forced: {reason})")


@app.command()
def rollback(tracking_uri: TrackingOption = None, model_name: ModelNameOption = None) -> None:
    """Move champion back to the previous champion."""
    from churnops import registry
    from churnops.tracking import connect, ensure_experiment

    settings = _run(lambda: _settings(tracking_uri=tracking_uri, model_name=model_name))

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
    tracking_uri: TrackingOption = None,
    as_json: JsonOption = False,
) -> None:
    """The top runs of an experiment by a metric."""
    from churnops.reports import top_runs

    settings = _run(lambda: _settings(tracking_uri=tracking_uri))
    rows = _run(lambda: top_runs(settings, experiment or settings.experiment_name, metric, top, ascending))
    if as_json:
        print(json.dumps(rows, default=str))
        return
    table = Table(title=f"Top {len(rows)} runs by {metric} ({'ascending' if ascending else 'descending'})")
    for column in ("run_id", "name", "kind", metric, "started"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["run_id"][:12], row["name"], row["kind"], f"{row[metric]:.4f}", row["started"])
    out.print(table)


@app.command()
def validate(data: Annotated[str, typer.Option("--data", help="CSV path or URL.")], dataset: DatasetOption = None) -> None:
    """Check a CSV against a dataset contract without training."""
    from churnops.pipeline import prepare

    settings = _run(lambda: _settings(data=data, dataset=dataset))
    prepared = _run(lambda: prepare(settings))
    dataset_ = prepared.dataset
    out.print(f"OK: {dataset_.n_rows} rows, positive rate {dataset_.target.mean():.3f}, fingerprint {dataset_.fingerprint[:12]}")


@app.command()
def fetch(
    dataset: DatasetOption = None,
    output: Annotated[Path | None, typer.Option("--out", help="Where to save the file (default data/<contract name>.csv).")] = None,
) -> None:
    """Download the contract's public data file and check its SHA-256."""
    from churnops.data.contract import load_contract
    from churnops.data.sources import fetch_contract_data

    settings = _run(lambda: _settings(dataset=dataset))

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
    from churnops.monitoring.run import run_monitoring
    from churnops.monitoring.window import Window, parse_time

    settings = _run(
        lambda: _settings(
            monitor_window=window, auto_retrain=auto_retrain, store_url=store_url, tracking_uri=tracking_uri, model_name=model_name, dataset=dataset
        )
    )
    span = _run(lambda: Window.ending(settings.monitor_window, parse_time(end) if end else None))
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with _progress(enabled=sys.stderr.isatty() or not as_json) as progress:
        summary = _run(lambda: run_monitoring(settings, span, progress))
    if as_json:
        print(json.dumps(summary, default=str))
        return
    _print_monitoring(summary)


def _print_monitoring(summary: dict[str, Any]) -> None:
    window, model = summary["window"], summary["model"]
    out.print(f"\n[bold]Monitoring[/] {model['name']} v{model['version']}, window {window['start']} .. {window['end']}")
    table = Table(show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    drift = summary["drift"]
    if "skipped" in drift:
        table.add_row("drift", drift["skipped"])
    else:
        table.add_row("share of drifted features", f"{drift['share_drifted_features']:.2f} ({', '.join(drift['drifted_features']) or 'none'})")
        table.add_row("prediction drift score", f"{drift['prediction']['score']:.4f}")
    quality, performance, service = summary["quality"], summary["performance"], summary["service"]
    table.add_row("predictions", str(quality["rows"]))
    table.add_row(
        "missing / out of range / unseen",
        f"{quality['missing_share']:.3f} / {quality['out_of_range_share']:.3f} / {quality['unseen_category_share']:.3f}",
    )
    reference_auc = performance["reference"].get("roc_auc")
    auc = "n/a" if performance["roc_auc"] is None else f"{performance['roc_auc']:.4f}"
    table.add_row(
        "ROC AUC on feedback (test)",
        f"{auc} ({reference_auc if reference_auc is None else round(reference_auc, 4)}), {performance['labelled']} labelled",
    )
    latency = [service[f"latency_p{q}_ms"] for q in (50, 95, 99)]
    table.add_row("latency p50/p95/p99 ms", " / ".join("n/a" if value is None else f"{value:.1f}" for value in latency))
    table.add_row("requests / 5xx rate", f"{service['requests']} / {service['error_rate']:.3f}")
    out.print(table)
    for alert in summary["alerts"]:
        out.print(f"[bold red]ALERT[/] {alert['message']}")
    if not summary["alerts"]:
        out.print("[green]no alerts[/]")
    if summary.get("retraining"):
        retraining = summary["retraining"]
        verdict = "promoted to champion" if retraining["promoted"] else "not promoted"
        out.print(f"retrained: version {retraining['version']} {verdict} ({'; '.join(retraining['reasons'])})")
    out.print(f"MLflow run {summary['run_id']}; report in {summary['report_dir']}; took {summary['seconds']:.1f} s")


@app.command()
def score(
    input_file: Annotated[
        str | None, typer.Option("--input", help="Customers CSV (path or URL); default CHURNOPS_BATCH_INPUT, else the training data.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="Parquet file to write (default .churnops/batch/<input>-scored-<time>.parquet).")
    ] = None,
    store_url: StoreUrlOption = None,
    tracking_uri: TrackingOption = None,
    model_name: ModelNameOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Batch scoring: score a file of customers with the champion; predictions to the store and a Parquet file."""
    from churnops.batch_scoring import score_batch

    settings = _run(lambda: _settings(store_url=store_url, tracking_uri=tracking_uri, model_name=model_name, dataset=dataset))
    with _progress(enabled=sys.stderr.isatty() or not as_json) as progress:
        result = _run(lambda: score_batch(settings, input_file, output, progress))
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    out.print(
        f"scored {result.rows} customers with {result.model_name} v{result.model_version} ({result.inference}): "
        f"{result.predicted_churners} predicted to churn ({result.churn_rate:.1%}), mean probability {result.mean_probability:.3f}"
    )
    spooled = f"; {result.spooled} predictions wait in the spool (store unreachable)" if result.spooled else ""
    out.print(f"wrote {result.output}; predictions stored in {settings.store_url}{spooled}; MLflow run {result.run_id}; took {result.seconds:.1f} s")


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
    from churnops.flows.schedule import build_deployments, deploy_to_work_pool, serve_schedules

    settings = _run(_settings)
    if work_pool:
        ids = _run(lambda: deploy_to_work_pool(settings, work_pool))
        out.print(f"registered {len(ids)} deployments on work pool '{work_pool}'; start a worker: prefect worker start --pool {work_pool}")
        return
    deployments = _run(lambda: build_deployments(settings))
    for deployment in deployments:
        crons = ", ".join(getattr(item.schedule, "cron", str(item.schedule)) for item in deployment.schedules or [])
        out.print(f"{deployment.flow_name}/{deployment.name}: {crons} ({settings.schedule_timezone})")
    _run(lambda: serve_schedules(deployments, prefect_port))


kibana_app = typer.Typer(help="Kibana dashboards for the exported monitoring data.", no_args_is_help=True)
app.add_typer(kibana_app, name="kibana")


@kibana_app.command("import")
def kibana_import(
    url: Annotated[str | None, typer.Option("--url", help="Kibana base URL (default CHURNOPS_KIBANA_URL).")] = None,
    file: Annotated[Path, typer.Option("--file", help="Saved objects NDJSON.")] = Path("deploy/kibana/churnops-dashboard.ndjson"),
    space: Annotated[str | None, typer.Option("--space", help="Kibana space id (default space when omitted).")] = None,
) -> None:
    """Load the churnops dashboard (index patterns, visualizations, dashboard) into Kibana."""
    from churnops.monitoring.kibana import import_saved_objects

    settings = _run(lambda: _settings(kibana_url=url))
    if not settings.kibana_url:
        err.print("[bold red]error:[/] No Kibana URL: pass --url http://localhost:5601 or set CHURNOPS_KIBANA_URL.")
        raise typer.Exit(code=1)
    api_key = settings.kibana_api_key.get_secret_value() if settings.kibana_api_key else None
    answer = _run(lambda: import_saved_objects(settings.kibana_url, file, api_key, space))
    imported = answer.get("successCount", 0)
    out.print(f"imported {imported} saved objects into {settings.kibana_url}; open the dashboard 'churnops: model and service monitoring'")


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
    import uvicorn

    from churnops.serving.logs import configure_json_logging

    settings = _run(
        lambda: _settings(api_host=host, api_port=port, tracking_uri=tracking_uri, model_name=model_name, dataset=dataset, store_url=store_url)
    )
    # Workers build their settings from the environment, so everything chosen here is passed that way.
    os.environ.update(settings.as_environment())
    # A down tracking server must not stall the alias poller for minutes of HTTP retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bars inside JSON logs
    configure_json_logging(settings.log_level)
    uvicorn.run(
        "churnops.serving.app:create_app_from_environment",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
        ws_max_size=settings.max_body_bytes,  # a WebSocket message is held to the same limit as a request body
    )


if __name__ == "__main__":
    app()
