"""The analysis prompt in the MLflow prompt registry: register versions, load one by alias, move the alias.

A prompt file (YAML: system, user with {{comment}}, temperature) becomes a chat prompt version; its
generation settings travel with it as the version's model config. Analyses load `prompts:/NAME@ALIAS`
(cached for 30 s, so a promoted version is picked up within that) and record the version they used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import yaml
from mlflow import MlflowClient

from churnops.comments.analysis import CommentAnalysis
from churnops.errors import ConfigError, RegistryError
from churnops.settings import CommentsSettings

BUILT_IN_PROMPT = Path(__file__).with_name("prompts") / "comment-analysis.yaml"
ALIAS_CACHE_SECONDS = 30.0
VARIABLE = "{{comment}}"
MAX_TEMPERATURE = 2


@dataclass(frozen=True)
class Prompt:
    """A loaded prompt version: its messages (with {{comment}} unfilled) and generation settings."""

    name: str
    version: int
    messages: list[dict[str, str]]
    temperature: float

    @property
    def uri(self) -> str:
        return f"prompts:/{self.name}/{self.version}"

    def format(self, comment: str) -> list[dict[str, str]]:
        return [{"role": message["role"], "content": message["content"].replace(VARIABLE, comment)} for message in self.messages]


def read_prompt_file(path: Path) -> tuple[list[dict[str, str]], float]:
    """A prompt file's chat messages and temperature; a clear ConfigError for anything else."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Prompt file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"Prompt file {path} cannot be read as YAML: {exc}.") from None
    example = f"see the built-in prompt {BUILT_IN_PROMPT}"
    if not isinstance(document, dict) or not isinstance(document.get("user"), str):
        raise ConfigError(f"Prompt file {path} needs a `user` text (and may have `system` and `temperature`): {example}.")
    unknown = sorted(set(document) - {"system", "user", "temperature"})
    if unknown:
        raise ConfigError(f"Prompt file {path} has unknown keys {', '.join(unknown)}: only system, user and temperature are read ({example}).")
    if VARIABLE not in document["user"]:
        raise ConfigError(f"Prompt file {path}: the user text must contain {VARIABLE}, where the comment goes ({example}).")
    system = document.get("system")
    if system is not None and not isinstance(system, str):
        raise ConfigError(f"Prompt file {path}: `system` must be text ({example}).")
    temperature = document.get("temperature", 0.0)
    if not isinstance(temperature, int | float) or isinstance(temperature, bool) or not 0 <= temperature <= MAX_TEMPERATURE:
        raise ConfigError(f"Prompt file {path}: `temperature` must be a number from 0 to 2, got {temperature!r}.")
    messages = ([{"role": "system", "content": system.strip()}] if system else []) + [{"role": "user", "content": document["user"].strip()}]
    return messages, float(temperature)


def register_prompt(settings: CommentsSettings, path: Path, message: str | None = None) -> Prompt:
    """A new version of the prompt from `path` (no alias moves: promotion goes through the gate)."""
    messages, temperature = read_prompt_file(path)
    version = mlflow.genai.register_prompt(
        name=settings.prompt_name,
        template=messages,
        commit_message=message or f"from {path.name}",
        tags={"source_file": path.name},
        response_format=CommentAnalysis,
        model_config={"temperature": temperature},
    )
    return Prompt(settings.prompt_name, int(version.version), messages, temperature)


def _as_prompt(version: Any) -> Prompt:
    template = version.template
    if isinstance(template, str):  # a text prompt registered by hand: treat it as the user message
        template = [{"role": "user", "content": template}]
    temperature = float((getattr(version, "model_config", None) or {}).get("temperature", 0.0))
    messages = [{"role": str(message["role"]), "content": str(message["content"])} for message in template]
    return Prompt(str(version.name), int(version.version), messages, temperature)


def load_prompt(settings: CommentsSettings, version: int | None = None) -> Prompt:
    """The version analyses use (`@alias`), or a given version. Registers the built-in prompt as the first production version."""
    name = settings.prompt_name
    uri = f"prompts:/{name}/{version}" if version is not None else f"prompts:/{name}@{settings.prompt_alias}"
    try:
        loaded = mlflow.genai.load_prompt(uri, allow_missing=True, link_to_model=False, cache_ttl_seconds=ALIAS_CACHE_SECONDS)
    except mlflow.exceptions.MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" not in str(exc.error_code) and "not found" not in str(exc).lower():
            raise
        loaded = None
    if loaded is not None:
        return _as_prompt(loaded)
    if version is not None:
        raise RegistryError(f"Prompt {name!r} has no version {version}: `churnops comments prompt list` shows its versions.")
    if _versions(name):
        raise RegistryError(
            f"Prompt {name!r} has versions but none is @{settings.prompt_alias}: promote one with `churnops comments evaluate --version N --promote`."
        )
    first = register_prompt(settings, BUILT_IN_PROMPT, "the built-in prompt")
    mlflow.genai.set_prompt_alias(name, settings.prompt_alias, first.version)
    return first


def set_alias(settings: CommentsSettings, version: int) -> None:
    mlflow.genai.set_prompt_alias(settings.prompt_name, settings.prompt_alias, version)


def _versions(name: str) -> list[Any]:
    try:
        return list(MlflowClient().search_prompt_versions(name))
    except Exception as exc:  # the registry says "not found" in several ways across backends
        if "not found" in str(exc).lower() or "does not exist" in str(exc).lower() or "RESOURCE_DOES_NOT_EXIST" in str(exc):
            return []
        raise


def prompt_versions(settings: CommentsSettings) -> list[dict[str, Any]]:
    """Every version of the prompt, newest first, with its aliases and commit message (for `churnops comments prompt list`)."""
    rows = []
    # Searches do not always carry aliases: the configured one is resolved as analyses resolve it.
    current = mlflow.genai.load_prompt(f"prompts:/{settings.prompt_name}@{settings.prompt_alias}", allow_missing=True, link_to_model=False)
    for version in _versions(settings.prompt_name):
        aliases = set(getattr(version, "aliases", []) or [])
        if current is not None and int(current.version) == int(version.version):
            aliases.add(settings.prompt_alias)
        rows.append(
            {
                "version": int(version.version),
                "aliases": sorted(aliases),
                "message": getattr(version, "commit_message", None) or "",
                "created": getattr(version, "creation_timestamp", None),
            }
        )
    return sorted(rows, key=lambda row: row["version"], reverse=True)
