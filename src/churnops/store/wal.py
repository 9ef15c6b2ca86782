"""The write-ahead log: what the API acknowledged is on local disk before the answer leaves.

Each process appends to its own segment files in `<spool_dir>/wal/` and holds an exclusive
`flock` on each of them for as long as it lives. The lock is what tells a live writer from a
dead one: the kernel drops it when a process dies, even by `kill -9`, so a starting process
takes over exactly the segments whose owner is gone (`take_over`), whichever worker it was.

Group commit: `append` only adds a frame to an in-memory buffer and returns a ticket. For the
event loop (`wait_async`) a commit thread writes the whole buffer, fsyncs it and marks every
ticket in it durable, and goes on while requests wait: the requests that arrive during one fsync
share the next one, and the loop serves on meanwhile (fsync takes 0.15 ms on an idle disk here,
4 ms p50 when the machine is busy; committing on the loop itself would stall it that long).
Threads (`wait`) commit for each other the same way, whoever comes first.

A frame is `length, CRC32, payload` (little-endian uint32s, then JSON Lines rows). A crash can
tear the last frame; `read_segment` stops at the first frame whose length or checksum does not
hold and keeps everything before it.

Segments roll over at `segment_bytes`. A closed segment is deleted once the store has written
(or spooled) every record in it: `release(completed)` with the writer's completed count, as
each append is tagged with the store's position of its last record.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
import sys
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from churnops.errors import StoreError
from churnops.store.rows import Rows
from churnops.store.spool import fsync_folder

log = logging.getLogger("churnops.store")

FRAME = struct.Struct("<II")  # payload length, CRC32 of the payload
MAX_FRAME_BYTES = 256 * 1024 * 1024  # a length above this is a torn or foreign header, not a record
SEGMENT_SUFFIX = ".wal"
SWITCH_INTERVAL_SECONDS = 0.001


class WalError(StoreError):
    """The write-ahead log could not make a record durable (the disk refused the write or the fsync)."""


@dataclass
class _Segment:
    path: Path
    descriptor: int
    size: int = 0
    last_position: int = 0  # the store position of the last record appended here


@dataclass
class _Waiter:
    ticket: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


@dataclass
class _Failure:
    first: int  # the tickets first..last were in the write that failed
    last: int
    reason: str


@dataclass
class _Pending:
    frames: list[bytes] = field(default_factory=list)
    last_ticket: int = 0
    last_position: int = 0


class WriteAheadLog:
    """One process's segments, group commit, and trimming; `take_over` finds dead processes' segments."""

    def __init__(self, folder: Path, segment_bytes: int = 16 * 1024 * 1024) -> None:
        self.folder = folder
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()  # the state below
        self._commit_lock = threading.Lock()  # one write + fsync at a time
        self._pending = _Pending()
        self._issued = 0  # last ticket handed out
        self._durable = 0  # every ticket up to this one is fsync'd (or failed, see _failures)
        self._failures: list[_Failure] = []
        self._waiters: list[_Waiter] = []
        self._commit_thread: threading.Thread | None = None  # started by the first waiter on an event loop
        self._work = threading.Event()  # set by a waiter: the commit thread has something to fsync
        self._current: _Segment | None = None
        self._closed_segments: list[_Segment] = []
        self._closing = False

    # -- lifecycle --

    def open(self) -> None:
        """Create this process's first segment."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._current = self._new_segment()
        # A commit thread returning from fsync waits for the GIL the busy event loop holds, up to the switch
        # interval (5 ms by default) per acknowledgement group: 1 ms keeps that wait below a loaded fsync's.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_SECONDS))

    def close(self, completed: int | None = None) -> None:
        """Commit what is buffered; delete every segment when `completed` covers all of them, else leave them to the next start."""
        with self._lock:
            self._closing = True
        self._work.set()  # the commit thread, if any, ends
        self._commit()
        with self._lock:
            segments = [*self._closed_segments, *([self._current] if self._current else [])]
            self._closed_segments, self._current = [], None
        for segment in segments:
            if completed is not None and completed >= segment.last_position:
                segment.path.unlink(missing_ok=True)
            os.close(segment.descriptor)
        try:
            self.folder.rmdir()  # a clean stop leaves no trace; other workers' segments keep it
        except OSError:
            pass

    # -- the request path --

    def append(self, rows: Rows, position: int) -> int:
        """Buffer `rows` (the store's records up to `position`) for the next group commit; returns the ticket to wait for."""
        payload = rows.to_payload()
        frame = FRAME.pack(len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self._closing or self._current is None:
                raise WalError("the write-ahead log is closed; the service is shutting down")
            self._issued += 1
            self._pending.frames.append(frame)
            self._pending.last_ticket = self._issued
            self._pending.last_position = max(self._pending.last_position, position)
            return self._issued

    def wait(self, ticket: int, timeout: float = 30.0) -> None:
        """Block until `ticket` is on disk, committing for everybody if nobody else is; WalError if its write failed."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._durable >= ticket:
                    self._raise_if_failed(ticket)
                    return
            if time.monotonic() > deadline:
                raise WalError(f"the write-ahead log did not reach the disk within {timeout:.0f}s (is {self.folder} on a stalled disk?)")
            self._commit()

    async def wait_async(self, ticket: int, timeout: float = 30.0) -> None:
        """The event loop's `wait`: the commit thread writes and fsyncs while the loop goes on serving; the requests
        that append during one fsync share the next one. WalError after `timeout` (a stalled disk must not hang them)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._durable >= ticket:
                self._raise_if_failed(ticket)
                return
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append(_Waiter(ticket, loop, future))
            self._schedule(loop)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)  # shielded: the commit thread still resolves it
        except TimeoutError:
            raise WalError(f"the write-ahead log did not reach the disk within {timeout:g}s (is {self.folder} on a stalled disk?)") from None

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        """Under `_lock`: wake the commit thread (started once: a thread per commit cost the loop a GIL hand-over each)."""
        if self._commit_thread is None:
            self._commit_thread = threading.Thread(target=self._commit_while_waited_for, name="churnops-wal-commit", daemon=True)
            self._commit_thread.start()
        self._work.set()

    def _commit_while_waited_for(self) -> None:
        """The commit thread: asleep until a waiter wakes it, then committing until no waiter is left."""
        while True:
            self._work.wait()
            self._work.clear()  # before committing: a waiter that comes meanwhile wakes the next round
            while True:
                self._commit()
                with self._lock:
                    if not self._waiters or self._current is None:
                        break
            if self._closing:
                return

    def _raise_if_failed(self, ticket: int) -> None:
        for failure in self._failures:
            if failure.first <= ticket <= failure.last:
                raise WalError(failure.reason)

    # -- trimming --

    def release(self, completed: int) -> None:
        """Delete the closed segments whose records are all in the database or the spool (store position <= `completed`)."""
        with self._lock:
            done = [segment for segment in self._closed_segments if segment.last_position <= completed]
            self._closed_segments = [segment for segment in self._closed_segments if segment.last_position > completed]
        for segment in done:
            segment.path.unlink(missing_ok=True)
            os.close(segment.descriptor)

    # -- group commit --

    def _commit(self) -> None:
        """Write and fsync everything buffered so far, then mark it durable and wake its waiters."""
        with self._commit_lock:
            with self._lock:
                pending, self._pending = self._pending, _Pending()
                first = self._durable + 1
                segment = self._current
            if not pending.frames or segment is None:
                return
            data = b"".join(pending.frames)
            failure = None
            try:
                _write_all(segment.descriptor, data)
                os.fsync(segment.descriptor)
            except OSError as exc:
                failure = f"the write-ahead log {segment.path} could not be written ({exc}); free disk space or fix {self.folder}"
                log.error("%s", failure)
            with self._lock:
                segment.size += len(data)
                segment.last_position = max(segment.last_position, pending.last_position)
                if failure is not None:
                    self._failures = [*self._failures[-100:], _Failure(first, pending.last_ticket, failure)]
                self._durable = pending.last_ticket
                ready = [waiter for waiter in self._waiters if waiter.ticket <= self._durable]
                self._waiters = [waiter for waiter in self._waiters if waiter.ticket > self._durable]
            _resolve(ready, failure)
            if (failure is not None or segment.size >= self._segment_bytes) and not self._closing:
                self._roll_over()  # after a failed write the segment may hold a torn frame: later ones go to a new file

    def _roll_over(self) -> None:
        """Start a new segment; the old one stays (locked) until `release` finds its records stored."""
        try:
            fresh = self._new_segment()
        except OSError as exc:
            log.error("Cannot start a new write-ahead log segment in %s (%s); appending to the current one", self.folder, exc)
            return
        with self._lock:
            old, self._current = self._current, fresh
            if old is not None:
                self._closed_segments.append(old)

    def _new_segment(self) -> _Segment:
        """Created under a hidden name, locked, then renamed: no other process can see it unlocked."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SEGMENT_SUFFIX}"
        temp = self.folder / f".{name}.tmp"
        self.folder.mkdir(parents=True, exist_ok=True)  # a sibling's clean stop may have removed the empty folder
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            final = self.folder / name
            temp.replace(final)
            fsync_folder(self.folder)
        except BaseException:
            os.close(descriptor)
            temp.unlink(missing_ok=True)
            raise
        return _Segment(final, descriptor)


def _resolve(ready: list[_Waiter], failure: str | None) -> None:
    """Settle the waiters' futures: directly on the running loop, through call_soon_threadsafe for any other."""
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for waiter in ready:
        by_loop.setdefault(waiter.loop, []).append(waiter.future)
    for loop, futures in by_loop.items():
        if loop is running:
            _settle(futures, failure)
            continue
        try:
            loop.call_soon_threadsafe(_settle, futures, failure)
        except RuntimeError:
            pass  # that loop is closed: nobody is waiting any more


