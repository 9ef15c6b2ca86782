"""Data sets shaped nothing like Telco, generated with a seeded numpy generator, each with its own contract.

Column names are deliberately not Python identifiers (spaces, `-`, `.`, `/`, `$`, `€`, parentheses, a
leading digit) and the contracts use what YAML users write (unquoted `positive: 1`, unquoted numbers in
`values:`). Each `write_*` function returns (csv_path, contract_path); `rows_for_scoring` gives a file of
customers without the target, as `churnops score --input` takes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Written as text, not yaml.safe_dump: the point is the unquoted scalars a user types.
SUBSCRIPTION_CONTRACT = """\
name: subscription-app
description: A mobile subscription app; one row per subscriber, no id column.
target:
  column: churned
  positive: 1
  negative: 0
min_rows_per_class: 20
columns:
  monthly spend ($):
    type: number
    min: 0
    max: 500
    description: What the subscriber paid last month.
  sessions/week:
    type: integer
    min: 0
    max: 200
  plan-tier:
    type: categorical
    values: [free, basic, pro, team]
  2fa.enabled:
    type: categorical
    values: [0, 1]
  3rd_party_logins:
    type: integer
    min: 0
  signup channel:
    type: categorical
    values: [app store, web, referral, ads]
  support tickets (90d):
    type: integer
    min: 0
engineered_features:
  - name: spend per session
    kind: ratio
    columns: [monthly spend ($), sessions/week]
"""

GYM_CLUBS = [f"Club {number:02d}" for number in range(1, 31)]  # a many-level categorical

GYM_CONTRACT = f"""\
name: gym-membership
description: Members of a chain of gyms; one row per member.
id_column: member id
target:
  column: status
  positive: left
  negative: stayed
min_rows_per_class: 20
columns:
  age (years):
    type: integer
    min: 16
    max: 100
  visits.last-30d:
    type: integer
    min: 0
    max: 62
  home gym:
    type: categorical
    values: [{", ".join(GYM_CLUBS)}]
  avg session (min):
    type: number
    min: 0
    nullable: true
    description: Blank when the member never checked out at the desk.
  membership/months:
    type: integer
    min: 0
  monthly fee €:
    type: number
    min: 0
  1st-visit hour:
    type: number
    min: 0
    max: 24
