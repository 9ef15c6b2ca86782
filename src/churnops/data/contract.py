"""The dataset contract: a YAML file that declares columns, types, allowed values and the target.

Nothing else in the package names a dataset column; everything is driven by this object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from churnops.errors import ConfigError

RATIO_COLUMNS = 2  # a ratio feature: numerator and denominator


class YamlBoolean(str):
    """An unquoted YAML 1.1 boolean (yes/no/true/false/on/off), kept as the text the contract's author typed.

    Boolean settings (`nullable: yes`) still validate as booleans; a label such as `positive: Yes`
    is refused with the exact word to quote, instead of silently becoming True.
    """

    __slots__ = ()


class _ContractLoader(yaml.SafeLoader):
    """safe_load, except that booleans keep their text (see YamlBoolean)."""


_ContractLoader.add_constructor(
    "tag:yaml.org,2002:bool",
    lambda loader, node: YamlBoolean(loader.construct_scalar(node)),  # type: ignore[arg-type]
)


def _label(value: object) -> object:
    """A target label or category as text: YAML gives ints/floats for unquoted numbers (`positive: 1`); booleans are refused."""
    if isinstance(value, YamlBoolean | bool):
        word = str(value) if isinstance(value, YamlBoolean) else str(value).lower()
        raise ValueError(f'unquoted {word} is a YAML boolean, not a label; write it in quotes exactly as the data file has it, e.g. "{word}"')
    if isinstance(value, int | float):
        return str(value)
    return value


Label = Annotated[str, BeforeValidator(_label)]


def _code_text(code: object) -> object:
    """A file code as text (YAML's `1:` and `1.0:` are '1'); anything else is left for validation to judge."""
    if isinstance(code, float) and code.is_integer():
        return str(int(code))
    return str(code) if isinstance(code, int | str) and not isinstance(code, bool) else code


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """One input column of the model."""

    type: Literal["categorical", "integer", "number"]
    values: list[Label] | None = None
    encoding: dict[str, str] | None = Field(
        default=None, description="Raw file value (as text: YAML's `0:` is '0') -> contract value, applied before validation."
    )
    min: float | None = None
    max: float | None = None
    nullable: bool = False
    example: str | float | int | None = None
    description: str = ""

    @field_validator("encoding", mode="before")
    @classmethod
    def _codes_are_text(cls, value: object) -> object:
        # The file's codes as text, as decode compares them: the contract is then the same after a trip through JSON (GET /contract).
        return {_code_text(code): label for code, label in value.items()} if isinstance(value, dict) else value

    @field_validator("example", mode="before")
    @classmethod
    def _categorical_example_is_text(cls, value: object, info: Any) -> object:
        # `example: 1` for a categorical whose values are the numbers [0, 1] (held as "0", "1").
        return _label(value) if info.data.get("type") == "categorical" and value is not None else value

    @model_validator(mode="after")
    def _categorical_has_values(self) -> ColumnSpec:
        if self.type == "categorical" and not self.values:
            raise ValueError("a categorical column needs a non-empty 'values' list")
        if self.type != "categorical" and self.values:
            raise ValueError("'values' is only allowed for categorical columns")
        return self

    def decode(self, value: object) -> object:
        """A raw file code as its contract value (e.g. SeniorCitizen 1 or "1" -> "Yes"); anything else unchanged."""
        if not self.encoding or isinstance(value, bool) or not isinstance(value, (int, str)):
            return value
        return self.encoding.get(str(value), value)

    @property
    def is_numeric(self) -> bool:
        return self.type != "categorical"

    def example_value(self) -> str | float | int:
        """A valid example for docs and tests."""
        if self.example is not None:
            return self.example
        if self.values:
            return self.values[0]
        low = self.min if self.min is not None else 0.0
        return int(low) if self.type == "integer" else float(low)


class TargetSpec(_Strict):
    column: str
    positive: Label = Field(description="The target value of a churner, as the file has it (an unquoted number such as 1 is read as '1').")
    negative: Label


class DownloadSpec(_Strict):
    url: str
    sha256: str | None = None


class EngineeredFeature(_Strict):
    """A feature computed inside the model pipeline from contract columns."""

    name: str
    kind: Literal["ratio", "count_equal"]
    columns: list[str]
    value: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _shape(self) -> EngineeredFeature:
        if self.kind == "ratio" and len(self.columns) != RATIO_COLUMNS:
            raise ValueError("a 'ratio' feature takes exactly two columns: [numerator, denominator]")
        if self.kind == "count_equal" and (self.value is None or not self.columns):
            raise ValueError("a 'count_equal' feature needs 'columns' and the 'value' to count")
        return self


class GateSpec(_Strict):
    """Absolute floors a new version must reach on the evaluation set before it can become champion.

    They belong to the data set: what is a good ROC AUC depends on how much signal the data has.
    The default 0.70 only catches broken pipelines (a model with no signal scores about 0.5); set
    it from a baseline on your data. CHURNOPS_GATE_MIN_ROC_AUC / _MIN_PR_AUC override it.
    """

    min_roc_auc: float = Field(default=0.70, ge=0, le=1)
    min_pr_auc: float = Field(default=0.0, ge=0, le=1)


class DatasetContract(_Strict):
    name: str
    description: str = ""
    download: DownloadSpec | None = None
    id_column: str | None = None
    target: TargetSpec
    min_rows_per_class: int = Field(default=20, ge=2)
    columns: dict[str, ColumnSpec]
    engineered_features: list[EngineeredFeature] = []
    gate: GateSpec = GateSpec()

    @field_validator("columns", mode="before")
    @classmethod
    def _column_names_are_text(cls, value: object) -> object:
        # An unquoted column named 2024 (or yes) is a YAML int (or boolean); the file's header holds text.
        if isinstance(value, dict):
            return {str(name) if isinstance(name, int | float | str) else name: spec for name, spec in value.items()}
        return value

    @model_validator(mode="after")
    def _references_exist(self) -> DatasetContract:
        for feature in self.engineered_features:
            for column in feature.columns:
                spec = self.columns.get(column)
                if spec is None:
                    raise ValueError(f"engineered feature '{feature.name}' uses unknown column '{column}'")
                if feature.kind == "count_equal" and spec.is_numeric:
                    raise ValueError(f"'{feature.name}' counts values of '{column}', which is not categorical")
                if feature.kind == "ratio" and not spec.is_numeric:
                    raise ValueError(f"'{feature.name}' divides '{column}', which is not numeric")
        if self.target.column in self.columns or self.target.column == self.id_column:
            raise ValueError(f"target column '{self.target.column}' must not also be a feature or the id")
        return self

    @property
    def feature_columns(self) -> list[str]:
        return list(self.columns)

    @property
    def categorical_columns(self) -> list[str]:
        return [name for name, spec in self.columns.items() if spec.type == "categorical"]

    @property
    def numeric_columns(self) -> list[str]:
        return [name for name, spec in self.columns.items() if spec.is_numeric]

    @property
    def input_columns(self) -> list[str]:
        """Columns a file of customers to score must have: the id (when the contract has one) and the features."""
        id_columns = [self.id_column] if self.id_column else []
        return [*id_columns, *self.columns]

    @property
    def required_columns(self) -> list[str]:
        """Columns a training file must have: the inputs and the target."""
        return [*self.input_columns, self.target.column]

    def example_record(self) -> dict[str, str | float | int]:
        return {name: spec.example_value() for name, spec in self.columns.items()}


# Contracts shipped with the package, by name: `--dataset telco` works from any folder.
BUILTIN_CONTRACTS = {"telco": Path(__file__).parent / "contracts" / "telco.yaml"}
DEFAULT_CONTRACT = "telco"


def contract_path(dataset: str | Path | None) -> Path:
    """The YAML file behind `--dataset`: a built-in name (default telco) or a path."""
    if dataset is None:
        return BUILTIN_CONTRACTS[DEFAULT_CONTRACT]
    return BUILTIN_CONTRACTS.get(str(dataset), Path(dataset))


def load_contract(path: str | Path | None) -> DatasetContract:
    """Read and check a contract YAML file (a path, or the name of a built-in contract)."""
    path = contract_path(path)
    if not path.is_file():
        builtin = ", ".join(BUILTIN_CONTRACTS)
        raise ConfigError(f"Dataset contract '{path}' does not exist. Pass --dataset with a contract YAML file or a built-in name ({builtin}).")
    try:
        raw = _read_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"Dataset contract '{path}' is not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"Dataset contract '{path}' must be a YAML mapping (name, target, columns, ...).")
    try:
        return DatasetContract.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(f"{_location(issue['loc'])}: {issue['msg']}" for issue in error.errors())
        raise ConfigError(f"Dataset contract '{path}' is invalid: {problems}") from error


def _read_yaml(text: str) -> Any:
    """What yaml.safe_load does, with _ContractLoader (a SafeLoader: no arbitrary objects)."""
    loader = _ContractLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _location(loc: tuple[int | str, ...]) -> str:
    """columns.tenure.min; a column name that is not an identifier is quoted: columns.'2fa.enabled'.values.0."""
    parts = [str(part) if isinstance(part, int) or part.isidentifier() else repr(part) for part in loc]
    return ".".join(parts) or "(top level)"


def unique_name(candidate: str, taken: set[str]) -> str:
    """`candidate`, or `candidate_2`, `candidate_3`... whichever is not in `taken`; the result is added to `taken`."""
    unique, number = candidate, 1
    while unique in taken:
        number += 1
        unique = f"{candidate}_{number}"
    taken.add(unique)
    return unique
