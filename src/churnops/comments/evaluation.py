"""Evaluate a prompt version on the hand-labelled set with mlflow.genai.evaluate, beside the baseline, and gate its promotion.

One parent run in the comments experiment holds an arm per contender (nested runs): the candidate
prompt version, the production version (reused from an earlier run on the same set and model when there
is one), and the VADER + keywords baseline. Every arm gets the same code scorers. The candidate moves
to @production only if no gated score is worse than production's by more than the tolerance.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from typing import Any

import mlflow
import pandas as pd
from mlflow.genai.scorers import scorer

from churnops.comments import scoring
from churnops.comments.analyzer import Analyzer
from churnops.comments.baseline import analyze_baseline
from churnops.comments.evaluation_set import load_evaluation_set
from churnops.comments.prompts import load_prompt, set_alias
from churnops.progress import Progress, SilentProgress
from churnops.settings import Settings
from churnops.tracking import connect, ensure_experiment

ARM_KIND = "prompt-evaluation-arm"


def _scorers() -> list[Any]:
    """Code scorers: each reads the predict function's output and the row's hand labels."""

    def figure(name: str) -> Any:
        def score(outputs: dict[str, Any], expectations: dict[str, Any]) -> float:
            return scoring.score_row(outputs, expectations)[name]

        score.__name__ = name
        return scorer(name=name)(score)

    return [figure(name) for name in ("json_valid", "sentiment_accuracy", "churn_risk_accuracy", "reason_precision", "reason_recall", "latency_ms")]


def _digest(frame: pd.DataFrame) -> str:
    rows = frame[["id", "text", "sentiment", "churn_risk", "reasons"]].to_dict(orient="records")
    return hashlib.sha256(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def _run_arm(name: str, frame: pd.DataFrame, answer: Callable[[str], dict[str, Any]], tags: dict[str, str], progress: Progress) -> dict[str, float]:
    """One contender over the set, as a nested run with mlflow.genai.evaluate; returns its summary figures."""
    records = [{str(key): value for key, value in row.items()} for row in frame.to_dict(orient="records")]
    expected = {str(row["id"]): {"sentiment": row["sentiment"], "churn_risk": row["churn_risk"], "reasons": list(row["reasons"])} for row in records}
    outputs: dict[str, dict[str, Any]] = {}

    def predict(text: str, comment_id: str) -> dict[str, Any]:
        output = answer(text)
        outputs[comment_id] = output
        progress.rows(len(outputs), len(frame), "comments")
        return output

    data = [{"inputs": {"text": row["text"], "comment_id": str(row["id"])}, "expectations": expected[str(row["id"])]} for row in records]
    with mlflow.start_run(run_name=name, nested=True, tags={"churnops.kind": ARM_KIND, **tags}):
        progress.step(f"evaluating {name} on {len(frame)} comments")
        mlflow.genai.evaluate(data=data, predict_fn=predict, scorers=_scorers())
        summary = scoring.summarise([scoring.score_row(outputs[key], expected[key]) for key in expected if key in outputs])
        mlflow.log_metrics({f"summary_{key}": value for key, value in summary.items()})
    return summary


def _llm_answer(analyzer: Analyzer) -> Callable[[str], dict[str, Any]]:
    def answer(text: str) -> dict[str, Any]:
        outcome = analyzer.analyze(text)
        return {
            "ok": outcome.ok,
            **outcome.answer(),
            "latency_ms": outcome.latency_ms,
            "error": outcome.error,
            "prompt_version": outcome.prompt_version,
        }

    return answer


def _baseline_answer(text: str) -> dict[str, Any]:
    started = time.perf_counter()
    analysis = analyze_baseline(text)
    return {"ok": True, **analysis.model_dump(), "latency_ms": (time.perf_counter() - started) * 1000}


def _earlier_arm(experiment_id: str, tags: dict[str, str]) -> dict[str, float] | None:
    """Figures of a finished arm with exactly these tags (same prompt version, model, evaluation set)."""
    filters = " and ".join(f"tags.`{key}` = '{value}'" for key, value in {"churnops.kind": ARM_KIND, **tags}.items())
    runs = mlflow.search_runs([experiment_id], filter_string=f"{filters} and attributes.status = 'FINISHED'", max_results=1, output_format="list")
    if not runs:
        return None
    metrics = runs[0].data.metrics
    figures = {key.removeprefix("summary_"): value for key, value in metrics.items() if key.startswith("summary_")}
    return figures if all(name in figures for name in scoring.GATED) else None


def evaluate_prompt(
    settings: Settings, version: int | None = None, *, limit: int | None = None, promote: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    """Score prompt `version` (default: production) and the baseline on the labelled set; with `promote`, gate and move @production."""
    progress = progress or SilentProgress()
    connect(settings)
    experiment_id = ensure_experiment(settings, settings.comments.experiment)
    production = load_prompt(settings.comments)  # registers the built-in prompt on first use
    candidate = load_prompt(settings.comments, version) if version is not None else production
    frame = load_evaluation_set()
    if limit is not None:
        frame = frame.head(limit)
    digest = _digest(frame)
    model = settings.llm.model
    common = {"evaluation_digest": digest, "model": model, "prompt_name": candidate.name}
    os.environ.setdefault("MLFLOW_GENAI_EVAL_MAX_WORKERS", "1")  # one model answers one call at a time: latency is per call, not queueing
    with mlflow.start_run(run_name=f"evaluate {candidate.name} v{candidate.version}", tags={"churnops.kind": "prompt-evaluation", **common}) as run:
        mlflow.log_params({"candidate_version": candidate.version, "production_version": production.version, "comments": len(frame), "model": model})
        figures = {
            "llm": _run_arm(
                f"llm v{candidate.version}",
                frame,
                _llm_answer(Analyzer(settings, candidate.version)),
                {**common, "arm": "llm", "prompt_version": str(candidate.version)},
                progress,
            )
        }
        figures["baseline"] = _run_arm("baseline", frame, _baseline_answer, {**common, "arm": "baseline"}, progress)
        production_figures: dict[str, float] | None = None
        if production.version != candidate.version:
            tags = {**common, "arm": "llm", "prompt_version": str(production.version)}
            production_figures = _earlier_arm(experiment_id, tags) or _run_arm(
                f"llm v{production.version} (production)", frame, _llm_answer(Analyzer(settings, production.version)), tags, progress
            )
            figures["production"] = production_figures
        for arm, values in figures.items():
            mlflow.log_metrics({f"{arm}_{key}": value for key, value in values.items()})
        decision = (
            scoring.decide(figures["llm"], production_figures, settings.comments.gate_tolerance) if production.version != candidate.version else None
        )
        promoted = bool(promote and decision and decision.promote)
        if promoted:
            set_alias(settings.comments, candidate.version)
        mlflow.set_tags(
            {
                "gate_decision": "none" if decision is None else ("promote" if decision.promote else "reject"),
                "gate_reasons": "; ".join(decision.reasons) if decision else "candidate is production",
                "promoted": str(promoted).lower(),
            }
        )
    return {
        "run_id": run.info.run_id,
        "experiment_id": experiment_id,
        "candidate_version": candidate.version,
        "production_version": production.version,
        "comments": len(frame),
        "model": model,
        "figures": figures,
        "gate": None if decision is None else {"promote": decision.promote, "reasons": decision.reasons},
        "promoted": promoted,
    }
