"""The deterministic baseline, the row scores, and the prompt gate's decision."""

from __future__ import annotations

import pytest

from churnops.comments import scoring
from churnops.comments.analysis import REASONS, CommentAnalysis
from churnops.comments.baseline import analyze_baseline
from churnops.comments.scoring import decide


@pytest.mark.parametrize(
    ("text", "sentiment", "churn_risk", "reason"),
    [
        ("I love the fiber speed, best internet I've had.", "positive", "low", "network_quality"),
        ("Terrible support, I waited two hours on hold. Awful.", "negative", "medium", "customer_service"),
        ("I'm cancelling next month, Verizon offered me a better deal.", "negative", "high", "competitor_offer"),
        ("How do I change the address on my bill?", "neutral", "low", "billing"),
        ("Je déménage à Lyon le mois prochain, je dois résilier.", "negative", "high", "moving"),
        ("Le prix a encore augmenté, c'est inadmissible.", "negative", "medium", "price"),
    ],
)
def test_the_baseline_reads_tone_reasons_and_leaving_words(text: str, sentiment: str, churn_risk: str, reason: str) -> None:
    analysis = analyze_baseline(text)
    assert (analysis.sentiment, analysis.churn_risk) == (sentiment, churn_risk)
    assert reason in analysis.reasons
    assert analysis == analyze_baseline(text)  # deterministic


def test_the_baseline_always_answers_a_valid_analysis() -> None:
    for text in ["", "???", "ok", "x" * 5000, "Génial !!! 😡", "12345"]:
        analysis = analyze_baseline(text)
        assert isinstance(analysis, CommentAnalysis)
        assert analysis.reasons and set(analysis.reasons) <= set(REASONS)


def test_row_scores_count_a_failed_analysis_as_wrong_everywhere() -> None:
    expected = {"sentiment": "negative", "churn_risk": "high", "reasons": ["price", "billing"]}
    right = {"ok": True, "sentiment": "negative", "churn_risk": "high", "reasons": ["price", "moving"], "latency_ms": 12.0}
    assert scoring.score_row(right, expected) == {
        "json_valid": 1.0,
        "sentiment_accuracy": 1.0,
        "churn_risk_accuracy": 1.0,
        "reason_precision": 0.5,
        "reason_recall": 0.5,
        "latency_ms": 12.0,
    }
    failed = scoring.score_row({"ok": False, "latency_ms": 40.0}, expected)
    assert failed == {
        **dict.fromkeys(["json_valid", "sentiment_accuracy", "churn_risk_accuracy", "reason_precision", "reason_recall"], 0.0),
        "latency_ms": 40.0,
    }


def test_summaries_give_means_reason_f1_and_the_median_latency() -> None:
    rows = [
        {"json_valid": 1.0, "sentiment_accuracy": 1.0, "churn_risk_accuracy": 0.0, "reason_precision": 1.0, "reason_recall": 0.5, "latency_ms": 10.0},
        {"json_valid": 0.0, "sentiment_accuracy": 0.0, "churn_risk_accuracy": 0.0, "reason_precision": 0.0, "reason_recall": 0.0, "latency_ms": 30.0},
    ]
    summary = scoring.summarise(rows)
    assert summary["json_valid"] == 0.5
    assert summary["reason_f1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert summary["latency_p50_ms"] == 20.0


FIGURES = {"json_valid": 1.0, "sentiment_accuracy": 0.6, "churn_risk_accuracy": 0.5, "reason_f1": 0.4}


def test_the_gate_passes_a_prompt_within_tolerance_and_names_every_worse_score() -> None:
    assert decide({**FIGURES, "sentiment_accuracy": 0.59}, FIGURES, tolerance=0.02).promote
    decision = decide({**FIGURES, "json_valid": 0.9, "reason_f1": 0.3}, FIGURES, tolerance=0.02)
    assert not decision.promote
    assert len(decision.reasons) == 2
    assert decision.reasons[0].startswith("json_valid 0.900 < production 1.000")
    assert decide(FIGURES, None, tolerance=0.0).promote  # nothing to compare with
