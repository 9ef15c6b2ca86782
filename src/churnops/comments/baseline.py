"""The deterministic baseline every prompt is measured against: VADER's lexicon for tone, keyword rules for the rest.

VADER knows English only, so French comments also get a small French word list. The rules read the words,
never the intent: sarcasm ("great, another outage") and negation fool them. That is the point of a
baseline: an LLM prompt has to beat what a few lines of rules already do.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from churnops.comments.analysis import MAX_REASONS, CommentAnalysis

MIXED_SHARE = 0.12  # positive and negative word shares both at least this: praise and complaint
TONE = 0.2  # |compound| at least this: positive or negative
CLEAR_TONE = 0.5  # |compound| at least this: one tone wins even when both kinds of words occur
FRENCH_HINTS_NEEDED = 2

# Keyword stems per reason, English and French, accents removed (see _plain). Order = priority.
REASON_KEYWORDS: dict[str, tuple[str, ...]] = {
    "competitor_offer": (
        "competitor",
        "other provider",
        "another provider",
        "switch to",
        "switching to",
        "better deal",
        "verizon",
        "at&t",
        "t-mobile",
        "comcast",
        "xfinity",
        "spectrum",
        "their offer",
        "concurren",
        "autre operateur",
        "chez free",
        "chez orange",
        "chez sfr",
        "bouygues",
        "meilleure offre",
    ),
    "moving": ("moving", "move to", "relocat", "new house", "new apartment", "new address", "demenag"),
    "price": (
        "price",
        "expensive",
        "cost",
        "overpriced",
        "too much",
        "afford",
        "cheaper",
        "rate went up",
        "increase",
        "hike",
        "per month",
        "prix",
        "cher",
        "tarif",
        "augment",
        "trop paye",
    ),
    "network_quality": (
        "outage",
        "signal",
        "internet",
        "speed",
        "slow",
        "connection",
        "dropp",
        "wifi",
        "wi-fi",
        "fiber",
        "fibre",
        "coverage",
        "buffer",
        "lag",
        "bandwidth",
        "reseau",
        "connexion",
        "coupure",
        "lent",
        "debit",
        "panne",
    ),
    "customer_service": (
        "support",
        "agent",
        "customer service",
        "representative",
        "call center",
        "on hold",
        "waited",
        "rude",
        "helpful",
        "technician",
        "service client",
        "conseiller",
        "attente",
        "technicien",
        "hotline",
        "accueil",
    ),
    "billing": (
        "bill",
        "charge",
        "invoice",
        "refund",
        "payment",
        "autopay",
        "statement",
        "e-check",
        "electronic check",
        "factur",
        "prelevement",
        "rembours",
        "paiement",
    ),
    "contract_terms": (
        "contract",
        "commitment",
        "termination",
        "cancellation fee",
        "terms",
        "locked in",
        "month-to-month",
        "renewal",
        "two-year",
        "one-year",
        "contrat",
        "engagement",
        "frais de resiliation",
        "clause",
    ),
}
LEAVING = (
    "cancel",
    "leaving",
    "leave",
    "switch",
    "terminate",
    "done with",
    "last month with",
    "port my number",
    "quit",
    "resilier",
    "resiliation",
    "partir",
    "quitter",
    "changer d'operateur",
    "je pars",
    "je m'en vais",
)
# A small French tone list: VADER scores only English words.
FRENCH_POSITIVE = ("merci", "parfait", "excellent", "super", "genial", "satisfait", "content", "rapide", "efficace", "bravo", "top", "agreable")
FRENCH_NEGATIVE = (
    "nul",
    "honte",
    "inadmissible",
    "scandale",
    "decu",
    "mecontent",
    "lamentable",
    "catastroph",
    "probleme",
    "jamais",
    "horrible",
    "inacceptable",
    "marre",
    "pire",
    "arnaque",
)
FRENCH_HINTS = (" le ", " la ", " les ", " je ", " vous ", " est ", " pas ", " une ", " des ", " mon ", " ma ", " et ")


def _plain(text: str) -> str:
    """Lower case without accents, so `déménage` matches `demenag`."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@cache
def _vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def _is_french(plain: str) -> bool:
    padded = f" {re.sub(r'[^a-z]+', ' ', plain)} "
    return sum(hint in padded for hint in FRENCH_HINTS) >= FRENCH_HINTS_NEEDED


def _tone(text: str, plain: str) -> tuple[float, float, float]:
    """(compound, positive share, negative share) from VADER, nudged by French words for French text."""
    scores = _vader().polarity_scores(text)
    compound, positive, negative = float(scores["compound"]), float(scores["pos"]), float(scores["neg"])
    if _is_french(plain):
        good = sum(word in plain for word in FRENCH_POSITIVE)
        bad = sum(word in plain for word in FRENCH_NEGATIVE) + plain.count("ne ") // 2
        compound = max(-1.0, min(1.0, compound + 0.4 * good - 0.4 * bad))
        positive, negative = positive + 0.2 * good, negative + 0.2 * bad
    return compound, positive, negative


def analyze_baseline(text: str) -> CommentAnalysis:
    plain = _plain(text)
    compound, positive, negative = _tone(text, plain)
    leaving = any(word in plain for word in LEAVING)
    balanced = positive >= MIXED_SHARE and negative >= MIXED_SHARE and abs(compound) < CLEAR_TONE
    if balanced and not leaving:  # leaving outweighs any praise
        sentiment = "mixed"
    elif compound >= TONE and not leaving:  # "I'm cancelling, thanks" is not praise
        sentiment = "positive"
    elif compound <= -TONE or leaving:
        sentiment = "negative"
    else:
        sentiment = "neutral"
    reasons = [reason for reason, words in REASON_KEYWORDS.items() if any(word in plain for word in words)][:MAX_REASONS] or ["other"]
    if leaving or "competitor_offer" in reasons:
        churn_risk = "high"
    elif sentiment in ("negative", "mixed"):
        churn_risk = "medium"
    else:
        churn_risk = "low"
    topics = ", ".join(reason.replace("_", " ") for reason in reasons)
    return CommentAnalysis.model_validate(
        {"sentiment": sentiment, "churn_risk": churn_risk, "reasons": reasons, "summary": f"A {sentiment} comment about {topics}."}
    )
