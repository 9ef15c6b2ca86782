"""Developer automation: the quality gates behind `make ci`, and `make watch`, which re-runs the gates a change concerns."""
