"""`python -m churnops ...` runs the CLI (used for child processes, e.g. retraining from the API)."""

from churnops.cli import run

run()
