"""Where things are: the project root, the shipped Telco contract, the real Telco CSV (CHURNOPS_TELCO_CSV)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_PATH = ROOT / "src" / "churnops" / "data" / "contracts" / "telco.yaml"
TELCO_CSV = Path(os.environ.get("CHURNOPS_TELCO_CSV", ROOT.parent / "shared" / "data" / "telco_customer_churn.csv"))
