"""The API follows its alias: a `ChampionWatcher` thread re-reads it every `alias_poll_seconds`.

When the alias moved, the new version is loaded beside the old one and swapped in with one
reference assignment, so requests already holding the old model finish on it and none fails.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from churnops.data.contract import DatasetContract
from churnops.errors import ChurnopsError
from churnops.model.served import ServedModel, load_served_model, served_version
from churnops.settings import Settings
from churnops.tracking import connect

log = logging.getLogger("churnops.model")


class ChampionWatcher:
    """Holds the served model and swaps it when the alias moves."""

    def __init__(self, settings: Settings, contract: DatasetContract | None, on_swap: Callable[[ServedModel], None] | None = None) -> None:
        self.settings = settings
        self.contract = contract  # fixed by --dataset, or None: each version's own
        self.on_swap = on_swap
        self.current: ServedModel | None = None
        self.reason = "the model is not loaded yet"
        self._lock = threading.Lock()  # one load at a time (poller vs /admin/reload)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.check()
        self._thread = threading.Thread(target=self._poll, name="champion-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def check(self) -> bool:
        """Load the alias's version if it differs from the served one. True when the model changed."""
        with self._lock:
            try:
                client = connect(self.settings)
                version = served_version(client, self.settings)
                if self.current is not None and self.current.version == version:
                    return False
                loaded = load_served_model(client, self.settings, self.contract, version)
            except ChurnopsError as error:
                return self._unavailable(str(error))
            except Exception as error:  # noqa: BLE001 - registry/network errors keep the old model serving
                return self._unavailable(f"loading '{self.settings.model_name}@{self.settings.serve_alias}' failed: {error}")
            previous = self.current
            if self.on_swap is not None:
                self.on_swap(loaded)  # the request models follow before the model does
            self.current = loaded  # the swap: requests that already hold `previous` finish on it
            self.reason = ""
            log.info(
                "serving model",
                extra={
                    "model_name": loaded.name,
                    "model_version": loaded.version,
                    "previous_version": previous.version if previous else None,
                    "inference": loaded.inference,
                },
            )
            return True

    def _unavailable(self, reason: str) -> bool:
        if self.current is None:
            if reason != self.reason:
                log.warning("no model to serve: %s", reason)
            self.reason = reason
        else:
            log.warning("keeping version %s: %s", self.current.version, reason)
        return False

    def _poll(self) -> None:
        while not self._stop.wait(self.settings.api.alias_poll_seconds):
            self.check()
