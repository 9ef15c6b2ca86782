"""`churnops comments analyze`: every comment of a CSV analysed, stored as it goes, and written to a Parquet file.

Results reach the store's comment_analyses table every few comments, so an interrupted run keeps what it
analysed; the next run over the same file skips comments this model and prompt version already analysed
(`again` analyses them anew). The Parquet file holds each comment's newest analysis by this model and
prompt version. Each run is an MLflow run in the comments experiment; its traces belong to it.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from churnops.comments.analyzer import Analyzer, Outcome
from churnops.comments.contract import load_comments
from churnops.errors import ChurnopsError
from churnops.progress import Progress, SilentProgress
from churnops.settings import Settings
from churnops.store.comments import analysed_comment_ids, open_store, read_analyses, write_analyses
from churnops.tracking import connect, ensure_experiment

WRITE_EVERY = 10  # comments per store transaction: at most this many are re-done after a crash


@dataclass(frozen=True)
class AnalyzeResult:
    input: str
    output: str
    comments: int
    analysed: int
    skipped: int
    failures: int
    model: str
    prompt_version: int
    comments_per_second: float
    latency_p50_ms: float | None
    run_id: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def analyze_file(
    settings: Settings, input_file: Path, output: Path | None = None, *, again: bool = False, progress: Progress | None = None
) -> AnalyzeResult:
    progress = progress or SilentProgress()
    if output is not None and output.suffix != ".parquet":
        raise ChurnopsError(f"Output '{output}' must be a .parquet file (e.g. --output analyses.parquet).")
    started = time.perf_counter()
    progress.step("read comments")
    comments = load_comments(input_file)
    engine = open_store(settings.store.url)
    connect(settings)
    ensure_experiment(settings, settings.comments.experiment)
    analyzer = Analyzer(settings)
    prompt = analyzer.prompt()
    done = set() if again else analysed_comment_ids(engine, model=settings.llm.model, prompt_name=prompt.name, prompt_version=prompt.version)
    todo = comments[~comments["id"].isin(done)]
    output = output or settings.comments.output_dir / f"{input_file.stem}-analysed-{datetime.now(UTC):%Y%m%dT%H%M%S}.parquet"
    outcomes: list[Outcome] = []
    with mlflow.start_run(run_name=f"analyze {input_file.name}", tags={"churnops.kind": "comment-analysis"}) as run:
        mlflow.log_params(
            {
                "input": str(input_file),
                "model": settings.llm.model,
                "prompt_uri": prompt.uri,
                "comments": len(comments),
                "skipped": len(comments) - len(todo),
            }
        )
        progress.step(f"analyse {len(todo)} comments with {settings.llm.model}, prompt v{prompt.version}")
        pending: list[dict[str, Any]] = []
        analysing = time.perf_counter()
        try:
            for number, row in enumerate(todo.to_dict(orient="records"), start=1):
                date = str(row["date"]) if row["date"] else None
                outcome = analyzer.analyze(str(row["text"]), comment_id=str(row["id"]), customer_id=str(row["customer_id"]), comment_date=date)
                outcomes.append(outcome)
                pending.append(outcome.as_row(source=f"file:{input_file.name}", run_id=run.info.run_id))
                if len(pending) >= WRITE_EVERY:
                    write_analyses(engine, pending)
                    pending = []
                progress.rows(number, len(todo), "comments")
        finally:
            write_analyses(engine, pending)  # also when interrupted: nothing analysed is lost
        seconds_analysing = time.perf_counter() - analysing
        failures = sum(not outcome.ok for outcome in outcomes)
        latencies = [outcome.latency_ms for outcome in outcomes]
        rate = len(outcomes) / seconds_analysing if outcomes and seconds_analysing > 0 else 0.0
        progress.step("write Parquet")
        _write_parquet(engine, comments["id"].tolist(), settings.llm.model, prompt.version, output)
        p50 = statistics.median(latencies) if latencies else None
        mlflow.log_metrics(
            {"comments": len(comments), "analysed": len(outcomes), "failures": failures, "comments_per_second": rate}
            | ({"latency_p50_ms": p50} if p50 is not None else {})
        )
        mlflow.log_artifact(str(output))
    return AnalyzeResult(
        input=str(input_file),
        output=str(output),
        comments=len(comments),
        analysed=len(outcomes),
        skipped=len(comments) - len(todo),
        failures=failures,
        model=settings.llm.model,
        prompt_version=prompt.version,
        comments_per_second=round(rate, 3),
        latency_p50_ms=None if p50 is None else round(p50, 1),
        run_id=run.info.run_id,
        seconds=round(time.perf_counter() - started, 3),
    )


def _write_parquet(engine: Any, comment_ids: list[str], model: str, prompt_version: int, output: Path) -> None:
    rows = [row for row in read_analyses(engine, comment_ids=comment_ids) if row["model"] == model and row["prompt_version"] == prompt_version]
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values("analyzed_at").drop_duplicates("comment_id", keep="last")
        order = {comment_id: position for position, comment_id in enumerate(comment_ids)}
        frame = frame.sort_values("comment_id", key=lambda ids: ids.map(order)).reset_index(drop=True)
        frame["reasons"] = frame["reasons"].map(lambda reasons: ";".join(reasons) if isinstance(reasons, list) else None)
    output.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(output, index=False)
