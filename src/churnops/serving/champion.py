"""Moving the champion from the API: the registry calls of `churnops promote` and `churnops rollback`.

Both record a run in the training experiment, as the CLI does. They run in a worker thread; the
lock keeps two of them from interleaving, since each reads and rewrites the champion history.
"""

from __future__ import annotations

import threading

from churnops import registry
from churnops.settings import Settings
from churnops.tracking import connect, ensure_experiment

_moving = threading.Lock()


def promote(settings: Settings, version: str, reason: str) -> None:
    """Make `version` champion without the gate. RegistryError when the model has no such version."""
    with _moving:
        client = connect(settings)
        ensure_experiment(settings)
        registry.force_promote(client, settings, version, reason)


def rollback(settings: Settings) -> tuple[str, str]:
    """Champion back to the previous champion: (from_version, to_version). RegistryError when there is none."""
    with _moving:
        client = connect(settings)
        ensure_experiment(settings)
        return registry.rollback_and_record(client, settings)
