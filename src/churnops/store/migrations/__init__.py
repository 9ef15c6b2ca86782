"""Alembic migrations of the prediction store, run by `PredictionStore.start()`."""
