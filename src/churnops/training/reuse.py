"""Whether the champion can be reused instead of retrained: a training key over data, code and settings.

`register_and_gate` tags every version with its key; `churnops pipeline --reuse` (what `make run`
uses) skips training when the current champion carries the key the run would produce.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from churnops.data.contract import contract_path
from churnops.settings import Settings

TRAINING_KEY_TAG = "training_key"
PACKAGE = Path(__file__).resolve().parent
# Settings (flat names) that change what is trained or whether it is promoted; the gate group is added whole, so a
# gate setting added later counts without editing this list. Tracking, serving and monitoring settings do not count.
TRAINING_SETTINGS = (
    "seed",
    "test_size",
    "validation_size",
    "synthetic_rows",
    "families",
    "search_trials",
    "search_timeout_seconds",
    "cv_folds",
    "threshold_metric",
)


@cache
def code_digest() -> str:
    """SHA-256 over the churnops package's files (path and content), so any code change means a new key."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            digest.update(path.relative_to(PACKAGE).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def training_settings(settings: Settings) -> dict[str, Any]:
    values = settings.flat_values()
    chosen = {name: values[name] for name in TRAINING_SETTINGS}
    chosen.update(settings.gate.model_dump(by_alias=True))  # gate_min_roc_auc, ..., parity_tolerance
    return chosen


def training_key(settings: Settings, data_fingerprint: str) -> str:
    """SHA-256 of the data fingerprint, the package code, the contract file's content and the training settings."""
    contract = contract_path(settings.dataset)
    payload = {
        "data_fingerprint": data_fingerprint,
        "code": code_digest(),
        "contract": hashlib.sha256(contract.read_bytes()).hexdigest() if contract.is_file() else str(contract),
        "settings": training_settings(settings),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def reusable_champion(client: Any, settings: Settings, key: str) -> str | None:
    """The champion's version number when it was trained with exactly this key, else None."""
    from churnops import registry  # noqa: PLC0415 - mlflow only when a registry is asked

    champion = registry.version_by_alias(client, settings.model_name, registry.CHAMPION)
    if champion is None or (champion.tags or {}).get(TRAINING_KEY_TAG) != key:
        return None
    return str(champion.version)
