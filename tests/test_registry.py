"""The promotion gate: absolute floor, fast-path parity, and comparison with the current champion."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnops.registry import GateDecision, decide_promotion
from churnops.settings import Settings


@pytest.fixture()
def settings(workdir: Path) -> Settings:
    return Settings(gate_min_roc_auc=0.80, gate_tolerance=0.005, parity_tolerance=1e-5)


def challenger(roc_auc: float, pr_auc: float = 0.6) -> dict[str, float]:
    return {"roc_auc": roc_auc, "pr_auc": pr_auc}


def test_good_challenger_without_champion_is_promoted(settings: Settings) -> None:
    decision = decide_promotion(challenger(0.84), None, parity_difference=1e-7, gate=settings.gate)
    assert decision == GateDecision(
        promote=True,
        reasons=[
            "test ROC AUC 0.8400 >= minimum 0.8000",
            "fast inference parity 1.00e-07 <= tolerance 1e-05",
            "no current champion",
        ],
    )


def test_below_absolute_floor_is_rejected_and_names_both_numbers(settings: Settings) -> None:
    decision = decide_promotion(challenger(0.7512), None, parity_difference=0.0, gate=settings.gate)
    assert not decision.promote
    assert decision.reasons == ["test ROC AUC 0.7512 < minimum 0.8000"]


def test_exactly_at_the_floor_passes(settings: Settings) -> None:
    assert decide_promotion(challenger(0.80), None, parity_difference=0.0, gate=settings.gate).promote


def test_fast_path_parity_above_tolerance_is_rejected(settings: Settings) -> None:
    decision = decide_promotion(challenger(0.90), None, parity_difference=3e-4, gate=settings.gate)
    assert not decision.promote
    assert decision.reasons == ["fast inference parity 3.00e-04 > tolerance 1e-05"]


def test_slightly_worse_than_champion_within_tolerance_is_promoted(settings: Settings) -> None:
    decision = decide_promotion(challenger(0.842), {"roc_auc": 0.845}, parity_difference=0.0, gate=settings.gate)
    assert decision.promote
    assert "test ROC AUC 0.8420 vs champion 0.8450 on the same test data (within tolerance 0.0050)" in decision.reasons


def test_better_than_champion_is_promoted(settings: Settings) -> None:
    assert decide_promotion(challenger(0.86), {"roc_auc": 0.845}, parity_difference=0.0, gate=settings.gate).promote


def test_worse_than_champion_by_more_than_tolerance_is_rejected(settings: Settings) -> None:
    decision = decide_promotion(challenger(0.830), {"roc_auc": 0.845}, parity_difference=0.0, gate=settings.gate)
    assert not decision.promote
    assert decision.reasons == ["test ROC AUC 0.8300 vs champion 0.8450 on the same test data (worse than tolerance 0.0050)"]


def test_every_failure_is_listed_and_passes_are_not(settings: Settings) -> None:
    decision = decide_promotion(challenger(0.70), {"roc_auc": 0.85}, parity_difference=1e-3, gate=settings.gate)
    assert not decision.promote
    assert len(decision.reasons) == 3
    assert decision.reasons[0].startswith("test ROC AUC 0.7000 < minimum")
    assert decision.reasons[1].startswith("fast inference parity 1.00e-03 >")
    assert "worse than tolerance" in decision.reasons[2]


def test_pr_auc_floor_applies_only_when_set(workdir: Path) -> None:
    unset = Settings(gate_min_roc_auc=0.8)
    strict = Settings(gate_min_roc_auc=0.8, gate_min_pr_auc=0.7)
    assert decide_promotion(challenger(0.85, pr_auc=0.5), None, 0.0, unset.gate).promote
    decision = decide_promotion(challenger(0.85, pr_auc=0.5), None, 0.0, strict.gate)
    assert not decision.promote
    assert decision.reasons == ["test PR AUC 0.5000 < minimum 0.7000"]


def test_gate_thresholds_come_from_the_environment(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNOPS_GATE_MIN_ROC_AUC", "0.9")
    decision = decide_promotion(challenger(0.85), None, 0.0, Settings().gate)
    assert not decision.promote
    assert decision.reasons == ["test ROC AUC 0.8500 < minimum 0.9000"]


def test_floors_come_from_the_contract_unless_a_setting_overrides_them(workdir: Path) -> None:
    from churnops.data.contract import GateSpec  # noqa: PLC0415

    contract_floor = GateSpec(min_roc_auc=0.9)
    assert not decide_promotion(challenger(0.85), None, 0.0, Settings().gate, floors=contract_floor).promote
    assert decide_promotion(challenger(0.85), None, 0.0, Settings(gate_min_roc_auc=0.8).gate, floors=contract_floor).promote
    default = decide_promotion(challenger(0.72), None, 0.0, Settings().gate)  # no contract floor: 0.70 catches only signal-free models
    assert default.promote and default.reasons[0] == "test ROC AUC 0.7200 >= minimum 0.7000"


def test_the_data_rule_and_the_evaluation_set_are_named_in_the_reasons(settings: Settings) -> None:
    decision = decide_promotion(
        challenger(0.86),
        {"roc_auc": 0.84},
        0.0,
        settings.gate,
        evaluation="champion v1's evaluation set (1409 rows)",
        data_rule="trained on synthetic data",
    )
    assert not decision.promote
    assert decision.reasons == ["trained on synthetic data"]  # only failures are listed, the data rule first
    passed = decide_promotion(challenger(0.86), {"roc_auc": 0.84}, 0.0, settings.gate, evaluation="champion v1's evaluation set (1409 rows)")
    assert "test ROC AUC 0.8600 vs champion 0.8400 on champion v1's evaluation set (1409 rows) (within tolerance 0.0050)" in passed.reasons
