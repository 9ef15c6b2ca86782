"""The logged model: an MLflow pyfunc (models-from-code) that applies the dataset contract itself.

`mlflow.pyfunc.load_model(uri).predict(frame)` takes customers as pandas reads the raw file (codes
such as SeniorCitizen 0/1, numbers as text with blanks, extra columns such as the id), refuses values
outside the contract with an error naming columns and rows, and returns `churn_probability` and
`churn` at the version's threshold. It scores with the version's ONNX file; the fitted sklearn
pipeline (skops) is an artifact too, loaded on first use of `.pipeline`.

A version ships the code it needs (`code_paths`: a copy of MODEL_CODE below) and pinned requirements,
so it loads in a clean environment built only from its own requirements.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow.artifacts
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from churnops.data.contract import DatasetContract, load_contract
from churnops.data.loading import validate_frame
from churnops.errors import ChurnopsError, DataError
from churnops.model.onnx import OnnxChurnModel

# Files of a version, under `artifacts/` in the model folder (versions logged before churnops 0.2 kept
# the ONNX file and the contract under `extra_files/`; readers look there too).
ARTIFACT_FILES = {"pipeline": "pipeline.skops", "onnx": "model.onnx", "contract": "contract.yaml", "example": "example.json"}
LEGACY_FOLDER = "extra_files"
# The churnops modules the model imports (this one and what it needs); copied into each version.
MODEL_CODE = [
    "__init__.py",
    "errors.py",
    "features.py",
    "data/__init__.py",
    "data/contract.py",
    "data/loading.py",
    "model/__init__.py",
    "model/onnx.py",
    "model/churn_model.py",
    "model/model_code.py",
]
OUTPUT_COLUMNS = ["churn_probability", "churn"]


class ContractViolation(MlflowException):
    """Input the contract refuses. An MlflowException with INVALID_PARAMETER_VALUE, so `mlflow models serve` answers 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


class ChurnModel(PythonModel):
    """Contract check + ONNX scoring + the version's threshold."""

    contract: DatasetContract
    threshold: float

    def load_context(self, context: Any) -> None:
        artifacts = context.artifacts
        self.contract = load_contract(artifacts["contract"])
        self.threshold = float((context.model_config or {})["threshold"])
        self.fast = OnnxChurnModel(artifacts["onnx"], self.contract)
        self._pipeline_file = Path(artifacts["pipeline"])
        self._pipeline: Any = None

    @property
    def pipeline(self) -> Any:
        """The fitted sklearn pipeline (skops), for explanations or sklearn tools: takes model frames (`validate_frame`)."""
        if self._pipeline is None:
            self._pipeline = load_pipeline(self._pipeline_file)
        return self._pipeline

    # A DataFrame hint tells MLflow to leave the input alone (no type-hint validation): the contract checks it.
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else _as_frame(model_input)
        try:
            features = validate_frame(frame, self.contract)
        except DataError as error:
            raise ContractViolation(str(error)) from None
        probabilities = self.fast.predict_proba(features)
        return pd.DataFrame({"churn_probability": probabilities, "churn": probabilities >= self.threshold})


def _as_frame(model_input: Any) -> pd.DataFrame:
    """Records, a dict of columns or one customer as a dict."""
    try:
        if isinstance(model_input, dict):
            values = list(model_input.values())
            return pd.DataFrame(model_input if values and all(isinstance(value, list) for value in values) else [model_input])
        return pd.DataFrame(model_input)
    except (ValueError, TypeError) as error:
        raise ContractViolation(f"Expected a table of customers (a DataFrame, records or a dict of columns): {error}") from None


# Types a churnops pipeline may contain besides sklearn's own (skops knows those): never anything else.
ALLOWED_PIPELINE_TYPES = frozenset(
    {
        "churnops.features.RatioFeature",
        "churnops.features.CountEqual",
        "churnops.features.Float32Cast",
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
        # LightGBM: skops stores the booster as its text model, the classifier's state as plain values.
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.basic.Booster",
        "collections.OrderedDict",
    }
)


def load_pipeline(path: Path | str) -> Any:
    """The skops file of a version, trusting only the types a churnops pipeline is built from."""
    import skops.io  # noqa: PLC0415 - only callers of the sklearn pipeline need skops

    untrusted = skops.io.get_untrusted_types(file=path)
    unexpected = sorted(set(untrusted) - ALLOWED_PIPELINE_TYPES)
    if unexpected:
        raise ChurnopsError(f"The pipeline file {path} contains types churnops does not trust: {', '.join(unexpected)}. It was not loaded.")
    return skops.io.load(path, trusted=untrusted)


def artifact_file(model_dir: Path, key: str) -> Path:
    """Where a version keeps one of ARTIFACT_FILES (new layout first, then the legacy one)."""
    name = ARTIFACT_FILES[key]
    current = model_dir / "artifacts" / name
    return current if current.is_file() else model_dir / LEGACY_FOLDER / name


def download_version(name: str, version: str, folder: Path | str) -> Path:
    """A registered version's model folder, downloaded into `folder`."""
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(folder)))


def save_version_contract(name: str, version: str, destination: Path) -> Path:
    """Copy the contract a registered version was trained with (it ships inside the version) to `destination`."""
    import shutil  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="churnops-contract-") as folder:
        path = artifact_file(download_version(name, version, folder), "contract")
        if not path.is_file():
            raise ChurnopsError(f"Model '{name}' version {version} ships no contract.yaml; pass --dataset with the contract it was trained with.")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    return destination


def version_contract(name: str, version: str) -> DatasetContract:
    """The contract a registered version was trained with."""
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="churnops-contract-") as folder:
        return load_contract(save_version_contract(name, version, Path(folder) / "contract.yaml"))


def read_example(model_dir: Path) -> dict[str, Any] | None:
    """The typical customer the version was trained on (docs examples), if it ships one."""
    path = artifact_file(model_dir, "example")
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None


def churn_probabilities(output: Any) -> np.ndarray:
    """P(churn) from a version's pyfunc output: the churn_probability column (or, for versions logged
    before churnops 0.2 as sklearn predict_proba, the second of two columns)."""
    if isinstance(output, pd.DataFrame) and "churn_probability" in output.columns:
        return output["churn_probability"].to_numpy(dtype=np.float64)
    values = np.asarray(output, dtype=np.float64)
    return values[:, 1] if values.ndim == 2 else values  # noqa: PLR2004 - one column per class


def load_logged_pipeline(model_uri: str) -> Any:
    """The fitted sklearn pipeline of a logged model (skops artifact; older versions: their sklearn flavor)."""
    model_dir = Path(mlflow.artifacts.download_artifacts(model_uri))
    skops_file = artifact_file(model_dir, "pipeline")
    if skops_file.is_file():
        return load_pipeline(skops_file)
    from mlflow import sklearn as sklearn_flavor  # noqa: PLC0415 - only versions older than the skops artifact

    return sklearn_flavor.load_model(model_uri)
