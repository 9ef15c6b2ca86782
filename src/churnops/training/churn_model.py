"""Where versions logged before the `model/` package import their pyfunc from (their model_code.py names it).

Loaded in a process that has churnops installed, such a version finds this module, not its own copy,
so the gate can still score a champion registered by an earlier churnops. New code imports `churnops.model`.
"""

from churnops.model.churn_model import ChurnModel

__all__ = ["ChurnModel"]
