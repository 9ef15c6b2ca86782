"""Prefect 3 flows: thin orchestration around the same step functions the CLI calls.

* `training`      validate -> train -> evaluate -> register + gate   (churnops pipeline)
* `batch-scoring` score a CSV of customers with the champion         (churnops score)
* `monitoring`    drift, quality, performance of a window            (churnops monitor)

Each flow run is tagged with the MLflow run ids it produced and each of those MLflow runs with
the flow run's id; `schedule.py` serves the three as cron-scheduled deployments.
"""
