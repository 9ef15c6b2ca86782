"""Training: model families, hyper-parameter search, evaluation and the fast inference artifact."""
