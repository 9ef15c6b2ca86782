"""churnops: customer churn prediction as a complete MLOps system."""

__version__ = "0.1.0"
