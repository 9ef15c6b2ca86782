"""The fast inference form of a whole pipeline: ONNX (skl2onnx) run by onnxruntime, with a parity check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from sklearn.pipeline import Pipeline

from churnops.data.contract import DatasetContract

# Opset 19 is the first where Equal accepts strings (count_equal features); ai.onnx.ml 3 for trees.
TARGET_OPSET = {"": 19, "ai.onnx.ml": 3}
FILE_NAME = "model.onnx"


def export_onnx(pipeline: Pipeline, contract: DatasetContract, path: Path) -> Path:
    """Convert the fitted pipeline; one named input per contract column (string or float64)."""
    # skl2onnx costs about a second and 30 MB at import; the API imports this module only to score, so it loads here.
    from skl2onnx import to_onnx  # noqa: PLC0415 - only the export needs skl2onnx
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType  # noqa: PLC0415 - only the export needs skl2onnx

    from churnops.training import onnx_converters  # noqa: PLC0415 - imports skl2onnx

    onnx_converters.register()
    inputs = [
        (name, StringTensorType([None, 1]) if spec.type == "categorical" else DoubleTensorType([None, 1])) for name, spec in contract.columns.items()
    ]
    classifier = pipeline.steps[-1][1]
    onnx_model = to_onnx(pipeline, initial_types=inputs, target_opset=TARGET_OPSET, options={id(classifier): {"zipmap": False}})
    path.write_bytes(onnx_model.SerializeToString())
    return path


class OnnxChurnModel:
    """Scores model-frame rows with an onnxruntime session; returns churn probabilities."""

    def __init__(self, path: Path | str, contract: DatasetContract) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # single rows are latency-bound; threads only add overhead
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.categorical = set(contract.categorical_columns)
        self.columns = contract.feature_columns
        self.probability_output = self.session.get_outputs()[1].name

    def feed(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return {name: frame[name].to_numpy(dtype=object if name in self.categorical else np.float64).reshape(-1, 1) for name in self.columns}

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self._run(self.feed(frame))

    def predict_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Score validated records without building a DataFrame (the API's per-request path)."""
        feed = {
            name: np.array([record[name] for record in records], dtype=object if name in self.categorical else np.float64).reshape(-1, 1)
            for name in self.columns
        }
        return self._run(feed)

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        probabilities = self.session.run([self.probability_output], feed)[0]
        return np.asarray(probabilities[:, 1], dtype=np.float64)


def parity_difference(pipeline: Pipeline, fast_model: OnnxChurnModel, frame: pd.DataFrame) -> float:
    """Largest |p_fast - p_sklearn| over `frame`."""
    reference = pipeline.predict_proba(frame)[:, 1]
    return float(np.max(np.abs(fast_model.predict_proba(frame) - reference)))
