"""The prediction store: records, tables, engine and migrations, spool, write-ahead log, writer, Elasticsearch export.

Below every user of it (serving, batch scoring, monitoring): it imports only `errors` and `data/`.
"""

from churnops.store.engine import create_store_engine, migrate
from churnops.store.recording import Recorded, score_and_record, score_and_store_frame
from churnops.store.records import FeedbackRecord, PredictionRecord, RequestRecord, new_prediction_ids
from churnops.store.schema import ALERTS, COMMENT_ANALYSES, FEEDBACK, METADATA, MONITORING_RUNS, PREDICTIONS, REQUESTS, VERSION_TABLE
from churnops.store.wal import WalError
from churnops.store.writer import PredictionStore

__all__ = [
    "ALERTS",
    "COMMENT_ANALYSES",
    "FEEDBACK",
    "METADATA",
    "MONITORING_RUNS",
    "PREDICTIONS",
    "REQUESTS",
    "VERSION_TABLE",
    "WalError",
    "FeedbackRecord",
    "PredictionRecord",
    "PredictionStore",
    "Recorded",
    "RequestRecord",
    "create_store_engine",
    "migrate",
    "new_prediction_ids",
    "score_and_record",
    "score_and_store_frame",
]
