"""Feature engineering shared by training and serving: one sklearn preprocessor built from the contract.

The engineered-feature transformers have ONNX converters (churnops.model.onnx_converters), so the
fast inference artifact computes exactly the same features as the sklearn pipeline.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churnops.data.contract import DatasetContract, EngineeredFeature, unique_name


class RatioFeature(TransformerMixin, BaseEstimator):
    """numerator / max(denominator, min_denominator): e.g. charges per month of tenure."""

    def __init__(self, min_denominator: float = 1.0) -> None:
        self.min_denominator = min_denominator

    def fit(self, X: Any, y: Any = None) -> RatioFeature:
        return self

    def transform(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=np.float64)
        return (values[:, 0] / np.maximum(values[:, 1], self.min_denominator)).reshape(-1, 1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(["ratio"], dtype=object)


class CountEqual(TransformerMixin, BaseEstimator):
    """How many of the given columns equal `value`: e.g. number of subscribed services."""

    def __init__(self, value: str = "Yes") -> None:
        self.value = value

    def fit(self, X: Any, y: Any = None) -> CountEqual:
        return self

    def transform(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=object)
        return (values == self.value).sum(axis=1).astype(np.float64).reshape(-1, 1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(["count"], dtype=object)


class Float32Cast(TransformerMixin, BaseEstimator):
    """Casts features to float32 before a tree ensemble.

    sklearn trees compare float32 features anyway; making the cast an explicit step lets the ONNX
    export use onnxruntime's float32 tree kernels (it has no float64 TreeEnsembleClassifier).
    """

    def fit(self, X: Any, y: Any = None) -> Float32Cast:
        return self

    def transform(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float32)

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        return input_features


def _numeric_steps() -> list[tuple[str, Any]]:
    return [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]


def _engineered(feature: EngineeredFeature) -> Pipeline:
    if feature.kind == "ratio":
        compute: TransformerMixin = RatioFeature()
    else:
        compute = CountEqual(value=feature.value or "")
    return Pipeline([("compute", compute), *_numeric_steps()])


def build_preprocessor(contract: DatasetContract) -> ColumnTransformer:
    """Numeric columns imputed + scaled, categoricals one-hot, engineered features appended."""
    categories = [list(contract.columns[name].values or []) for name in contract.categorical_columns]
    transformers: list[tuple[str, Any, list[str]]] = [
        ("numeric", Pipeline(_numeric_steps()), contract.numeric_columns),
        ("categorical", OneHotEncoder(categories=categories, handle_unknown="ignore"), contract.categorical_columns),
    ]
    taken = {name for name, _, _ in transformers}
    for feature in contract.engineered_features:
        transformers.append((_transformer_name(feature.name, taken), _engineered(feature), feature.columns))
    return ColumnTransformer(transformers, sparse_threshold=0.0)


def _transformer_name(name: str, taken: set[str]) -> str:
    """The feature's name as a ColumnTransformer step name: sklearn refuses '__' in it and duplicate names."""
    return unique_name(re.sub(r"_{2,}", "_", name), taken)


# Types skops must trust to load a pipeline built here (besides sklearn's own, which skops knows).
TRUSTED_FEATURE_TYPES = [f"{__name__}.RatioFeature", f"{__name__}.CountEqual", f"{__name__}.Float32Cast"]
