"""Durations, ISO times and time windows: pure parsing, no heavy imports, so the CLI checks them before loading anything."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from churnops.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def ending(cls, length: str, end: datetime | None = None) -> Window:
        end = (end or datetime.now(UTC)).astimezone(UTC)
        return cls(end - parse_duration(length), end)

    def describe(self) -> str:
        return f"{self.start.isoformat(timespec='seconds')} .. {self.end.isoformat(timespec='seconds')}"


def parse_time(text: str) -> datetime:
    """An ISO time as UTC (`Z` accepted; a time without offset is taken as UTC)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"Window end {text!r} is not an ISO time; use e.g. 2026-11-22T00:00:00Z.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_duration(text: str) -> timedelta:
    """'30m', '6h', '1d', '2w' -> timedelta."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"Window {text!r} is not a duration. Use a number and a unit: 30m, 6h, 1d, 7d or 2w.")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
