"""Grouped settings, flat names: every CHURNOPS_* variable, keyword and as_environment() name is the flat one."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from churnops.errors import ConfigError
from churnops.settings import FLAT_NAMES, GROUPS, Settings, StoreSettings, environment_variable, load_settings

# Comma lists (what people type) for the NoDecode fields; everything else that is a list is JSON.
COMMA_LISTS = {"allowed_hosts", "allowed_origins"}


SAMPLES_BY_TYPE: dict[Any, Callable[[str, Any], Any]] = {
    bool: lambda name, default: not default,
    int: lambda name, default: 1 if default is None else default + 1,
    float: lambda name, default: 0.5 if default is None else default * 0.8,
    str: lambda name, default: f"value-{name}" if default is None else f"{default}-x",
    SecretStr: lambda name, default: SecretStr(f"secret-{name}"),
    Path: lambda name, default: Path(f"folder-{name}"),
}


def sample(name: str, default: Any, annotation: Any) -> Any:
    """A valid value unlike the default, chosen from the field's type alone (so a new field is covered without editing this)."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    kind = next(arg for arg in typing.get_args(annotation) if arg is not type(None)) if union else annotation
    if typing.get_origin(kind) is typing.Literal:
        return next(choice for choice in typing.get_args(kind) if choice != default)
    if typing.get_origin(kind) is list:
        item = typing.get_args(kind)[0]
        return [typing.get_args(item)[-1]] if typing.get_origin(item) is typing.Literal else [f"{name}.example.com", "b.example.org"]
    return SAMPLES_BY_TYPE[kind](name, default)


def samples() -> dict[str, Any]:
    defaults = Settings.model_construct().flat_values()
    return {name: sample(name, defaults[name], field.annotation) for name, field in Settings.flat_fields().items()}


