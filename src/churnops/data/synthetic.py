"""A seeded synthetic Telco-like data set, so the pipeline runs with no data and no network.

This module (with data/contracts/telco.yaml) is the only code that knows Telco's column names. The
churn relationships follow what the real data shows: month-to-month contracts, short tenure,
fibre internet, electronic checks and missing support services all raise churn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ADD_ONS = ["OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV", "StreamingMovies"]


def generate(rows: int = 5000, seed: int = 42) -> pd.DataFrame:
    """A frame with the columns and raw encodings of the IBM Telco CSV."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], rows, p=[0.55, 0.21, 0.24])
    longest = np.select([contract == "Month-to-month", contract == "One year"], [36, 60], 72)
    tenure = np.minimum((rng.gamma(1.2, 1.0, rows) * longest / 2.5).astype(int), 72)
    internet = rng.choice(["DSL", "Fiber optic", "No"], rows, p=[0.34, 0.44, 0.22])
    phone = rng.choice(["Yes", "No"], rows, p=[0.9, 0.1])
    frame = pd.DataFrame(
        {
            "customerID": [f"{i:04d}-SYNTH{seed % 1000:03d}" for i in range(rows)],
            "gender": rng.choice(["Female", "Male"], rows),
            "SeniorCitizen": rng.choice([0, 1], rows, p=[0.84, 0.16]),
            "Partner": rng.choice(["Yes", "No"], rows),
            "Dependents": rng.choice(["Yes", "No"], rows, p=[0.3, 0.7]),
            "tenure": tenure,
            "PhoneService": phone,
            "MultipleLines": np.where(phone == "No", "No phone service", rng.choice(["Yes", "No"], rows)),
            "InternetService": internet,
        }
    )
    for add_on in ADD_ONS:
        frame[add_on] = np.where(internet == "No", "No internet service", rng.choice(["Yes", "No"], rows, p=[0.4, 0.6]))
    frame["Contract"] = contract
    frame["PaperlessBilling"] = rng.choice(["Yes", "No"], rows, p=[0.6, 0.4])
    frame["PaymentMethod"] = rng.choice(
        ["Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)"], rows, p=[0.34, 0.23, 0.22, 0.21]
    )
    base = np.select([internet == "Fiber optic", internet == "DSL"], [70.0, 45.0], 20.0)
    extras = (frame[ADD_ONS] == "Yes").sum(axis=1).to_numpy() * 5.0 + (frame["MultipleLines"] == "Yes") * 5.0
    monthly = np.round(base + extras + rng.normal(0, 3, rows), 2).clip(18.25, 118.75)
    frame["MonthlyCharges"] = monthly
    total = np.round(monthly * tenure * rng.uniform(0.95, 1.05, rows), 2)
    frame["TotalCharges"] = np.where(tenure == 0, " ", total.astype(str))  # blank like the IBM file

    logit = (
        -1.6
        + 1.4 * (contract == "Month-to-month")
        - 1.2 * (contract == "Two year")
        - 0.035 * tenure
        + 0.8 * (internet == "Fiber optic")
        - 0.5 * (internet == "No")
        + 0.55 * (frame["PaymentMethod"] == "Electronic check")
        + 0.35 * (frame["PaperlessBilling"] == "Yes")
        - 0.45 * (frame["TechSupport"] == "Yes")
        - 0.4 * (frame["OnlineSecurity"] == "Yes")
        + 0.3 * frame["SeniorCitizen"]
        - 0.2 * (frame["Dependents"] == "Yes")
        + 0.01 * (monthly - 65)
    )
    churn = rng.random(rows) < 1 / (1 + np.exp(-logit.to_numpy(dtype=float)))
    frame["Churn"] = np.where(churn, "Yes", "No")
    return frame


def write(path: Path, rows: int = 5000, seed: int = 42) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    generate(rows, seed).to_csv(path, index=False)
    return path
