"""A seeded generator of customer comments tied to Telco customers, with the labels it meant to write.

What a customer says follows their row: churners complain and say they are leaving (often over a
competitor's offer, the price or a move); fibre customers talk about the network; high bills about the
price; electronic checks and paperless bills about billing; month-to-month contracts about their terms;
customers without tech support about customer service; long-tenure two-year customers are mostly happy.
It gives demos and load tests realistic volume. Its labels are a weak truth (what the template meant);
the hand-labelled truth is comments/data/evaluation.csv. Besides data/synthetic.py, the only code that
knows Telco's column names.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnops.comments import templates
from churnops.comments.analysis import MAX_REASONS, REASONS
from churnops.comments.contract import COMMENT_COLUMNS
from churnops.errors import DataError

CUSTOMER_COLUMNS = (
    "customerID",
    "gender",
    "tenure",
    "InternetService",
    "TechSupport",
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
    "MonthlyCharges",
    "Churn",
)
LABEL_COLUMNS = ("language", "sentiment", "churn_risk", "reasons")
FRENCH_SHARE = 0.2
UNKNOWN_DATE_SHARE = 0.02  # some comments come without a date; the contract allows it
DEFAULT_START = date(2025, 1, 1)
LOYAL_TENURE = 36  # months: with a two-year contract, a loyal customer
HIGH_BILL, MID_BILL = 80.0, 60.0
YEAR = 12
PRAISE_FIRST_SHARE = 0.6  # mixed comments: "praise, but complaint" (else "complaint. That said, praise")
NAMED_COMPETITOR_SHARE = 0.5  # leavers over a competitor's offer who name where they go

# P(sentiment) by kind of customer, in the order positive, neutral, negative, mixed.
SENTIMENT_ORDER = ("positive", "neutral", "negative", "mixed")
SENTIMENT_ODDS = {
    "churned": (0.05, 0.12, 0.68, 0.15),
    "loyal": (0.60, 0.15, 0.07, 0.18),
    "other": (0.30, 0.28, 0.22, 0.20),
}
STYLE_ODDS: dict[str, dict[str, float]] = {
    "negative": {"short": 0.25, "long": 0.2, "sarcastic": 0.25, "plain": 0.3},
    "positive": {"short": 0.35, "long": 0.25, "plain": 0.4},
    "neutral": {"short": 0.3, "long": 0.2, "plain": 0.5},
    "mixed": {"mixed": 1.0},
}
RISK_ODDS: dict[tuple[str, bool], dict[str, float]] = {  # (sentiment, churned) -> P(churn risk)
    ("negative", True): {"high": 0.75, "medium": 0.25},
    ("negative", False): {"high": 0.15, "medium": 0.55, "low": 0.3},
    ("mixed", True): {"high": 0.35, "medium": 0.5, "low": 0.15},
    ("mixed", False): {"high": 0.05, "medium": 0.45, "low": 0.5},
    ("neutral", True): {"high": 0.4, "medium": 0.3, "low": 0.3},
    ("neutral", False): {"medium": 0.2, "low": 0.8},
    ("positive", True): {"medium": 0.4, "low": 0.6},
    ("positive", False): {"medium": 0.15, "low": 0.85},
}
REASON_COUNTS = {"short": ((1,), (1.0,)), "plain": ((1, 2), (0.6, 0.4)), "long": ((2, 3), (0.6, 0.4)), "sarcastic": ((1, 2), (0.7, 0.3))}
NOTICE_REASONS = ("moving", "contract_terms", "competitor_offer")  # what a calm cancellation is about
HESITANT_REASONS = ("price", "contract_terms", "competitor_offer")  # what a neutral, hesitant question is about


@dataclass(frozen=True)
class _Customer:
    customer_id: str
    female: bool
    tenure: int
    internet: str
    tech_support: bool
    contract: str
    paperless: bool
    electronic_check: bool
    monthly: float
    churned: bool

    @property
    def kind(self) -> str:
        if self.churned:
            return "churned"
        return "loyal" if self.contract == "Two year" and self.tenure >= LOYAL_TENURE else "other"

    def complaint_weights(self) -> dict[str, float]:
        """How likely each reason is the subject of a complaint or question from this customer."""
        weights = dict.fromkeys(REASONS, 0.3) | {"other": 0.6}
        if self.churned:
            weights["competitor_offer"] += 3.0
            weights["price"] += 2.0
            weights["moving"] += 1.2
        weights["network_quality"] += {"Fiber optic": 2.5, "DSL": 0.8}.get(self.internet, 0.0)
        weights["price"] += 2.0 if self.monthly >= HIGH_BILL else 0.8 if self.monthly >= MID_BILL else 0.0
        weights["billing"] += 1.5 * self.electronic_check + 0.7 * self.paperless
        weights["contract_terms"] += 1.5 if self.contract == "Month-to-month" else 0.0
        weights["customer_service"] += 0.0 if self.tech_support else 1.5
        return weights

    def praise_weights(self) -> dict[str, float]:
        """What this customer would praise: fibre speed, a low bill, autopay, a locked price, support they use."""
        weights = dict.fromkeys(REASONS, 0.3) | {"other": 1.2, "competitor_offer": 0.1, "moving": 0.15}
        weights["network_quality"] += {"Fiber optic": 2.5, "DSL": 0.6}.get(self.internet, -0.2)
        weights["price"] += 1.0 if self.monthly < MID_BILL else 0.0
        weights["billing"] += 0.0 if self.electronic_check else 0.6
        weights["contract_terms"] += 0.8 if self.contract == "Two year" else 0.0
        weights["customer_service"] += 1.0 if self.tech_support else 0.0
        weights["other"] += 1.0 if self.kind == "loyal" else 0.0
        return weights


def generate_comments(customers: pd.DataFrame, *, seed: int = 42, share: float = 1.0, start: date = DEFAULT_START, days: int = 365) -> pd.DataFrame:
    """One comment for each of a `share` of `customers` (Telco rows), dated within `days` from `start`.

    Columns: the comments contract's (ids c-000001, ...) and the intended labels (LABEL_COLUMNS; reasons
    joined with ';', most important first). The same customers and seed give the same comments.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share is the fraction of customers who write a comment, in (0, 1]; got {share}.")
    if days < 1:
        raise ValueError(f"days is the length of the period the comments are dated in, at least 1; got {days}.")
    missing = [column for column in CUSTOMER_COLUMNS if column not in customers.columns]
    if missing:
        raise DataError(f"The customers lack the column(s) {', '.join(missing)} the comment generator reads. Pass rows of the Telco data set.")
    rng = np.random.default_rng(seed)
    chosen = np.arange(len(customers)) if share == 1 else np.sort(rng.choice(len(customers), size=round(len(customers) * share), replace=False))
    records = customers.iloc[chosen][list(CUSTOMER_COLUMNS)].to_dict("records")
    rows = [_comment(_customer(record), number, rng, start, days) for number, record in enumerate(records, start=1)]
    return pd.DataFrame(rows, columns=[*COMMENT_COLUMNS, *LABEL_COLUMNS])


