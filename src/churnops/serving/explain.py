"""Why a customer gets its churn probability: each feature's effect, against the typical training customer.

For every feature whose value differs from the reference (the served version's typical training
customer, `GET /contract`'s example), the same customer is scored with only that feature set to the
reference; the feature's effect is the customer's probability minus that one. The customer and all
its variants are scored in one model call. Nothing is stored or counted: `POST /explain` is for
the "why" and "what if" of a front end, not a prediction monitoring should see.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from churnops.model.served import ServedModel


def reference_record(customer_model: type[BaseModel], example: dict[str, Any]) -> dict[str, Any]:
    """The example as a request would be validated (so a number column's 20 is 20.0, as in the customer's record)."""
    try:
        return customer_model.model_validate(example).model_dump()
    except ValidationError:  # an example the contract refuses (not expected: /docs would show it): its raw values
        return dict(example)


def feature_effects(model: ServedModel, record: dict[str, Any], reference: dict[str, Any], features: list[str]) -> tuple[float, list[dict[str, Any]]]:
    """(the customer's probability, one contribution per feature sorted by |effect|, largest first)."""
    changed = [name for name in features if record.get(name) != reference.get(name)]
    scores = model.score([record, *({**record, name: reference.get(name)} for name in changed)])
    probability = float(scores[0])
    at_reference = {name: float(score) for name, score in zip(changed, scores[1:], strict=True)}
    contributions: list[dict[str, Any]] = [
        {
            "feature": name,
            "value": record.get(name),
            "reference": reference.get(name),
            "probability_at_reference": at_reference.get(name, probability),
            "effect": probability - at_reference.get(name, probability),  # exactly 0 at the reference: that variant is not scored
        }
        for name in features
    ]
    contributions.sort(key=lambda row: abs(float(row["effect"])), reverse=True)  # stable: ties keep the contract's order
    return probability, contributions
