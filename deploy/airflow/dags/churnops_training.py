"""churnops on Airflow 3: validate -> pipeline (train, evaluate, register, gate) -> score, one `churnops` command per task.

The tasks hold no logic: each runs the CLI command that runs the same step functions as the Prefect flows
(`churnops validate`, `churnops pipeline`, `churnops score`). `validate` fails a bad file in seconds, before a search
starts; `pipeline` promotes the new version to @champion only through the gate (its JSON summary, the task's XCom,
says whether and why); `score` scores the customers with the champion. Airflow runs in its own virtual environment
(Airflow 3 pins FastAPI below what the churnops API needs), so churnops is never imported here: it is a command,
installed wherever the worker runs.

What the worker's environment sets (read by the shell when a task runs):

* CHURNOPS_EXECUTABLE   the churnops command (default: `churnops` on PATH), e.g. /srv/churnops/.venv/bin/churnops
* CHURNOPS_DATA         the training data (required: a scheduled training trains on real data)
* CHURNOPS_*            every other setting, as for the CLI. Each task runs in a temporary folder: give the tracking
                        URI, the store URL and the output folders as absolute paths or servers.

and, read when the DAG is parsed, the schedule `churnops schedule` uses: CHURNOPS_SCHEDULE_TRAINING_CRON (default
`0 2 * * *`; empty: manual runs only) in CHURNOPS_SCHEDULE_TIMEZONE (default UTC).
"""

import os

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG
from airflow.timetables.trigger import CronTriggerTimetable

CRON = os.environ.get("CHURNOPS_SCHEDULE_TRAINING_CRON", "0 2 * * *")  # the default of churnops' ScheduleSettings.training_cron
TIMEZONE = os.environ.get("CHURNOPS_SCHEDULE_TIMEZONE", "UTC")

CHURNOPS = 'set -eu; "${CHURNOPS_EXECUTABLE:-churnops}" '


def churnops(task_id: str, arguments: str, doc: str) -> BashOperator:
    """One task: one churnops command; the last line it prints (the --json summary) becomes the task's XCom."""
    return BashOperator(task_id=task_id, bash_command=CHURNOPS + arguments, doc_md=doc)


with DAG(
    dag_id="churnops_training",
    description="Validate, train, evaluate, register and gate a churn model; score the customers with the champion.",
    doc_md=__doc__,
    schedule=CronTriggerTimetable(CRON, timezone=TIMEZONE) if CRON.strip() else None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two trainings at once would race for @champion
    tags=["churnops"],
    default_args={"retries": 0},  # registering is not idempotent, and a bad file or a rejected model stays so
) as dag:
    validate = churnops("validate", 'validate --data "$CHURNOPS_DATA"', "Check the data against its contract.")
    pipeline = churnops(
        "pipeline",
        "pipeline --json",
        "Validate, train, evaluate, register (@challenger); the gate promotes the version to @champion or says why not.",
    )
    score = churnops(
        "score",
        "score --json",
        "Score CHURNOPS_BATCH_INPUT (else the training data) with the champion: the prediction store and a Parquet file.",
    )
    validate >> pipeline >> score
