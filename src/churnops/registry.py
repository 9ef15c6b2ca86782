"""The model registry: register versions, the promotion gate, promote and rollback by alias.

Aliases: `challenger` is the newest registered version; `champion` is what serving loads.
The registered model's tag `champion_history` lists past champions so rollback can go back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from churnops.data.contract import GateSpec
from churnops.data.sources import data_kind
from churnops.errors import RegistryError
from churnops.settings import GateSettings, Settings

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "champion_history"
ROLLBACK_MIN_HISTORY = 2  # the current champion and one before it


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)


def decide_promotion(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    parity_difference: float,
    gate: GateSettings,
    floors: GateSpec | None = None,
    evaluation: str = "the same test data",
    data_rule: str | None = None,
) -> GateDecision:
    """Promote only if every absolute threshold holds, the fast path matches, the data rule allows it,
    and the champion is not better (on the same evaluation set) by more than the tolerance.

    Floors: CHURNOPS_GATE_MIN_* when set, else the contract's `gate:` section (`floors`).
    `data_rule` is a failure found before scoring (e.g. synthetic data against a real-data champion).
    """
    floors = floors or GateSpec()
    min_roc_auc = gate.min_roc_auc if gate.min_roc_auc is not None else floors.min_roc_auc
    min_pr_auc = gate.min_pr_auc if gate.min_pr_auc is not None else floors.min_pr_auc
    failures: list[str] = [data_rule] if data_rule else []
    passes: list[str] = []
    roc_auc = challenger["roc_auc"]
    (passes if roc_auc >= min_roc_auc else failures).append(
        f"test ROC AUC {roc_auc:.4f} {'>=' if roc_auc >= min_roc_auc else '<'} minimum {min_roc_auc:.4f}"
    )
    pr_auc = challenger["pr_auc"]
    if min_pr_auc > 0:
        (passes if pr_auc >= min_pr_auc else failures).append(
            f"test PR AUC {pr_auc:.4f} {'>=' if pr_auc >= min_pr_auc else '<'} minimum {min_pr_auc:.4f}"
        )
    parity_ok = parity_difference <= gate.parity_tolerance
    (passes if parity_ok else failures).append(
        f"fast inference parity {parity_difference:.2e} {'<=' if parity_ok else '>'} tolerance {gate.parity_tolerance:.0e}"
    )
    if champion is None:
        passes.append("no current champion")
    else:
        floor = champion["roc_auc"] - gate.tolerance
        ok = roc_auc >= floor
        (passes if ok else failures).append(
            f"test ROC AUC {roc_auc:.4f} vs champion {champion['roc_auc']:.4f} on {evaluation} "
            f"({'within' if ok else 'worse than'} tolerance {gate.tolerance:.4f})"
        )
    return GateDecision(promote=not failures, reasons=failures or passes)


def register_version(client: MlflowClient, name: str, model_uri: str, tags: dict[str, Any]) -> ModelVersion:
    """A new version of `name`, tagged, with the `challenger` alias pointing at it."""
    version = mlflow.register_model(model_uri, name, tags={key: str(value) for key, value in tags.items()})
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    return version


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version number an alias points at, as a string (stores differ: int or str)."""
    found = version_by_alias(client, name, alias)
    return str(found.version) if found is not None else None


def get_version(client: MlflowClient, name: str, version: int | str) -> ModelVersion:
    try:
        return client.get_model_version(name, str(version))
    except MlflowException as error:
        raise RegistryError(f"Model '{name}' has no version {version}. List its versions with `churnops versions`.") from error


def champion_history(client: MlflowClient, name: str) -> list[str]:
    tags = client.get_registered_model(name).tags
    return list(json.loads(tags.get(HISTORY_TAG, "[]")))


def set_champion(client: MlflowClient, name: str, version: str, reasons: list[str], forced: bool = False) -> None:
    """Move `champion` to `version`, append it to the history and record why on the version."""
    get_version(client, name, version)
    history = [*champion_history(client, name), str(version)]
    client.set_registered_model_alias(name, CHAMPION, str(version))
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    client.set_model_version_tag(name, str(version), "promoted_at", datetime.now(UTC).isoformat())
    client.set_model_version_tag(name, str(version), "promotion", "forced" if forced else "gate")
    client.set_model_version_tag(name, str(version), "promotion_reasons", "; ".join(reasons))


def rollback(client: MlflowClient, name: str) -> tuple[str, str]:
    """Move `champion` back to the previous champion; returns (from_version, to_version)."""
    try:
        history = champion_history(client, name)
    except MlflowException as error:
        raise RegistryError(f"Model '{name}' is not registered yet; run `churnops pipeline` first.") from error
    current = version_by_alias(client, name, CHAMPION)
    if current is None or len(history) < ROLLBACK_MIN_HISTORY:
        raise RegistryError(f"Model '{name}' has no previous champion to roll back to (history: {history or 'empty'}).")
    history.pop()
    previous = history[-1]
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    client.set_model_version_tag(name, current.version, "rolled_back_at", datetime.now(UTC).isoformat())
    return str(current.version), previous


def record_decision(settings: Settings, action: str, version: str, decision: GateDecision, links: dict[str, str], metrics: dict[str, float]) -> str:
    """A run in the training experiment that records a gate decision, forced promotion or rollback."""
    with mlflow.start_run(run_name=f"{action}-v{version}") as run:
        mlflow.set_tags(
            {
                "churnops.kind": action,
                "model_name": settings.model_name,
                "model_version": version,
                "decision": "promote" if decision.promote else "reject",
                "reasons": "; ".join(decision.reasons),
                **links,
            }
        )
        if metrics:
            mlflow.log_metrics(metrics)
        mlflow.log_dict({"action": action, "version": version, "promote": decision.promote, "reasons": decision.reasons}, "decision.json")
    return str(run.info.run_id)


def force_promote(client: MlflowClient, settings: Settings, version: str, reason: str) -> str:
    """Make `version` champion without the gate; recorded on the version and in a run. Returns the run id."""
    get_version(client, settings.model_name, version)
    decision = GateDecision(True, [f"forced: {reason}"])
    set_champion(client, settings.model_name, version, decision.reasons, forced=True)
    return record_decision(settings, "promote", version, decision, {"forced": "true"}, {})


def rollback_and_record(client: MlflowClient, settings: Settings) -> tuple[str, str]:
    """`rollback`, plus a run that records it. Returns (from_version, to_version)."""
    current, previous = rollback(client, settings.model_name)
    record_decision(settings, "rollback", previous, GateDecision(True, [f"rollback from version {current}"]), {"rolled_back_from": current}, {})
    return current, previous


def version_data_kind(client: MlflowClient, version: Any) -> str:
    """synthetic / file / url for a registered version (older versions: from their training run's data_source)."""
    kind = (version.tags or {}).get("data_kind")
    if kind:
        return str(kind)
    try:
        source = client.get_run(version.run_id).data.params.get("data_source", "")
    except Exception:  # noqa: BLE001 - a deleted run: treat as real data, the safe side for the synthetic rule
        return "file"
    return data_kind(source)
