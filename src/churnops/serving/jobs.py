"""Retraining jobs started from the API: `churnops pipeline --json` in a child process.

A child process keeps the search's CPU work and memory out of the serving process, and it runs
exactly what the CLI runs. One job at a time; the newest jobs are kept in memory.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess  # nosec B404  # our own interpreter and CLI, with an argument list, never a shell
import sys
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from churnops.errors import ChurnopsError, ConfigError
from churnops.settings import Settings

log = logging.getLogger("churnops.jobs")
KEPT_JOBS = 100
LOG_TAIL_LINES = 30


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
        from churnops.pipeline import retraining_settings  # noqa: PLC0415 - the training stack only when a job is asked for
        from churnops.tracking import connect  # noqa: PLC0415

        settings = self.settings.model_copy(update={"data": data}) if data else self.settings
        try:
            return retraining_settings(settings, connect(settings))
        except ConfigError as error:
            raise JobConflict(str(error)) from None

    def _run(self, job: dict[str, Any], settings: Settings, trials: int | None) -> None:
        command = [sys.executable, "-m", "churnops", "pipeline", "--json"]
        if trials:
            command += ["--trials", str(trials)]
        environment = {**{k: v for k, v in os.environ.items() if not k.startswith("CHURNOPS_")}, **settings.as_environment()}
        environment.pop("MLFLOW_RUN_ID", None)
        job.update(status="running", started_at=datetime.now(UTC))
        log.info("retraining job started", extra={"job_id": job["id"]})
        tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        try:
            self._process = subprocess.Popen(  # noqa: S603  # nosec B603  # our own interpreter and CLI; an argument list, no shell
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
            )
            if self._process.stdout is None:  # cannot happen with stdout=PIPE; the check narrows the type
                raise OSError("no pipe to the pipeline's output")
            for line in self._process.stdout:
                tail.append(line.rstrip())
                job["log_tail"] = "\n".join(tail)
            returncode = self._process.wait()
            result = _last_json(tail)
            if returncode == 0 and result is not None:
                job.update(
                    status="succeeded",
                    version=str(result.get("version")),
                    promoted=bool(result.get("promoted")),
                    reasons=list(result.get("reasons", [])),
                )
            else:
                job.update(status="failed", error=_error_line(tail) or f"pipeline exited with code {returncode}")
        except (OSError, ValueError) as error:  # ValueError: an argument Popen refuses (a NUL byte); the job must not stay "running"
            job.update(status="failed", error=f"could not start the pipeline: {error}")
        finally:
            job["finished_at"] = datetime.now(UTC)
            self._process = None
        log.info("retraining job finished", extra={"job_id": job["id"], "status": job["status"], "version": job.get("version")})
        if job["status"] == "succeeded" and self.on_finished is not None:
            self.on_finished()  # pick up a promotion now instead of at the next poll


def _last_json(lines: deque[str]) -> dict[str, Any] | None:
    """`pipeline --json` ends with one JSON object on one line."""
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None


def _error_line(lines: deque[str]) -> str | None:
    errors = [line for line in lines if line.startswith("error:")]
    return errors[-1] if errors else None
