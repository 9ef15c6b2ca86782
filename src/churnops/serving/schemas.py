"""Request and response models. The customer model is generated from the dataset contract, so the
API validates exactly what the model was trained on (types, allowed values, ranges) and /docs
shows a complete valid example taken from the contract."""

from __future__ import annotations

import keyword
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints, WithJsonSchema, create_model

from churnops.data.contract import ColumnSpec, DatasetContract, unique_name
from churnops.errors import ConfigError

PREDICTION_ID_PATTERN = r"^[0-9a-f]{32}$"
MAX_VERSION = 999_999_999  # registry versions are counters; larger numbers would overflow the registry's integer column
PRINTABLE_PATTERN = r"^[^\x00-\x1f\x7f]*$"  # no control characters
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


def customer_model(contract: DatasetContract, example: dict[str, Any] | None = None) -> type[BaseModel]:
    """A pydantic model with one field per contract column (plus the optional id column).

    Column names need not be Python identifiers ('monthly spend ($)', '2fa.enabled'): every field's alias
    is the column name, so requests, /docs, 422 locations and model_dump() all use the real names.
    `example` (a typical training customer, shipped with the version) is what /docs shows; without it the contract's examples.
    """
    example = {**contract.example_record(), **(example or {})}
    taken: set[str] = set()
    fields: dict[str, Any] = {_field_name(name, taken): _field(name, spec) for name, spec in contract.columns.items()}
    if contract.id_column:
        id_example = example.get(contract.id_column)
        fields[_field_name(contract.id_column, taken)] = (
            printable_text(200) | None,
            Field(
                None,
                alias=contract.id_column,
                title=contract.id_column,
                description="Your id for this customer (no control characters); stored with the prediction, not used by the model.",
                examples=[id_example] if id_example else None,
            ),
        )
    # Validated by alias only (the internal field names are not part of the API); dumped by alias.
    config = ConfigDict(
        extra="forbid", validate_by_alias=True, validate_by_name=False, serialize_by_alias=True, json_schema_extra={"examples": [example]}
    )
    model: type[BaseModel] = create_model(
        "Customer", __config__=config, __doc__=f"One customer as described by contract '{contract.name}'.", **fields
    )
    return model


def _field_name(column: str, taken: set[str]) -> str:
    """A Python identifier for `column`'s field: the name itself when it can be one, else a derived unique one."""
    usable = column.isidentifier() and not keyword.iskeyword(column) and not column.startswith(("_", "model_")) and not hasattr(BaseModel, column)
    return unique_name(column if usable else "field_" + (re.sub(r"\W+", "_", column).strip("_") or "column"), taken)


def _field(name: str, spec: ColumnSpec) -> tuple[Any, Any]:
    annotation: Any
    if spec.type == "categorical":
        if spec.values is None:  # ColumnSpec refuses this; the check also narrows the type
            raise ConfigError(f"Categorical column '{name}' has no 'values' in the contract.")
        annotation = Literal[tuple(spec.values)]
        if spec.encoding:
            annotation = Annotated[annotation, BeforeValidator(spec.decode)]  # raw file codes too, as the training loader accepts
        if any(_is_number_text(value) for value in spec.values):
            annotation = Annotated[annotation, BeforeValidator(_number_as_label)]  # a JSON 1 for the category "1" (pandas sends ints)
        detail = f"One of: {', '.join(spec.values)}."
    else:
        annotation = int if spec.type == "integer" else float
        detail = _range_text(spec)
    if spec.nullable:
        annotation = annotation | None
    if spec.is_numeric:  # around the optional type, so pydantic still applies the range and finiteness to the number
        annotation = Annotated[annotation, BeforeValidator(_not_a_boolean)]  # numbers and numeric strings (CSV), never booleans
    description = " ".join(part for part in (spec.description, detail) if part)
    field = Field(
        None if spec.nullable else ...,
        alias=name,
        title=name,
        description=description,
        examples=[spec.example_value()],
        ge=spec.min,
        le=spec.max,
        allow_inf_nan=False if spec.type == "number" else None,
    )
    return annotation, field


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number_as_label(value: object) -> object:
    """1 (or 1.0) -> "1" for categories that are numbers; booleans are left for the Literal check to refuse."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def printable_text(max_length: int) -> Any:
    """A string without control characters (NUL cannot be stored in PostgreSQL or passed as an argument; newlines forge log lines)."""
    return Annotated[
        str,
        StringConstraints(max_length=max_length),
        AfterValidator(_no_control_characters),
        WithJsonSchema({"type": "string", "maxLength": max_length, "pattern": PRINTABLE_PATTERN}),
    ]


def _no_control_characters(value: str) -> str:
    if CONTROL_CHARACTER.search(value):
        raise ValueError("contains a control character (NUL, tab, newline ...): send printable characters only")
    return value


def _not_a_boolean(value: object) -> object:
    """pydantic's lax mode reads true as 1; a boolean in a numeric column is a client bug, not a number."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got the boolean {str(value).lower()}: send the number itself (e.g. 0 or 1)")
    return value


