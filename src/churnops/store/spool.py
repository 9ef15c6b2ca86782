"""The spool: batches the database could not take, on local disk until they are replayed."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from pathlib import Path

from churnops.store.rows import Rows

log = logging.getLogger("churnops.store")

# What reading a damaged or foreign spool file can raise.
UNREADABLE = (OSError, ValueError, KeyError, TypeError)


class Spool:
    """JSON Lines files, one per batch, written atomically (temp name, fsync, rename).

    A crash can leave a hidden `.tmp` file, never a half file under a final name. The record
    count is part of the file name, so counting the spool needs a directory listing only.
    """

    _COUNT = re.compile(r"-(\d+)\.jsonl$")

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rejected = folder / "rejected"

    def files(self) -> list[Path]:
        """Oldest first (names start with a nanosecond timestamp)."""
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.jsonl"))

    def write(self, rows: Rows, folder: Path | None = None) -> Path:
        folder = folder or self.folder
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}-{len(rows)}.jsonl"
        temp = folder / f".{name}.tmp"
        try:
            with temp.open("w", encoding="utf-8") as file:
                for line in rows.to_lines():
                    file.write(line + "\n")
                file.flush()
                os.fsync(file.fileno())
            final = temp.replace(folder / name)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        fsync_folder(folder)
        return final

    def read(self, path: Path) -> Rows:
        with path.open(encoding="utf-8") as file:
            return Rows.from_lines(file)

    def count(self) -> int:
        return sum(self.count_file(path) for path in self.files())

    def count_file(self, path: Path) -> int:
        match = self._COUNT.search(path.name)
        if match:
            return int(match.group(1))
        try:
            return len(self.read(path))
        except UNREADABLE:
            return 0

    def quarantine(self, path: Path, reason: object) -> None:
        """Set aside a file that cannot be read, so it is kept but no longer retried."""
        target = self.rejected / path.name
        try:
            self.rejected.mkdir(parents=True, exist_ok=True)
            path.replace(target)
        except FileNotFoundError:
            return  # another worker sharing the folder got to it first
        except OSError as exc:
            log.error("Spool file %s cannot be read (%s) nor moved aside (%s); it will be retried", path, reason, exc)
            return
        log.error("Spool file %s cannot be read (%s); moved to %s", path, reason, target)


def fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# --- engine ----------------------------------------------------------------------------------
