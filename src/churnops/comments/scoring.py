"""How an analysis is scored against a hand label (the same figures for the LLM, the baseline, every prompt version), and the prompt gate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The figures the prompt gate compares (higher is better); latency is reported, not gated.
GATED = ("json_valid", "sentiment_accuracy", "churn_risk_accuracy", "reason_f1")


def reason_overlap(predicted: Sequence[str], expected: Sequence[str]) -> tuple[float, float]:
    """(precision, recall) of predicted reasons against the labelled ones; nothing predicted has precision 0."""
    hits = len(set(predicted) & set(expected))
    precision = hits / len(set(predicted)) if predicted else 0.0
    recall = hits / len(set(expected)) if expected else 1.0
    return precision, recall


def f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def score_row(output: Mapping[str, Any], expected: Mapping[str, Any]) -> dict[str, float]:
    """One row's figures. A failed analysis (ok false) scores 0 on everything it could not answer."""
    ok = bool(output.get("ok"))
    precision, recall = reason_overlap(output.get("reasons") or [], expected["reasons"]) if ok else (0.0, 0.0)
    return {
        "json_valid": float(ok),
        "sentiment_accuracy": float(ok and output.get("sentiment") == expected["sentiment"]),
        "churn_risk_accuracy": float(ok and output.get("churn_risk") == expected["churn_risk"]),
        "reason_precision": precision,
        "reason_recall": recall,
        "latency_ms": float(output.get("latency_ms") or 0.0),
    }


def summarise(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Means over rows, the reason F1 of the mean precision and recall, and the median latency."""
    if not rows:
        return {}
    means = {key: sum(row[key] for row in rows) / len(rows) for key in rows[0] if key != "latency_ms"}
    latencies = sorted(row["latency_ms"] for row in rows)
    middle = len(latencies) // 2
    median = latencies[middle] if len(latencies) % 2 else (latencies[middle - 1] + latencies[middle]) / 2
    return {**means, "reason_f1": f1(means["reason_precision"], means["reason_recall"]), "latency_p50_ms": median}


@dataclass
class GateDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)


def decide(candidate: dict[str, float], production: dict[str, float] | None, tolerance: float) -> GateDecision:
    """Not worse than production on any gated score beyond `tolerance`; with no production to compare, the candidate passes."""
    if production is None:
        return GateDecision(True, ["no production prompt to compare with"])
    worse = [
        f"{name} {candidate[name]:.3f} < production {production[name]:.3f} - {tolerance:g}"
        for name in GATED
        if candidate[name] < production[name] - tolerance
    ]
    return GateDecision(not worse, worse or [f"no gated score worse than production by more than {tolerance:g}"])