"""


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def subscription_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tier = rng.choice(["free", "basic", "pro", "team"], size=rows, p=[0.4, 0.3, 0.2, 0.1])
    base_spend = pd.Series(tier).map({"free": 0.0, "basic": 9.99, "pro": 24.99, "team": 79.0}).to_numpy()
    spend = np.round(base_spend + rng.gamma(1.5, 4.0, rows) * (tier != "free"), 2)
    sessions = rng.poisson(6, rows)
    two_factor = rng.choice([0, 1], size=rows, p=[0.7, 0.3])
    logins = rng.poisson(1.2, rows)
    channel = rng.choice(["app store", "web", "referral", "ads"], size=rows)
    tickets = rng.poisson(0.8, rows)
    logit = 0.6 - 0.35 * sessions + 0.7 * tickets - 0.8 * two_factor + 0.9 * (channel == "ads") - 0.5 * (tier == "team") + 0.3 * logins
    churned = (rng.random(rows) < _sigmoid(logit)).astype(int)
    return pd.DataFrame(
        {
            "monthly spend ($)": spend,
            "sessions/week": sessions,
            "plan-tier": tier,
            "2fa.enabled": two_factor,
            "3rd_party_logins": logins,
            "signup channel": channel,
            "support tickets (90d)": tickets,
            "churned": churned,
        }
    )


def gym_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(16, 80, rows)
    visits = rng.poisson(8, rows).clip(0, 62)
    club = rng.choice(GYM_CLUBS, size=rows)
    session = np.round(rng.normal(55, 15, rows).clip(5, 180), 1)
    months = rng.integers(1, 96, rows)
    fee = np.round(rng.choice([19.9, 29.9, 39.9, 59.9], size=rows) + rng.normal(0, 1, rows).clip(-1, 1), 2)
    hour = np.round(rng.uniform(5, 23, rows), 2)
    club_effect = pd.Series(club).map({name: rng.normal(0, 0.6) for name in GYM_CLUBS}).to_numpy()
    # Thresholds and a U-shape (late or very early visitors) that a linear model cannot draw: a tree family should win.
    odd_hours = (hour < 7) | (hour > 21)
    logit = -1.0 + 2.2 * (visits <= 2) - 1.2 * (visits >= 12) + 1.6 * odd_hours + 1.0 * (months < 6) + club_effect + 0.8 * (fee > 50)
    left = rng.random(rows) < _sigmoid(logit)
    frame = pd.DataFrame(
        {
            "member id": [f"GM-{number:06d}" for number in rng.permutation(rows) + 1],
            "age (years)": age,
            "visits.last-30d": visits,
            "home gym": club,
            "avg session (min)": session.astype(object),
            "membership/months": months,
            "monthly fee €": fee,
            "1st-visit hour": hour,
            "status": np.where(left, "left", "stayed"),
        }
    )
    frame.loc[rng.random(rows) < 0.08, "avg session (min)"] = ""  # blanks: a nullable numeric
    return frame


@dataclass(frozen=True)
class OtherDataset:
    """One generated data set: how to make its rows, its contract text, and a customer for the API."""

    name: str
    contract: str
    frame: Callable[[int, int], pd.DataFrame]
    target: str
    id_column: str | None
    customer: dict[str, Any]  # a valid /predict body with the real column names
    bad_value: tuple[str, Any]  # a column and a value the contract refuses


SUBSCRIPTION = OtherDataset(
    name="subscription-app",
    contract=SUBSCRIPTION_CONTRACT,
    frame=subscription_frame,
    target="churned",
    id_column=None,
    customer={
        "monthly spend ($)": 24.99,
        "sessions/week": 3,
        "plan-tier": "pro",
        "2fa.enabled": "1",
        "3rd_party_logins": 2,
        "signup channel": "app store",
        "support tickets (90d)": 1,
    },
    bad_value=("plan-tier", "platinum"),
)

GYM = OtherDataset(
    name="gym-membership",
    contract=GYM_CONTRACT,
    frame=gym_frame,
    target="status",
    id_column="member id",
    customer={
        "member id": "GM-999999",
        "age (years)": 34,
        "visits.last-30d": 2,
        "home gym": "Club 07",
        "avg session (min)": None,
        "membership/months": 5,
        "monthly fee €": 39.9,
        "1st-visit hour": 18.5,
    },
    bad_value=("visits.last-30d", 500),
)

DATASETS = {dataset.name: dataset for dataset in (SUBSCRIPTION, GYM)}


def write(dataset: OtherDataset, folder: Path, rows: int = 1500, seed: int = 11) -> tuple[Path, Path]:
    """The training CSV and the contract YAML of `dataset` in `folder`: (csv_path, contract_path)."""
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / f"{dataset.name}.csv"
    dataset.frame(rows, seed).to_csv(csv_path, index=False)
    contract_path = folder / f"{dataset.name}.yaml"
    contract_path.write_text(dataset.contract, encoding="utf-8")
    return csv_path, contract_path


def write_subscription(folder: Path, rows: int = 1500, seed: int = 11) -> tuple[Path, Path]:
    return write(SUBSCRIPTION, folder, rows, seed)


def write_gym(folder: Path, rows: int = 1500, seed: int = 11) -> tuple[Path, Path]:
    return write(GYM, folder, rows, seed)


def rows_for_scoring(dataset: OtherDataset, path: Path, rows: int = 200, seed: int = 99) -> Path:
    """A file of other customers to score: the contract's inputs, no target."""
    dataset.frame(rows, seed).drop(columns=[dataset.target]).to_csv(path, index=False)
    return path
