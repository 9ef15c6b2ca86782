"""The one writer of the logged model: a models-from-code pyfunc with its artifacts, code and pinned requirements.

A version holds the skops pipeline, its ONNX form, the contract and a typical customer
(`churn_model.ARTIFACT_FILES`), a copy of the churnops modules it imports (`churn_model.MODEL_CODE`)
and requirements pinned from the running environment, so it loads and scores in a clean venv.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import AnyType, ColSpec, Schema, TensorSpec
from sklearn.pipeline import Pipeline

import churnops
from churnops.data.contract import DatasetContract
from churnops.model import churn_model, onnx

MODEL_ARTIFACT = "model"


def log_model(pipeline: Pipeline, contract: DatasetContract, contract_file: Path, example: dict[str, Any], family: str, threshold: float) -> str:
    """Log the fitted pipeline as this run's model; returns its model URI. `example` is a typical customer (docs, forms)."""
    import skops.io  # noqa: PLC0415 - only logging a model writes skops files

    files = churn_model.ARTIFACT_FILES
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        onnx.export_onnx(pipeline, contract, root / files["onnx"])
        skops.io.dump(pipeline, root / files["pipeline"])
        shutil.copyfile(contract_file, root / files["contract"])
        (root / files["example"]).write_text(json.dumps(example), encoding="utf-8")
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=str(Path(churn_model.__file__).with_name("model_code.py")),
            artifacts={key: str(root / name) for key, name in files.items()},
            code_paths=[str(_model_code(root / "code"))],
            model_config={"threshold": threshold},
            signature=_signature(contract),
            input_example=pd.DataFrame([{name: example[name] for name in contract.feature_columns}]),
            metadata={"threshold": threshold, "positive_label": contract.target.positive, "family": family},
            pip_requirements=_requirements(family),
        )
    return str(info.model_uri)


def _model_code(destination: Path) -> Path:
    """The churnops modules the model imports, as a package folder for `code_paths`."""
    package = Path(churnops.__file__).parent
    target = destination / "churnops"
    for relative in churn_model.MODEL_CODE:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package / relative, target / relative)
    return target


def _signature(contract: DatasetContract) -> ModelSignature:
    """Column names documented, types left to the model: it accepts raw file codes and numbers as text, and checks them itself."""
    columns: list[ColSpec | TensorSpec] = [ColSpec(AnyType(), name, required=not spec.nullable) for name, spec in contract.columns.items()]
    if contract.id_column:
        columns.insert(0, ColSpec(AnyType(), contract.id_column, required=False))  # passed through, not scored
    inputs = Schema(columns)
    outputs = Schema([ColSpec("double", "churn_probability"), ColSpec("boolean", "churn")])
    return ModelSignature(inputs=inputs, outputs=outputs)


# What the logged model imports (see churn_model.MODEL_CODE), pinned from the running environment:
# a clean environment built from them loads and scores the version.
MODEL_REQUIREMENTS = ("scikit-learn", "skops", "numpy", "pandas", "scipy", "onnxruntime", "pandera", "pydantic", "pyyaml")


def _requirements(family: str) -> list[str]:
    """Pinned from the running environment (inferring them would re-import the model in a subprocess)."""
    packages = [*MODEL_REQUIREMENTS, "lightgbm"] if family == "lightgbm" else MODEL_REQUIREMENTS  # its pipeline (skops) holds a booster
    return [f"mlflow=={version('mlflow')}", *(f"{package}=={version(package)}" for package in packages)]