def _range_text(spec: ColumnSpec) -> str:
    kind = "Whole number" if spec.type == "integer" else "Number"
    if spec.min is not None and spec.max is not None:
        return f"{kind} from {spec.min:g} to {spec.max:g}."
    if spec.min is not None:
        return f"{kind}, at least {spec.min:g}."
    if spec.max is not None:
        return f"{kind}, at most {spec.max:g}."
    return f"{kind}."


def batch_request_model(customer: type[BaseModel], max_batch_size: int, example: dict[str, Any]) -> type[BaseModel]:
    config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"customers": [example, example]}]})
    model: type[BaseModel] = create_model(
        "BatchRequest",
        __config__=config,
        __doc__="Customers to score in one call.",
        customers=(list[customer], Field(min_length=1, max_length=max_batch_size, description=f"1 to {max_batch_size} customers.")),  # type: ignore[valid-type]
    )
    return model


# A version as a JSON number or its digits; strict, so neither a boolean nor "03" or " 3" is read as one.
VersionNumber = Annotated[int, Strict(), Field(ge=1, le=MAX_VERSION)]
VersionText = Annotated[str, Strict(), StringConstraints(pattern=r"^[1-9][0-9]{0,8}$")]


class Prediction(BaseModel):
    """The churn prediction for one customer."""

    prediction_id: str = Field(description="Id of the stored prediction; send it back with /feedback.", examples=["3f2c5a0e9b8d4c7fa1e2d3c4b5a69788"])
    customer_id: str | None = Field(None, description="The id you sent, if any.")
    churn_probability: float = Field(ge=0, le=1, description="Probability that the customer churns.", examples=[0.72])
    churn: bool = Field(description="True when the probability is at or above the model's threshold.")
    label: str = Field(description="The predicted target label (the contract's positive or negative value).", examples=["Yes"])
    threshold: float = Field(ge=0, le=1, description="Decision threshold chosen on validation data at training time.")
    model_name: str
    model_version: str


class BatchPrediction(BaseModel):
    """Predictions in the order the customers were sent."""

    model_name: str
    model_version: str
    count: int
    predictions: list[Prediction]


class ModelInfo(BaseModel):
    """The model version being served and where it came from."""

    name: str
    version: str
    alias: str
    run_id: str | None = Field(description="MLflow training run of this version.")
    model_uri: str
    family: str | None
    metrics: dict[str, float] = Field(description="Test-set metrics recorded at registration.")
    threshold: float
    trained_at: datetime | None
    registered_at: datetime | None
    loaded_at: datetime
    data_fingerprint: str | None
    inference: Literal["onnx", "pyfunc"] = Field(description="onnx: the version's fast ONNX artifact; pyfunc: the MLflow model (fallback).")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Ready means: a model is loaded and the prediction store answers."""

    ready: bool
    model_version: str | None
    store: Literal["ok", "unreachable"]
    store_queue_depth: int
    spooled_records: int
    reasons: list[str] = Field(description="Why the service is not ready (empty when ready).")


class FeedbackIn(BaseModel):
    """The true outcome for an earlier prediction."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"prediction_id": "3f2c5a0e9b8d4c7fa1e2d3c4b5a69788", "churned": True}]}
    )

    prediction_id: str = Field(pattern=PREDICTION_ID_PATTERN, description="The prediction_id returned by a prediction endpoint.")
    churned: bool = Field(description="Whether the customer actually churned.")


