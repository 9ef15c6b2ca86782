"""What `churnops monitor` says about the versions a window covers and about too few labels; the training key."""

from __future__ import annotations

from pathlib import Path

from churnops.cli import performance_note, versions_note
from churnops.settings import Settings
from churnops.training.reuse import training_key

CONTRACT = Path(__file__).resolve().parents[2] / "src" / "churnops" / "data" / "contracts" / "telco.yaml"


def summary(champion: str, served: list[str]) -> dict[str, object]:
    return {"model": {"name": "churn-classifier", "version": champion}, "served_versions": served}


def test_a_window_spanning_a_promotion_names_its_versions() -> None:
    assert versions_note(summary("3", ["3"])) is None
    assert versions_note(summary("3", [])) is None
    assert (
        versions_note(summary("3", ["3", "2"]))
        == "window covers versions 2, 3 (promotion inside the window); figures compare with the champion v3's reference"
    )
    assert versions_note(summary("10", ["9", "10"])).startswith("window covers versions 9, 10 ")  # numeric order
    assert "came from version 2, not the champion" in str(versions_note(summary("3", ["2"])))


def performance(labelled: int, roc_auc: float | None) -> dict[str, object]:
    return {"labelled": labelled, "roc_auc": roc_auc, "reference": {"roc_auc": 0.8465}}


def test_too_few_labels_are_said_so_and_enough_are_shown_beside_the_reference() -> None:
    assert performance_note(performance(1, None), 50) == "not enough labelled predictions (1 of 50 needed)"
    assert performance_note(performance(49, 0.9), 50) == "not enough labelled predictions (49 of 50 needed)"
    assert performance_note(performance(120, 0.81234), 50) == "0.8123 on 120 labelled vs champion's test ROC AUC 0.8465"
    assert "same outcome" in performance_note(performance(60, None), 50)


def test_training_key_follows_training_settings_only() -> None:
    base = Settings(dataset=CONTRACT)
    key = training_key(base, "fingerprint")
    assert key == training_key(Settings(dataset=CONTRACT), "fingerprint")
    assert key != training_key(base, "other data")
    for change in ({"seed": 7}, {"search_trials": 5}, {"cv_folds": 3}, {"gate_min_roc_auc": 0.7}, {"families": ["random_forest"]}):
        assert training_key(base.model_copy(update=change), "fingerprint") != key, change
    for unrelated in ({"api_port": 9000}, {"n_jobs": 1}, {"tracking_uri": "sqlite:///elsewhere.db"}):
        assert training_key(base.model_copy(update=unrelated), "fingerprint") == key, unrelated
