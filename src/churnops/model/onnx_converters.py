"""skl2onnx converters for the engineered-feature transformers of `churnops.features`, and LightGBM's.

They let the ONNX fast path compute exactly the same features as the sklearn pipeline; onnxmltools'
LightGBM converter, registered with skl2onnx, lets a pipeline ending in an LGBMClassifier convert whole. This
module imports skl2onnx (about a second and 30 MB), so only the ONNX export imports it: the API,
which scores with onnxruntime, never does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto
from skl2onnx import get_model_alias, update_registered_converter
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from skl2onnx.operator_converters.common import concatenate_variables
from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes
from sklearn.impute import SimpleImputer

from churnops.features import CountEqual, Float32Cast, RatioFeature


def register() -> None:
    """Teach skl2onnx how to convert the engineered-feature transformers (idempotent)."""
    update_registered_converter(Float32Cast, "ChurnopsFloat32Cast", _shape_same_columns_float, _convert_float32_cast, parser=_parse_to_float)
    update_registered_converter(SimpleImputer, "SklearnSimpleImputer", calculate_sklearn_imputer_output_shapes, _convert_imputer)
    _register_lightgbm()
    for model_type, alias, converter in (
        (RatioFeature, "ChurnopsRatioFeature", _convert_ratio),
        (CountEqual, "ChurnopsCountEqual", _convert_count),
    ):
        update_registered_converter(model_type, alias, _shape_one_double_column, converter, parser=_parse_to_double)


def _register_lightgbm() -> None:
    # lightgbm and onnxmltools come with the train extra, as does this module's only caller (the export).
    from lightgbm import LGBMClassifier  # noqa: PLC0415
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm  # noqa: PLC0415

    update_registered_converter(
        LGBMClassifier,
        "LightGbmLGBMClassifier",
        calculate_linear_classifier_output_shapes,
        lambda scope, operator, container: convert_lightgbm(scope, operator, _FloorThresholds(container)),
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )


class _FloorThresholds:
    """A converter container that stores each LightGBM split threshold as the largest float32 <= it.

    LightGBM compares float32 features with float64 thresholds (x <= t); ONNX tree ensembles hold float32
    thresholds, and rounding t to the nearest float32 can round it up onto a feature value, sending that row
    down the other branch (measured: 2 of 1409 Telco test rows off by 5e-3). For float32 x, x <= t exactly
    when x <= floor32(t), so the export decides every split as LightGBM does.
    """

    def __init__(self, container: Any) -> None:
        self._container = container

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def add_node(self, op_type: str, *args: Any, **attrs: Any) -> Any:
        if op_type.startswith("TreeEnsemble") and "nodes_values" in attrs:
            attrs["nodes_values"] = [
                _floor_float32(value) if mode == "BRANCH_LEQ" else value
                for value, mode in zip(attrs["nodes_values"], attrs["nodes_modes"], strict=True)
            ]
        return self._container.add_node(op_type, *args, **attrs)


def _floor_float32(value: float) -> float:
    nearest = np.float32(value)
    return float(nearest if float(nearest) <= value else np.nextafter(nearest, np.float32(-np.inf)))


def _shape_one_double_column(operator: Any) -> None:
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = DoubleTensorType([rows, 1])


def _convert_ratio(scope: Any, operator: Any, container: Any) -> None:
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


def _convert_count(scope: Any, operator: Any, container: Any) -> None:
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


def _shape_same_columns_float(operator: Any) -> None:
    rows, columns = operator.inputs[0].type.shape
    operator.outputs[0].type = FloatTensorType([rows, columns])


def _convert_float32_cast(scope: Any, operator: Any, container: Any) -> None:
    container.add_node(
        "Cast",
        operator.inputs[0].full_name,
        operator.outputs[0].full_name,
        to=TensorProto.FLOAT,
        name=scope.get_unique_operator_name("Cast"),
    )


def _parse_to_float(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> list[Any]:
    operator = scope.declare_local_operator(get_model_alias(type(model)), model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("as_float32", FloatTensorType()))
    return list(operator.outputs)


def _parse_to_double(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> list[Any]:
    # The default parser guesses float32 for the output; these features are float64 end to end.
    operator = scope.declare_local_operator(get_model_alias(type(model)), model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("engineered", DoubleTensorType()))
    return list(operator.outputs)


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
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