def write_comments(customers_csv: Path, output: Path, *, seed: int = 42, share: float = 1.0) -> int:
    """Generate comments for the customers of a Telco CSV into `output` (the contract's columns + labels); returns the count."""
    if not customers_csv.is_file():
        raise DataError(f"Customers file '{customers_csv}' does not exist. Pass the Telco CSV (or run `churnops synthesize` for a sample).")
    customers = pd.read_csv(customers_csv, dtype=str, keep_default_na=False)
    comments = generate_comments(customers, seed=seed, share=share)
    output.parent.mkdir(parents=True, exist_ok=True)
    comments.to_csv(output, index=False, encoding="utf-8")
    return len(comments)


def _customer(record: Mapping[Hashable, Any]) -> _Customer:
    def number(value: object, default: float) -> float:
        parsed = pd.to_numeric(str(value).strip(), errors="coerce")
        return default if pd.isna(parsed) else float(parsed)

    return _Customer(
        customer_id=str(record["customerID"]),
        female=str(record["gender"]) == "Female",
        tenure=int(number(record["tenure"], 0)),
        internet=str(record["InternetService"]),
        tech_support=str(record["TechSupport"]) == "Yes",
        contract=str(record["Contract"]),
        paperless=str(record["PaperlessBilling"]) == "Yes",
        electronic_check=str(record["PaymentMethod"]) == "Electronic check",
        monthly=number(record["MonthlyCharges"], 65.0),
        churned=str(record["Churn"]) == "Yes",
    )


