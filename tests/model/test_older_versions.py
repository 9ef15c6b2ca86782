"""A version logged before the `model/` package (its model_code.py imports churnops.training.churn_model)
still loads in a process where the current churnops is installed: the gate scores such a champion in-process."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import pandas as pd

from churnops.model.churn_model import churn_probabilities, download_version, read_example

OLD_IMPORT = "from churnops.training.churn_model import ChurnModel"
NEW_IMPORT = "from churnops.model.churn_model import ChurnModel"


def test_a_version_whose_code_imports_the_old_module_loads_and_scores(telco_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = telco_registry.registry.folder
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    mlflow.set_registry_uri(f"sqlite:///{folder / 'mlflow.db'}")
    current = download_version("churn-classifier", telco_registry.result.version, tmp_path / "current")
    older = tmp_path / "older"
    shutil.copytree(current, older)
    entries = [path for path in older.glob("*.py") if NEW_IMPORT in path.read_text(encoding="utf-8")]
    assert entries, f"no models-from-code entry importing {NEW_IMPORT!r} in {sorted(p.name for p in older.iterdir())}"
    for path in entries:
        path.write_text(path.read_text(encoding="utf-8").replace(NEW_IMPORT, OLD_IMPORT), encoding="utf-8")

    example = read_example(current)
    assert example is not None
    frame = pd.DataFrame([example])
    before = churn_probabilities(mlflow.pyfunc.load_model(str(current)).predict(frame))
    after = churn_probabilities(mlflow.pyfunc.load_model(str(older)).predict(frame))
    assert 0.0 < after[0] < 1.0
    assert abs(after[0] - before[0]) < 1e-12
