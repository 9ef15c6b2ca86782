"""How long-running steps (training, batch scoring) report progress: the CLI shows bars, flows log, tests stay silent."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def step(self, name: str) -> None: ...
    def trial(self, done: int, total: int, score: float, best: float) -> None: ...
    def rows(self, done: int, total: int, unit: str = "customers") -> None: ...


class SilentProgress:
    def step(self, name: str) -> None:
        pass

    def trial(self, done: int, total: int, score: float, best: float) -> None:
        pass

    def rows(self, done: int, total: int, unit: str = "customers") -> None:
        pass
