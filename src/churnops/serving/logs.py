"""Structured JSON logs; every line written while a request is handled carries its request id."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate of the message
        return True


def configure_json_logging(level: str = "INFO") -> None:
    """One JSON object per line on stderr for our loggers and uvicorn's."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{request_id}", style="{", rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}
        )
    )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.captureWarnings(True)  # library warnings become JSON lines too
    # Migration chatter at every start; one line per Elasticsearch request from the export loop.
    for chatty in ("alembic", "elastic_transport"):
        logging.getLogger(chatty).setLevel(max(root.level, logging.WARNING))
    logging.getLogger("uvicorn.access").disabled = True  # our middleware writes the access line, with the request id
