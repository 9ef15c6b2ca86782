"""The fast inference form of a whole pipeline: ONNX (skl2onnx) run by onnxruntime, with a parity check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from churnops.data.contract import DatasetContract
from churnops.errors import ChurnopsError

if TYPE_CHECKING:  # scoring needs no scikit-learn import (a Spark worker imports this module: seconds saved per worker)
    from sklearn.pipeline import Pipeline

# Opset 19 is the first where Equal accepts strings (count_equal features); ai.onnx.ml 3 for trees.
TARGET_OPSET = {"": 19, "ai.onnx.ml": 3}
FILE_NAME = "model.onnx"
# ONNX metadata: {ONNX input name: contract column}. skl2onnx turns column names into identifiers of its own
# ('monthly spend ($)' -> 'monthly_spend____', '1st-visit hour' -> '_1st_visit_hour', clashes numbered), so the
# names the session expects are not the contract's; this records which input is which column.
INPUT_COLUMNS_KEY = "churnops.input_columns"


class FastPathError(ChurnopsError):
    """The ONNX artifact and the contract it is used with do not fit together."""


def export_onnx(pipeline: Pipeline, contract: DatasetContract, path: Path) -> Path:
    """Convert the fitted pipeline; one named input per contract column (string or float64)."""
    # skl2onnx costs about a second and 30 MB at import; the API imports this module only to score, so it loads here.
    from skl2onnx import to_onnx  # noqa: PLC0415 - only the export needs skl2onnx
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType  # noqa: PLC0415 - only the export needs skl2onnx

    from churnops.model import onnx_converters  # noqa: PLC0415 - imports skl2onnx

    onnx_converters.register()
    inputs = [
        (name, StringTensorType([None, 1]) if spec.type == "categorical" else DoubleTensorType([None, 1])) for name, spec in contract.columns.items()
    ]
    classifier = pipeline.steps[-1][1]
    onnx_model = to_onnx(pipeline, initial_types=inputs, target_opset=TARGET_OPSET, options={id(classifier): {"zipmap": False}})
    # skl2onnx keeps the order of `initial_types` (only the names change), so the n-th graph input is the n-th column.
    input_names = [item.name for item in onnx_model.graph.input]
    if len(input_names) != len(contract.feature_columns):
        raise FastPathError(
            f"The ONNX export has {len(input_names)} inputs for {len(contract.feature_columns)} contract columns; it cannot be served."
        )
    entry = onnx_model.metadata_props.add()
    entry.key, entry.value = INPUT_COLUMNS_KEY, json.dumps(dict(zip(input_names, contract.feature_columns, strict=True)))
    path.write_bytes(onnx_model.SerializeToString())
    return path


class OnnxChurnModel:
    """Scores model-frame rows with an onnxruntime session; returns churn probabilities."""

    def __init__(self, path: Path | str, contract: DatasetContract) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # single rows are latency-bound; threads only add overhead
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.categorical = set(contract.categorical_columns)
        self.inputs = input_columns(self.session, contract, path)  # (ONNX input name, contract column) pairs
        self.probability_output = self.session.get_outputs()[1].name

    def feed(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return {
            name: frame[column].to_numpy(dtype=object if column in self.categorical else np.float64).reshape(-1, 1) for name, column in self.inputs
        }

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self._run(self.feed(frame))

    def predict_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Score validated records without building a DataFrame (the API's per-request path)."""
        feed = {
            name: np.array([record[column] for record in records], dtype=object if column in self.categorical else np.float64).reshape(-1, 1)
            for name, column in self.inputs
        }
        return self._run(feed)

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        probabilities = self.session.run([self.probability_output], feed)[0]
        return np.asarray(probabilities[:, 1], dtype=np.float64)


def input_columns(session: ort.InferenceSession, contract: DatasetContract, path: Path | str) -> list[tuple[str, str]]:
    """Which contract column feeds each ONNX input: recorded by the export; for older exports, by name, else by position."""
    names = [item.name for item in session.get_inputs()]
    recorded = session.get_modelmeta().custom_metadata_map.get(INPUT_COLUMNS_KEY)
    if recorded:
        pairs = list(json.loads(recorded).items())
    elif set(names) == set(contract.feature_columns):
        pairs = [(name, name) for name in names]
    else:
        pairs = list(zip(names, contract.feature_columns, strict=False))
    if sorted(name for name, _ in pairs) != sorted(names) or sorted(column for _, column in pairs) != sorted(contract.feature_columns):
        raise FastPathError(
            f"ONNX model '{path}' takes the columns {[column for _, column in pairs]}, but the contract '{contract.name}' has "
            f"{contract.feature_columns}. Use the contract the model was trained with (its extra_files/contract.yaml)."
        )
    return pairs


def parity_difference(pipeline: Pipeline, fast_model: OnnxChurnModel, frame: pd.DataFrame) -> float:
    """Largest |p_fast - p_sklearn| over `frame`."""
    reference = pipeline.predict_proba(frame)[:, 1]
    return float(np.max(np.abs(fast_model.predict_proba(frame) - reference)))
