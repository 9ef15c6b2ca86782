"""What an analysis of one comment is: the fixed taxonomy and the Pydantic model the LLM's JSON must validate against."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

Sentiment = Literal["positive", "neutral", "negative", "mixed"]
ChurnRisk = Literal["low", "medium", "high"]
Reason = Literal[
    "price",
    "network_quality",
    "customer_service",
    "billing",
    "contract_terms",
    "competitor_offer",
    "moving",
    "other",
]

SENTIMENTS: tuple[str, ...] = get_args(Sentiment)
CHURN_RISKS: tuple[str, ...] = get_args(ChurnRisk)
REASONS: tuple[str, ...] = get_args(Reason)
MAX_REASONS = 3
MAX_SUMMARY_CHARS = 240


class CommentAnalysis(BaseModel):
    """One comment's analysis. Its JSON schema is the `format` sent to the Ollama API, so the model can only write this shape."""

    model_config = ConfigDict(extra="forbid")

    sentiment: Sentiment = Field(description="The customer's overall tone; mixed when praise and complaint are both clear.")
    churn_risk: ChurnRisk = Field(description="How likely the comment says the customer is to leave.")
    reasons: list[Reason] = Field(max_length=MAX_REASONS, description="What the comment is about (complaints or praise), most important first.")
    summary: str = Field(max_length=MAX_SUMMARY_CHARS, description="One short English sentence.")

    @field_validator("reasons")
    @classmethod
    def _distinct(cls, reasons: list[str]) -> list[str]:
        """A reason named twice counts once (small models repeat themselves)."""
        return list(dict.fromkeys(reasons))

    @field_validator("summary")
    @classmethod
    def _stripped(cls, summary: str) -> str:
        return summary.strip()