def as_variable(name: str, value: Any) -> str:
    """How a person (or as_environment) writes `value` in the environment."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list):
        return ", ".join(value) if name in COMMA_LISTS else json.dumps(value)
    return str(value)


def plain(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value.get_secret_value() if isinstance(value, SecretStr) else value for name, value in values.items()}


def test_every_setting_has_one_flat_name_and_the_groups_cover_the_rest() -> None:
    assert (
        len(FLAT_NAMES) == len(Settings.flat_fields()) == 115
    )  # 82 from before grouping, all there, + 6 AZUREML_*, + 5 for the front end, + 9 LLM, + 5 comments, + 4 search, + 1 store durability, + 2 Spark
    grouped = {(group, name) for group, name in FLAT_NAMES.values() if group}
    assert grouped == {(group, name) for group, model in GROUPS.items() for name in model.model_fields}
    assert {name for name, (group, _) in FLAT_NAMES.items() if group is None} == set(Settings.model_fields) - set(GROUPS)
    for name in ("store_url", "spool_dir", "gate_min_roc_auc", "parity_tolerance", "search_trials", "smtp_host", "api_key", "auto_retrain"):
        assert name in FLAT_NAMES


def test_the_variable_names_are_the_flat_ones() -> None:
    assert FLAT_NAMES["store_url"] == ("store", "url")
    assert FLAT_NAMES["spool_dir"] == ("store", "spool_dir")
    assert FLAT_NAMES["gate_min_roc_auc"] == ("gate", "min_roc_auc")
    assert FLAT_NAMES["search_trials"] == ("search", "trials")
    assert FLAT_NAMES["smtp_host"] == ("alerts", "smtp_host")
    assert FLAT_NAMES["api_key"] == ("api", "key")
    assert FLAT_NAMES["tracking_uri"] == (None, "tracking_uri")
    assert environment_variable("store_url") == "CHURNOPS_STORE_URL"


@pytest.mark.parametrize("name", list(FLAT_NAMES))
def test_each_variable_sets_its_setting_and_nothing_else(name: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = plain(Settings().flat_values())
    value = plain({name: samples()[name]})
    assert value[name] != defaults[name]  # a real change
    monkeypatch.setenv(environment_variable(name), as_variable(name, samples()[name]))
    assert plain(Settings().flat_values()) == {**defaults, **value}


def test_the_env_file_is_read_by_flat_name_too(workdir: Path) -> None:
    values = samples()
    (workdir / ".env").write_text("".join(f"{environment_variable(name)}='{as_variable(name, value)}'\n" for name, value in values.items()))
    assert plain(Settings().flat_values()) == plain(values)
    other = workdir / "other.env"
    other.write_text("CHURNOPS_STORE_URL=sqlite:///other.db\nCHURNOPS_GATE_TOLERANCE=0.25\n")
    chosen = load_settings(env_file=other)
    assert chosen.store.url == "sqlite:///other.db" and chosen.gate.tolerance == 0.25


def test_sources_keep_their_priority_within_a_group(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / ".env").write_text("CHURNOPS_STORE_URL=sqlite:///dotenv.db\nCHURNOPS_STORE_BATCH_SIZE=7\nCHURNOPS_SPOOL_DIR=dotenv-spool\n")
    monkeypatch.setenv("CHURNOPS_STORE_URL", "sqlite:///environment.db")
    monkeypatch.setenv("CHURNOPS_STORE_BATCH_SIZE", "8")
    settings = Settings(store_batch_size=9)
    assert (settings.store.url, settings.store.batch_size, settings.store.spool_dir) == ("sqlite:///environment.db", 9, Path("dotenv-spool"))


def test_flat_keywords_nest_into_their_groups(workdir: Path) -> None:
    settings = Settings(store_url="sqlite:///x.db", search_trials=3, gate_min_roc_auc=0.6, smtp_recipients=["a@example.com"], seed=7)
    assert settings.store == StoreSettings(url="sqlite:///x.db")
    assert (settings.search.trials, settings.gate.min_roc_auc, settings.alerts.smtp_recipients, settings.seed) == (3, 0.6, ["a@example.com"], 7)
    loaded = load_settings(search_trials=5, data="a.csv", api_port=None)  # None: not overridden
    assert (loaded.search.trials, loaded.data, loaded.api.port) == (5, "a.csv", 8000)
    # the groups themselves, by field name or flat name, and a flat name beside its group
    assert Settings(store={"url": "sqlite:///y.db"}).store.url == "sqlite:///y.db"
    assert Settings(store=StoreSettings(store_batch_size=3), store_url="sqlite:///z.db").store == StoreSettings(url="sqlite:///z.db", batch_size=3)


def test_unknown_names_fail_and_say_which(workdir: Path) -> None:
    with pytest.raises(ValidationError, match="store_urll"):
        Settings(store_urll="sqlite:///x.db")  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match=r"search_trails: Extra inputs are not permitted"):
        load_settings(search_trails=3)
    (workdir / ".env").write_text("CHURNOPS_SEARCH_TRAILS=3\n")
    with pytest.raises(ConfigError, match="churnops_search_trails: Extra inputs are not permitted"):
        load_settings()


def test_bad_values_name_the_flat_setting(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"store_batch_size: Input should be greater than or equal to 1"):
        load_settings(store_batch_size=0)
    monkeypatch.setenv("CHURNOPS_ALLOWED_HOSTS", "api.*.example.com")
    with pytest.raises(ConfigError, match=r"allowed_hosts: Value error, 'api.\*.example.com' is not a host pattern"):
        load_settings()


@pytest.mark.parametrize(
    "name", ["api_key", "alert_webhook_url", "smtp_host", "elasticsearch_url", "kibana_api_key", "batch_input", "dataset", "gate_evaluation_data"]
)
def test_blank_values_are_unset(name: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(environment_variable(name), "  ")
    assert Settings().flat_values()[name] is None
    assert Settings(**{name: ""}).flat_values()[name] is None


def test_blank_schedules_and_hosts_and_synthetic_data(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNOPS_SCHEDULE_TRAINING_CRON", "")
    monkeypatch.setenv("CHURNOPS_ALLOWED_HOSTS", "")
    monkeypatch.setenv("CHURNOPS_DATA", "synthetic")
    settings = Settings()
    assert settings.schedule.training_cron is None and settings.schedule.monitoring_cron == "0 * * * *"
    assert settings.api.allowed_hosts is None and settings.data is None
    monkeypatch.setenv("CHURNOPS_ALLOWED_HOSTS", '["a.example.com", "*.b.example.com"]')
    assert Settings().api.allowed_hosts == ["a.example.com", "*.b.example.com"]


def test_as_environment_rebuilds_every_setting(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(**samples())
    environment = original.as_environment()
    assert set(environment) <= {environment_variable(name) for name in FLAT_NAMES}
    assert environment["CHURNOPS_STORE_URL"] == original.store.url and environment["CHURNOPS_API_KEY"] == "secret-api_key"
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    rebuilt = Settings()
    assert plain(rebuilt.flat_values()) == plain(original.flat_values())
    assert rebuilt == original
    defaults = Settings.model_construct()
    for key in list(environment):
        monkeypatch.delenv(key)
    for key, value in Settings().as_environment().items():  # unset (None) settings are left out, and stay unset
        monkeypatch.setenv(key, value)
    assert plain(Settings().flat_values()) == plain(defaults.flat_values())


def test_model_copy_takes_flat_names_and_updates_a_copy_of_the_group(workdir: Path) -> None:
    settings = Settings()
    copied = settings.model_copy(update={"store_url": "sqlite:///copy.db", "gate_min_roc_auc": 0.7, "seed": 3})
    assert (copied.store.url, copied.gate.min_roc_auc, copied.seed) == ("sqlite:///copy.db", 0.7, 3)
    assert copied.store.batch_size == settings.store.batch_size
    assert (settings.store.url, settings.gate.min_roc_auc, settings.seed) == ("sqlite:///predictions.db", None, 42)  # the original is untouched
    with pytest.raises(ValueError, match="store_urll"):
        settings.model_copy(update={"store_urll": "x"})


def test_allowed_training_sources(workdir: Path) -> None:
    settings = Settings(data="base.csv", retrain_allowed_data=["/data/other.csv"])
    assert settings.allows_training_source("base.csv") and settings.allows_training_source("/data/other.csv")
    assert not settings.allows_training_source("elsewhere.csv")
