"""Data: the dataset contract, sources, loading + validation, and the split."""