class FeedbackAccepted(BaseModel):
    prediction_id: str
    churned: bool
    status: Literal["recorded"] = "recorded"


class RetrainRequest(BaseModel):
    """Optional overrides for the retraining run; everything else comes from the service's settings."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"data": "data/telco-customer-churn.csv", "trials": 12}]})

    data: printable_text(2000) | None = Field(  # type: ignore[valid-type]
        None, description="CSV path or URL to train on: CHURNOPS_DATA (the default) or one in CHURNOPS_RETRAIN_ALLOWED_DATA; no control characters."
    )
    trials: int | None = Field(None, ge=1, le=500, description="Optuna trials (default: the configured search budget).")


class Job(BaseModel):
    """A background retraining job."""

    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    version: str | None = Field(None, description="Model version the run registered.")
    promoted: bool | None = Field(None, description="Whether the gate promoted that version to champion.")
    reasons: list[str] = Field(default_factory=list, description="The gate's reasons.")
    error: str | None = None
    log_tail: str = Field("", description="Last lines of the pipeline's output.")


class ReloadResult(BaseModel):
    changed: bool = Field(description="True when a different version was loaded.")
    model: ModelInfo


class PromoteRequest(BaseModel):
    """The version to make champion (bypassing the gate) and why; recorded on the version and in a run, as `churnops promote` does."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"version": "3", "reason": "rolled forward after the incident review"}]}
    )

    version: VersionNumber | VersionText = Field(description='A registered version of the served model, as a number or its text (3 or "3").')
    reason: printable_text(500) = Field("promoted from the API", description="Why (no control characters).")  # type: ignore[valid-type]

    @property
    def version_text(self) -> str:
        return str(int(self.version))


class RollbackResult(BaseModel):
    from_version: str = Field(description="The champion before the rollback.")
    to_version: str = Field(description="The previous champion, champion again.")
    model: ModelInfo = Field(description="The version served after the rollback.")


class ContractInfo(BaseModel):
    """The dataset contract requests are validated with, and a typical training customer."""

    contract: dict[str, Any] = Field(
        description="The served contract (a churnops DatasetContract as JSON, unset fields left out): columns, types, allowed values, ranges."
    )
    example: dict[str, Any] = Field(description="The served version's typical training customer (the /docs example), keyed by column name.")


class Contribution(BaseModel):
    """How one feature's value moves this customer's churn probability away from the typical customer's value."""

    feature: str
    value: str | int | float | None = Field(description="This customer's value.")
    reference: str | int | float | None = Field(description="The typical training customer's value (GET /contract's example).")
    probability_at_reference: float = Field(ge=0, le=1, description="The churn probability with only this feature set to the reference.")
    effect: float = Field(
        description="churn_probability - probability_at_reference: positive when this value pushes the risk up; 0 at the reference."
    )


class Explanation(BaseModel):
    """The prediction for one customer (not stored, not counted) and each feature's effect on it, largest first."""

    churn_probability: float = Field(ge=0, le=1, description="As /predict answers for the same customer.")
    churn: bool
    label: str
    threshold: float = Field(ge=0, le=1)
    model_name: str
    model_version: str
    contributions: list[Contribution] = Field(description="One per feature column, sorted by |effect|, largest first.")


class ErrorBody(BaseModel):
    detail: str = Field(description="What is wrong and what to do.")


class InvocationsError(BaseModel):
    """MLflow scoring-server style error."""

    error_code: str = "BAD_REQUEST"
    message: str


class InvocationsRow(BaseModel):
    churn_probability: float = Field(ge=0, le=1)
    churn: bool = Field(description="At the version's threshold.")


class InvocationsResult(BaseModel):
    """Like `mlflow models serve` of the version: one row per customer, in the order sent."""

    predictions: list[InvocationsRow]
