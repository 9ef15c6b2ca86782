"""Data and prediction drift with Evidently 0.7: one test per feature, PSI per feature, drifted share.

Methods default to Evidently's choices for large samples (normed Wasserstein distance for
numbers, Jensen-Shannon distance for categories): p-value tests such as KS or chi-square flag
negligible shifts once a window holds tens of thousands of rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.metrics import DriftedColumnsCount, ValueDrift

from churnops.settings import CategoricalMethod, DriftSettings, NumericMethod

# For these the score is a p-value: drift is a score *below* the threshold. For the rest, a distance above it.
P_VALUE_METHODS = frozenset({"ks", "chisquare"})


@dataclass(frozen=True)
class DriftConfig:
    numeric_method: NumericMethod = "wasserstein"
    categorical_method: CategoricalMethod = "jensenshannon"
    threshold: float = 0.1  # for the per-feature test
    psi_threshold: float = 0.2  # PSI above 0.2 is the usual "significant shift"

    @classmethod
    def from_settings(cls, drift: DriftSettings) -> DriftConfig:
        return cls(drift.numeric_method, drift.categorical_method, drift.threshold, drift.psi_threshold)


@dataclass(frozen=True)
class FeatureDrift:
    method: str
    score: float
    threshold: float
    drifted: bool
    psi: float


@dataclass(frozen=True)
class DriftResult:
    features: dict[str, FeatureDrift]
    prediction: FeatureDrift  # the churn probability
    snapshot: Snapshot | None  # Evidently's run, for the HTML report; None for an empty window

    @property
    def drifted_features(self) -> list[str]:
        return [name for name, result in self.features.items() if result.drifted]

    @property
    def share_drifted(self) -> float:
        return len(self.drifted_features) / len(self.features) if self.features else 0.0

    def save_html(self, path: Path) -> Path | None:
        if self.snapshot is None:
            return None
        self.snapshot.save_html(str(path))
        return path

    def to_dict(self) -> dict[str, Any]:
        return {
            "share_drifted_features": self.share_drifted,
            "drifted_features": self.drifted_features,
            "prediction": asdict(self.prediction),
            "features": {name: asdict(result) for name, result in self.features.items()},
        }


def detect_drift(
    reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str], prediction_column: str, config: DriftConfig
) -> DriftResult:
    """Compare `current` with `reference` column by column; both hold the features and the prediction column."""
    features = [*numeric, *categorical]
    methods = {name: config.numeric_method if name in numeric else config.categorical_method for name in features}
    methods[prediction_column] = config.numeric_method
    tests = {name: ValueDrift(column=name, method=method, threshold=config.threshold) for name, method in methods.items()}
    psi = {name: ValueDrift(column=name, method="psi", threshold=config.psi_threshold) for name in methods}
    summary = DriftedColumnsCount(
        columns=features, num_method=config.numeric_method, cat_method=config.categorical_method, threshold=config.threshold
    )
    definition = DataDefinition(numerical_columns=[*numeric, prediction_column], categorical_columns=categorical)
    columns = [*features, prediction_column]
    snapshot = Report([*tests.values(), *psi.values(), summary]).run(
        current_data=Dataset.from_pandas(current[columns].reset_index(drop=True), data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns].reset_index(drop=True), data_definition=definition),
    )
    values = {result["id"]: result["value"] for result in snapshot.dict()["metrics"]}

    def result(name: str) -> FeatureDrift:
        score = float(values[tests[name].get_metric_id()])
        return FeatureDrift(
            methods[name], score, config.threshold, _is_drift(methods[name], score, config.threshold), float(values[psi[name].get_metric_id()])
        )

    return DriftResult({name: result(name) for name in features}, result(prediction_column), snapshot)


def _is_drift(method: str, score: float, threshold: float) -> bool:
    return score < threshold if method in P_VALUE_METHODS else score >= threshold
