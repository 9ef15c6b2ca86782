"""Data quality of a window against the reference: missing values, out-of-range values, unseen categories, volume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class QualityResult:
    rows: int
    missing_share: float  # of all feature cells
    missing_by_feature: dict[str, int]
    out_of_range_share: float  # of numeric cells: outside the reference's [min, max]
    out_of_range_by_feature: dict[str, int]
    unseen_category_share: float  # of categorical cells: values the model never saw in training
    unseen_categories: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "missing_share": self.missing_share,
            "missing_by_feature": self.missing_by_feature,
            "out_of_range_share": self.out_of_range_share,
            "out_of_range_by_feature": self.out_of_range_by_feature,
            "unseen_category_share": self.unseen_category_share,
            "unseen_categories": self.unseen_categories,
        }


def check_quality(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str]) -> QualityResult:
    rows = len(current)
    missing = {name: int(current[name].isna().sum()) for name in [*numeric, *categorical]}
    out_of_range: dict[str, int] = {}
    for name in numeric:
        low, high = reference[name].min(), reference[name].max()
        values = current[name].dropna()
        out_of_range[name] = int(((values < low) | (values > high)).sum())
    unseen: dict[str, list[str]] = {}
    unseen_cells = 0
    for name in categorical:
        values = current[name].dropna()
        new = ~values.isin(set(reference[name].dropna()))
        unseen_cells += int(new.sum())
        if new.any():
            unseen[name] = sorted(map(str, values[new].unique()))
    cells = rows * (len(numeric) + len(categorical))
    return QualityResult(
        rows=rows,
        missing_share=sum(missing.values()) / cells if cells else 0.0,
        missing_by_feature={name: count for name, count in missing.items() if count},
        out_of_range_share=sum(out_of_range.values()) / (rows * len(numeric)) if rows and numeric else 0.0,
        out_of_range_by_feature={name: count for name, count in out_of_range.items() if count},
        unseen_category_share=unseen_cells / (rows * len(categorical)) if rows and categorical else 0.0,
        unseen_categories=unseen,
    )
