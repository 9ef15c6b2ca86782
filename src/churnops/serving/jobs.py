"""Retraining jobs started from the API: `churnops.retraining.run_pipeline_process` on a thread.

One job at a time; the newest jobs are kept in memory.
"""

from __future__ import annotations

import logging
import subprocess  # nosec B404  # only the type of the pipeline's process, started by churnops.retraining
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from churnops.errors import ChurnopsError, ConfigError
from churnops.retraining import LOG_TAIL_LINES, RetrainingFailed, retraining_settings, run_pipeline_process
from churnops.settings import Settings
from churnops.tracking import connect

log = logging.getLogger("churnops.jobs")
KEPT_JOBS = 100


class JobConflict(ChurnopsError):
    """A retraining job is already running, or retraining cannot replace the champion (answered 409)."""


class RetrainRefused(ChurnopsError):
    """The requested data source is not allowed (answered 422). The message never shows file contents."""


SHOWN_SOURCE_CHARS = 200


class RetrainJobs:
    def __init__(self, settings: Settings, on_finished: Callable[[], object] | None = None) -> None:
        self.settings = settings
        self.on_finished = on_finished
        self.jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None

    def submit(self, data: str | None = None, trials: int | None = None) -> dict[str, Any]:
        """Start a retraining job on the configured data (or an allowed source); refuses what could never be promoted."""
        if data is not None and not self.settings.allows_training_source(data):
            raise RetrainRefused(
                f"Data source '{data[:SHOWN_SOURCE_CHARS]}' is not allowed: the service retrains only on CHURNOPS_DATA "
                "or a source listed in CHURNOPS_RETRAIN_ALLOWED_DATA. Add it there on the service, or omit `data`."
            )
        run_settings = self._run_settings(data)
        with self._lock:
            running = [job["id"] for job in self.jobs.values() if job["status"] in ("queued", "running")]
            if running:
                raise JobConflict(f"Retraining job {running[0]} is still running; follow it at /admin/jobs/{running[0]}.")
            job: dict[str, Any] = {"id": uuid.uuid4().hex, "status": "queued", "created_at": datetime.now(UTC), "reasons": [], "log_tail": ""}
            self.jobs[job["id"]] = job
            while len(self.jobs) > KEPT_JOBS:
                self.jobs.popitem(last=False)
        threading.Thread(target=self._run, args=(job, run_settings, trials), name=f"retrain-{job['id'][:8]}", daemon=True).start()
        return dict(job)

    def get(self, job_id: str) -> dict[str, Any] | None:
        job = self.jobs.get(job_id)
        return dict(job) if job is not None else None

    def stop(self) -> None:
        """On shutdown: a half-done pipeline run registers nothing, so stopping it loses no state."""
        process = self._process
        if process is not None and process.poll() is None:
            log.warning("stopping the running retraining job at shutdown")
            process.terminate()

    def _run_settings(self, data: str | None) -> Settings:
        """The job's settings: its data, and the champion's contract; refuses synthetic data against a real-data champion."""
        settings = self.settings.model_copy(update={"data": data}) if data else self.settings
        try:
            return retraining_settings(settings, connect(settings))
        except ConfigError as error:
            raise JobConflict(str(error)) from None

    def _run(self, job: dict[str, Any], settings: Settings, trials: int | None) -> None:
        job.update(status="running", started_at=datetime.now(UTC))
        log.info("retraining job started", extra={"job_id": job["id"]})
        tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)

        def follow(line: str) -> None:
            tail.append(line)
            job["log_tail"] = "\n".join(tail)

        def started(process: subprocess.Popen[str]) -> None:
            self._process = process

        try:
            result = run_pipeline_process(settings, trials, on_line=follow, on_start=started)
            job.update(status="succeeded", version=result.version, promoted=result.promoted, reasons=result.reasons)
        except RetrainingFailed as error:
            job.update(status="failed", error=str(error))
        finally:
            job["finished_at"] = datetime.now(UTC)
            self._process = None
        log.info("retraining job finished", extra={"job_id": job["id"], "status": job["status"], "version": job.get("version")})
        if job["status"] == "succeeded" and self.on_finished is not None:
            self.on_finished()  # pick up a promotion now instead of at the next poll