def take_over(folder: Path) -> list[tuple[Path, int]]:
    """The segments (oldest first) whose owning process has died, each with its descriptor, locked by the caller now.

    Close the descriptor after the segment's records are safe elsewhere and it is deleted.
    """
    if not folder.is_dir():
        return []
    taken = []
    for path in sorted(folder.glob(f"*{SEGMENT_SUFFIX}")):
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # another process took it over and finished with it
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)  # its owner is alive
            continue
        taken.append((path, descriptor))
    return taken


def read_segment(path: Path) -> Rows:
    """Every whole frame of a segment; a torn or corrupt tail (a crash mid-write) is logged and left out."""
    data = path.read_bytes()
    lines: list[str] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < FRAME.size:
            break
        length, checksum = FRAME.unpack_from(data, offset)
        payload = data[offset + FRAME.size : offset + FRAME.size + length]
        if length > MAX_FRAME_BYTES or len(payload) < length or zlib.crc32(payload) != checksum:
            break
        lines.extend(payload.decode().splitlines())
        offset += FRAME.size + length
    if offset < len(data):
        log.warning("Write-ahead log %s ends in a torn record at byte %d of %d (a crash mid-write); it is left out", path, offset, len(data))
    return Rows.from_lines(lines)


def _settle(futures: list[asyncio.Future[None]], failure: str | None) -> None:
    for future in futures:
        if future.done():
            continue  # the request was cancelled (client gone)
        if failure is None:
            future.set_result(None)
        else:
            future.set_exception(WalError(failure))


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]
