"""The pipeline on the other orchestrators the field uses (Prefect, in `flows/`, stays the default).

* `dagster`  the steps as Dagster assets: validated data -> trained model -> evaluation -> gate decision -> batch scores,
             with jobs and schedules from the `CHURNOPS_SCHEDULE_*` settings (`dagster dev -m churnops.orchestrators.dagster`)

Airflow cannot share this environment (Airflow 3 pins FastAPI below what the API needs): its DAG lives in
`deploy/airflow/dags/` with its own requirements and calls the `churnops` CLI.
"""
