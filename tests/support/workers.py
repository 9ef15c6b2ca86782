"""Expensive session fixtures built once per test run, also when pytest-xdist runs the suite in several workers.

Each xdist worker is its own process with its own session fixtures: a registry trained in a session
fixture would be trained once per worker. `once_per_run` builds it in the run's shared temporary
folder under a file lock: the first worker builds, the others wait and load what it built.
Whatever is shared is read-only for the tests (they copy the tracking database before changing it).
"""

from __future__ import annotations

import fcntl
import pickle  # nosec B403 - our own objects, written by this test run into its own temporary folder
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def once_per_run(tmp_path_factory: pytest.TempPathFactory, worker_id: str, name: str, build: Callable[[Path], T]) -> T:
    """`build(folder)` once for the whole run; every worker gets its (pickled) result and the same folder."""
    if worker_id == "master":  # no xdist: a plain session fixture
        return build(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent  # the run's folder, above each worker's own basetemp
    folder, result_file = shared / name, shared / f"{name}.pickle"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if build() raises
        if result_file.is_file():
            return pickle.loads(result_file.read_bytes())  # type: ignore[no-any-return]  # noqa: S301  # nosec B301
        folder.mkdir(exist_ok=True)
        result = build(folder)
        result_file.write_bytes(pickle.dumps(result))
        return result