def _comment(customer: _Customer, number: int, rng: np.random.Generator, start: date, days: int) -> dict[str, str]:
    language = "fr" if rng.random() < FRENCH_SHARE else "en"
    sentiment = str(rng.choice(SENTIMENT_ORDER, p=SENTIMENT_ODDS[customer.kind]))
    style = _pick(STYLE_ODDS[sentiment], rng)
    risk = _pick(RISK_ODDS[(sentiment, customer.churned)], rng)
    reasons = _reasons(customer, sentiment, style, risk, rng)
    slots = _slots(customer, language, rng)
    text = _text(language, style, sentiment, risk, reasons, slots, rng)
    day = "" if rng.random() < UNKNOWN_DATE_SHARE else (start + timedelta(days=int(rng.integers(0, days)))).isoformat()
    return {
        "id": f"c-{number:06d}",
        "customer_id": customer.customer_id,
        "date": day,
        "text": text,
        "language": language,
        "sentiment": sentiment,
        "churn_risk": risk,
        "reasons": ";".join(reasons),
    }


def _pick(odds: dict[str, float], rng: np.random.Generator) -> str:
    return str(rng.choice(list(odds), p=list(odds.values())))


def _draw(weights: dict[str, float], count: int, rng: np.random.Generator, among: tuple[str, ...] = REASONS) -> list[str]:
    names = [name for name in among if weights.get(name, 0) > 0]
    p = np.array([weights[name] for name in names])
    return [str(name) for name in rng.choice(names, size=min(count, len(names)), replace=False, p=p / p.sum())]


def _reasons(customer: _Customer, sentiment: str, style: str, risk: str, rng: np.random.Generator) -> list[str]:
    """The reasons the comment will be about, most important first."""
    complaints = customer.complaint_weights()
    if style == "mixed":  # the complaint first: it is what moves the churn risk
        complaint = _draw(complaints, 1, rng)[0]
        praise = _draw({name: weight for name, weight in customer.praise_weights().items() if name != complaint}, 1, rng)
        return [complaint, *praise]
    counts, odds = REASON_COUNTS[style]
    count = int(rng.choice(counts, p=odds))
    if sentiment == "neutral" and risk != "low":  # a calm goodbye or a hesitant question: the first reason says which
        first = _draw(complaints, 1, rng, NOTICE_REASONS if risk == "high" else HESITANT_REASONS)
        rest = _draw({name: weight for name, weight in complaints.items() if name not in first}, count - 1, rng)
        return first + rest
    reasons = _draw(customer.praise_weights() if sentiment == "positive" else complaints, count, rng)
    if sentiment == "positive" and risk == "medium" and "price" not in reasons:  # its closer ties staying to the price
        reasons = [*reasons[: MAX_REASONS - 1], "price"]
    return reasons


def _slots(customer: _Customer, language: str, rng: np.random.Generator) -> dict[str, str]:
    def money(amount: float) -> str:
        return f"${amount:.2f}".replace(".00", "") if language == "en" else f"{amount:.2f}".replace(".00", "").replace(".", ",") + " $"

    french_female = language == "fr" and customer.female
    return {
        "amount": money(customer.monthly),
        "increase": money(float(rng.integers(5, 21))),
        "cheaper": money(float(rng.integers(10, 41))),
        "fee": money(float(rng.choice([4.99, 7.5, 9.99, 12.0, 15.0, 25.0]))),
        "tenure": _tenure(customer.tenure, language),
        "service": templates.SERVICES[language].get(customer.internet, templates.SERVICES[language]["No"]),
        "competitor": str(rng.choice(templates.COMPETITORS)),
        "city": str(rng.choice(templates.CITIES[language])),
        "days": str(int(rng.integers(2, 10))),
        "times": str(int(rng.integers(3, 13))),
        "client": "cliente" if french_female else "client",
        "satisfait": "satisfaite" if french_female else "satisfait",
        "revenu": "revenue" if french_female else "revenu",
        "content": "contente" if french_female else "content",
    }


