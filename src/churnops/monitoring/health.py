"""Service figures from the window's request log, and the host's state now (psutil)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil

CLIENT_ERROR = 400  # HTTP status classes: 4xx from here
SERVER_ERROR = 500  # 5xx from here


@dataclass(frozen=True)
class ServiceResult:
    requests: int
    predictions: int
    errors: int  # 5xx answers
    client_errors: int  # 4xx answers (bad input, unknown ids, auth)
    error_rate: float  # 5xx share of requests
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_service(requests: pd.DataFrame, predictions: int) -> ServiceResult:
    count = len(requests)
    status = requests["status"].astype(int) if count else pd.Series(dtype=int)
    errors = int((status >= SERVER_ERROR).sum())
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    if count:
        p50, p95, p99 = (float(value) for value in np.percentile(requests["latency_ms"].to_numpy(dtype=float), [50, 95, 99]))
    return ServiceResult(
        requests=count,
        predictions=predictions,
        errors=errors,
        client_errors=int(((status >= CLIENT_ERROR) & (status < SERVER_ERROR)).sum()),
        error_rate=errors / count if count else 0.0,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        latency_p99_ms=p99,
    )


@dataclass(frozen=True)
class HostResult:
    cpu_percent: float
    memory_percent: float
    disk_percent: float
    disk_path: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_host(disk_path: Path) -> HostResult:
    """CPU over a short sample, memory, and the disk that holds `disk_path` (the store or the working folder)."""
    path = disk_path if disk_path.exists() else Path.cwd()
    return HostResult(
        cpu_percent=float(psutil.cpu_percent(interval=0.5)),
        memory_percent=float(psutil.virtual_memory().percent),
        disk_percent=float(psutil.disk_usage(str(path)).percent),
        disk_path=str(path),
    )
