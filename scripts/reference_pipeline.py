"""`make reference-pipeline`: the training pipeline on the reference data, in a registry of its own.

Run by `make watch` after a change to training code. It trains into `.churnops/reference/`
(never the project's own registry, so a watch round cannot move your champion) and fails when
the gate rejects the new version: the change made training worse than the last accepted run.

    uv run python scripts/reference_pipeline.py [--data PATH]   # default: the Telco CSV beside the repo, else synthetic
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from churnops.errors import ChurnopsError
from churnops.settings import load_settings
from churnops.training.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = ROOT / ".churnops" / "reference"
TELCO_CSV = ROOT.parent / "shared" / "data" / "telco_customer_churn.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", help="CSV to train on (default: the reference Telco CSV when present, else synthetic data).")
    data = parser.parse_args().data or (str(TELCO_CSV) if TELCO_CSV.is_file() else None)
    REFERENCE_DIR.mkdir(parents=True, exist_ok=True)
    try:
        settings = load_settings(
            tracking_uri=f"sqlite:///{REFERENCE_DIR / 'mlflow.db'}", artifact_location=str(REFERENCE_DIR / "mlartifacts"), data=data or ""
        )
        result = run_pipeline(settings)
    except ChurnopsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    verdict = "accepted" if result.promoted else "REJECTED by the gate"
    print(
        f"reference pipeline on {data or 'synthetic data'}: version {result.version} ({result.family}), "
        f"test ROC AUC {result.test_metrics['roc_auc']:.4f}, {verdict}; took {result.seconds:.0f} s"
    )
    for reason in result.reasons:
        print(f"  - {reason}")
    return 0 if result.promoted else 1


if __name__ == "__main__":
    sys.exit(main())
