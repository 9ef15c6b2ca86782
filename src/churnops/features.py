"""Feature engineering shared by training and serving: one sklearn preprocessor built from the contract.

The engineered-feature transformers also register ONNX converters, so the fast inference
artifact computes exactly the same features as the sklearn pipeline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churnops.data.contract import DatasetContract, EngineeredFeature


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
    transformers += [(feature.name, _engineered(feature), feature.columns) for feature in contract.engineered_features]
    return ColumnTransformer(transformers, sparse_threshold=0.0)


# Types skops must trust to load a pipeline built here (besides sklearn's own, which skops knows).
TRUSTED_FEATURE_TYPES = [f"{__name__}.RatioFeature", f"{__name__}.CountEqual", f"{__name__}.Float32Cast"]


def register_onnx_converters() -> None:
    """Teach skl2onnx how to convert the engineered-feature transformers (idempotent)."""
    from onnx import TensorProto
    from skl2onnx import get_model_alias, update_registered_converter
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from skl2onnx.operator_converters.common import concatenate_variables
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
    from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes

    def shape_one_double_column(operator: Any) -> None:
        rows = operator.inputs[0].get_first_dimension()
        operator.outputs[0].type = DoubleTensorType([rows, 1])

    def convert_ratio(scope: Any, operator: Any, container: Any) -> None:
        source = operator.inputs[0].full_name
        model: RatioFeature = operator.raw_operator
        names = {key: scope.get_unique_variable_name(key) for key in ("i0", "i1", "num", "den", "floor", "clipped", "x")}
        container.add_initializer(names["i0"], TensorProto.INT64, [1], [0])
        container.add_initializer(names["i1"], TensorProto.INT64, [1], [1])
        container.add_initializer(names["floor"], TensorProto.DOUBLE, [], [float(model.min_denominator)])
        container.add_node("Cast", source, names["x"], to=TensorProto.DOUBLE, name=scope.get_unique_operator_name("Cast"))
        container.add_node("Gather", [names["x"], names["i0"]], names["num"], axis=1, name=scope.get_unique_operator_name("Gather"))
        container.add_node("Gather", [names["x"], names["i1"]], names["den"], axis=1, name=scope.get_unique_operator_name("Gather"))
        container.add_node("Max", [names["den"], names["floor"]], names["clipped"], name=scope.get_unique_operator_name("Max"))
        container.add_node("Div", [names["num"], names["clipped"]], operator.outputs[0].full_name, name=scope.get_unique_operator_name("Div"))

    def convert_count(scope: Any, operator: Any, container: Any) -> None:
        source = operator.inputs[0].full_name
        model: CountEqual = operator.raw_operator
        names = {key: scope.get_unique_variable_name(key) for key in ("value", "equal", "flags", "axes")}
        container.add_initializer(names["value"], TensorProto.STRING, [], [model.value.encode("utf-8")])
        container.add_initializer(names["axes"], TensorProto.INT64, [1], [1])
        container.add_node("Equal", [source, names["value"]], names["equal"], name=scope.get_unique_operator_name("Equal"))
        container.add_node("Cast", names["equal"], names["flags"], to=TensorProto.DOUBLE, name=scope.get_unique_operator_name("Cast"))
        container.add_node(
            "ReduceSum",
            [names["flags"], names["axes"]],
            operator.outputs[0].full_name,
            keepdims=1,
            name=scope.get_unique_operator_name("ReduceSum"),
        )

    def shape_same_columns_float(operator: Any) -> None:
        rows, columns = operator.inputs[0].type.shape
        operator.outputs[0].type = FloatTensorType([rows, columns])

    def convert_float32_cast(scope: Any, operator: Any, container: Any) -> None:
        container.add_node(
            "Cast",
            operator.inputs[0].full_name,
            operator.outputs[0].full_name,
            to=TensorProto.FLOAT,
            name=scope.get_unique_operator_name("Cast"),
        )

    def parse_to_float(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> list[Any]:
        operator = scope.declare_local_operator(get_model_alias(type(model)), model)
        operator.inputs = inputs
        operator.outputs.append(scope.declare_local_variable("as_float32", FloatTensorType()))
        return list(operator.outputs)

    update_registered_converter(Float32Cast, "ChurnopsFloat32Cast", shape_same_columns_float, convert_float32_cast, parser=parse_to_float)

    def parse_to_double(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> list[Any]:
        # The default parser guesses float32 for the output; these features are float64 end to end.
        operator = scope.declare_local_operator(get_model_alias(type(model)), model)
        operator.inputs = inputs
        operator.outputs.append(scope.declare_local_variable("engineered", DoubleTensorType()))
        return list(operator.outputs)

    def convert_imputer(scope: Any, operator: Any, container: Any) -> None:
        # onnxruntime has no float64 kernel for the ONNX-ML Imputer op that skl2onnx emits,
        # so double inputs are imputed with IsNaN + Where (same result, exact in float64).
        if not isinstance(operator.inputs[0].type, DoubleTensorType):
            convert_sklearn_imputer(scope, operator, container)
            return
        source = concatenate_variables(scope, operator.inputs, container)
        names = {key: scope.get_unique_variable_name(key) for key in ("fill", "missing")}
        fill = np.asarray(operator.raw_operator.statistics_, dtype=np.float64)
        container.add_initializer(names["fill"], TensorProto.DOUBLE, [len(fill)], fill.tolist())
        container.add_node("IsNaN", source, names["missing"], name=scope.get_unique_operator_name("IsNaN"))
        container.add_node(
            "Where",
            [names["missing"], names["fill"], source],
            operator.outputs[0].full_name,
            name=scope.get_unique_operator_name("Where"),
        )

    update_registered_converter(SimpleImputer, "SklearnSimpleImputer", calculate_sklearn_imputer_output_shapes, convert_imputer)
    for model_type, alias, converter in (
        (RatioFeature, "ChurnopsRatioFeature", convert_ratio),
        (CountEqual, "ChurnopsCountEqual", convert_count),
    ):
        update_registered_converter(model_type, alias, shape_one_double_column, converter, parser=parse_to_double)