def _tenure(months: int, language: str) -> str:
    english = language == "en"
    if months < 1:
        return "a few weeks" if english else "quelques semaines"
    if months < YEAR:
        return f"{months} month{'s' if months > 1 else ''}" if english else f"{months} mois"
    years = months // YEAR
    return f"{years} year{'s' if years > 1 else ''}" if english else f"{years} an{'s' if years > 1 else ''}"


def _text(language: str, style: str, sentiment: str, risk: str, reasons: list[str], slots: dict[str, str], rng: np.random.Generator) -> str:
    def one(phrases: tuple[str, ...]) -> str:
        return str(rng.choice(phrases))

    clauses = templates.CLAUSES[language]
    polarity = {"negative": "complaint", "positive": "praise", "neutral": "question"}.get(sentiment, "complaint")
    notice = sentiment == "neutral" and risk == "high"
    if style == "mixed":
        praise, complaint = one(clauses[reasons[1]]["praise"]), one(clauses[reasons[0]]["complaint"])
        if rng.random() < PRAISE_FIRST_SHARE:
            body = [f"{praise.rstrip('.!')}, {one(templates.BUT[language])} {_lower_first(complaint)}"]
        else:
            body = [f"{complaint} {one(templates.THAT_SAID[language])} {_lower_first(praise)}"]
    elif style == "sarcastic":
        body = [one(templates.SARCASTIC[language][reasons[0]]), *(one(clauses[reason]["complaint"]) for reason in reasons[1:])]
    elif style == "short" and not notice and polarity != "question":
        body = [one(templates.SHORT[language][reasons[0]][polarity])]
    else:
        first = one(clauses[reasons[0]]["notice" if notice else polarity])
        body = [first, *(one(clauses[reason][polarity]) for reason in reasons[1:])]
        if style == "long":
            connectors = rng.choice(templates.CONNECTORS[language], size=len(body) - 1, replace=False)
            body = [body[0], *(f"{connector} {_lower_first(clause)}" for connector, clause in zip(connectors, body[1:], strict=True))]
    closer = _closer(language, sentiment, risk, reasons, rng)
    parts = [*body, closer] if not notice else body
    text = " ".join(_distinct(part for part in parts if part))
    if style == "long":  # a letter: who writes (once: not their tenure twice), the comment, a sign-off
        openers = [opener for opener in templates.OPENERS[language] if "{tenure}" not in opener or "{tenure}" not in text]
        opener = one(tuple(openers))
        text = f"{opener}{chr(10) if opener.endswith(',') else ' '}{text} {one(templates.SIGNOFFS[language])}".rstrip()
    text = text.format(**slots)
    return _capitalise_sentences(text)


def _closer(language: str, sentiment: str, risk: str, reasons: list[str], rng: np.random.Generator) -> str:
    """The sentence that carries the churn risk: leaving, hesitating, or nothing of the kind."""
    closers = templates.RISK_CLOSERS[language]
    if sentiment == "positive":
        key = "medium_praise" if risk == "medium" else "low_praise"
    elif sentiment == "neutral":
        key = {"medium": "medium_neutral"}.get(risk, "")
    elif risk == "high":
        key = "high_competitor" if "competitor_offer" in reasons and rng.random() < NAMED_COMPETITOR_SHARE else "high"
    else:
        key = "medium" if risk == "medium" else "low_complaint"
    return str(rng.choice(closers[key])) if key else ""


def _distinct(parts: Iterable[str]) -> list[str]:
    """Without a sentence that repeats the one before ('Thanks!' then the sign-off 'Thanks.')."""
    kept: list[str] = []
    for part in parts:
        if not kept or part.strip(".!? ").lower() != kept[-1].strip(".!? ").lower():
            kept.append(part)
    return kept


def _lower_first(template: str) -> str:
    """A sentence continued after a comma: its first letter lowered, unless it is 'I', a slot or a name."""
    first_word = template.split(" ", 1)[0]
    name_or_acronym = first_word[1:] != first_word[1:].lower()  # NovaTel, DSL
    if template.startswith("{") or first_word in {"I", "I'm", "I've", "I'd"} or name_or_acronym:
        return template
    return template[0].lower() + template[1:]


_SENTENCE_START = re.compile(r"(^|[.!?]\s+)([a-zàâçéèêëîïôûùüÿ])")


def _capitalise_sentences(text: str) -> str:
    return _SENTENCE_START.sub(lambda match: match.group(1) + match.group(2).upper(), text)
