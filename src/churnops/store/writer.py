"""The prediction store: every prediction and every feedback, persisted off the request path.

The request path only appends records to an in-memory queue. One writer thread writes them
in batches, one transaction per batch. While the database cannot be reached, batches are
spooled to local disk as JSON Lines and replayed once it is back, so an outage delays the
monitoring data but never loses it. Inserts skip rows whose key is already stored, which
makes every replay idempotent (a batch whose commit was lost in transit is spooled and
replayed without duplicating anything). `start()` runs the migrations (`engine.migrate`).

With `write_ahead` (the API's default, CHURNOPS_STORE_DURABILITY=durable), predictions and
feedback are also appended to a write-ahead log (`wal.py`) that is fsync'd before the request is
answered: a crash loses nothing acknowledged. `start()` turns the segments of processes that died
into spool files, which the usual replay then writes.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from churnops.errors import ConfigError, StoreError
from churnops.settings import StoreSettings
from churnops.store import bulk
from churnops.store.engine import create_store_engine, describe_error, is_outage, migrate
from churnops.store.records import FeedbackRecord, PredictionRecord, Record, RequestRecord
from churnops.store.rows import TABLES, Rows
from churnops.store.schema import FEEDBACK, MONITORING_RUNS, PREDICTIONS
from churnops.store.spool import UNREADABLE, Spool
from churnops.store.wal import WriteAheadLog, read_segment, take_over

log = logging.getLogger("churnops.store")

PROBE_CACHE_SECONDS = 1.0
MONITORING_CACHE_SECONDS = 5.0


class _Aborted(Exception):
    """The caller of `storing_columns` failed: the batches its thread wrote are rolled back."""


class PredictionStore:
    """Persists predictions and feedback without ever blocking or failing a request.

    Counters and the queue are guarded by one lock with two conditions: `_work` wakes the
    writer, `_done` wakes `flush()` callers. Database setup and replays hold `_replay_lock`.
    """

    def __init__(
        self,
        url: str,
        spool_dir: Path,
        batch_size: int = 500,
        flush_seconds: float = 0.2,
        retry_seconds: float = 5.0,
        write_ahead: bool = False,
    ) -> None:
        if batch_size < 1 or flush_seconds <= 0 or retry_seconds <= 0:
            raise ConfigError(
                f"Prediction store needs batch_size >= 1 and positive flush/retry seconds, got {batch_size}, {flush_seconds}, {retry_seconds}."
            )
        self._engine = create_store_engine(url)
        self._label = self._engine.url.render_as_string(hide_password=True)
        self._spool = Spool(Path(spool_dir))
        self._wal_folder = Path(spool_dir) / "wal"
        self._wal = WriteAheadLog(self._wal_folder) if write_ahead else None
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._retry_seconds = retry_seconds
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        self._inserts = {name: insert(table).on_conflict_do_nothing() for name, table in TABLES.items()}

        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()  # (table, row): converted once, for the log and the writer
        self._oldest_at = 0.0  # when the oldest queued record arrived (monotonic)
        self._enqueued = 0
        self._completed = 0
        self._flush_requests = 0
        self._pending_ids: set[str] = set()  # predictions queued or spooled, not yet in the database
        self._spooled = 0
        self._held: list[Rows] = []  # batches neither the database nor the disk took
        self._stopping = False
        self._closed = False
        self._thread: threading.Thread | None = None

        self._replay_lock = threading.Lock()
        self._spool_lock = threading.Lock()  # spool writes vs. recounts
        self._migrated = False
        self._healthy = False  # the writer's view: batches go to the database (True) or straight to the spool
        self._outage_logged = False
        self._next_retry = 0.0
        self._probe_lock = threading.Lock()
        self._probe: tuple[float, tuple[bool, str | None]] | None = None
        self._latest_monitoring: tuple[float, dict[str, Any] | None] | None = None

    @classmethod
    def from_settings(cls, store: StoreSettings, acknowledged: bool = False) -> PredictionStore:
        """The store CHURNOPS_STORE_URL, CHURNOPS_SPOOL_DIR and CHURNOPS_STORE_{BATCH_SIZE,FLUSH_SECONDS,RETRY_SECONDS} describe.

        `acknowledged`: records are answered for (the API), so CHURNOPS_STORE_DURABILITY=durable puts them in the
        write-ahead log first. Batch scoring answers for nothing before its own end, which flushes the store.
        """
        return cls(
            store.url,
            store.spool_dir,
            batch_size=store.batch_size,
            flush_seconds=store.flush_seconds,
            retry_seconds=store.retry_seconds,
            write_ahead=acknowledged and store.durability == "durable",
        )

    # -- lifecycle --

    def start(self) -> None:
        """Migrate and replay the spool now if the database answers, then start the writer. Never fails on an outage."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this PredictionStore is closed; create a new one")
            if self._thread is not None:
                return
        if self._wal is not None:
            self._recover_wal()
            self._wal.open()
        self._load_spool()
        self._recover()
        self._thread = threading.Thread(target=self._run, name="churnops-store-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued (spool what cannot be written), stop the writer. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = self._stopping = True
            self._work.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("Prediction store writer did not finish within %.0fs; spooling what is still queued", timeout)
        self._drain_to_spool()
        self._spool_held()
        if self._wal is not None:
            with self._lock:
                safe = not self._held and not self._queue
            self._wal.close(completed=self._completed if safe else None)  # kept segments are replayed by the next start
        atexit.unregister(self.close)
        self._engine.dispose()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything recorded so far is written or spooled; False if that took longer than `timeout`."""
        if self._thread is None or not self._thread.is_alive():
            self._drain_to_spool()
            return True
        with self._lock:
            target = self._enqueued
            self._flush_requests += 1
            self._work.notify_all()
            try:
                return self._done.wait_for(lambda: self._completed >= target, timeout)
            finally:
                self._flush_requests -= 1

    # -- the request path --

    def record_predictions(self, records: Sequence[PredictionRecord]) -> int:
        """Queue predictions for the writer; never blocks on the database. Returns the ticket `durable` waits for."""
        return self._acknowledged(*self._enqueue(records, [record.id for record in records]))

    def record_feedback(self, record: FeedbackRecord) -> int:
        """Queue a feedback for the writer; never blocks on the database. Returns the ticket `durable` waits for."""
        return self._acknowledged(*self._enqueue([record], []))

    def record_requests(self, records: Sequence[RequestRecord]) -> None:
        """Queue answered requests (for the service's latency and error figures); not in the write-ahead log."""
        self._enqueue(records, [])

    async def durable(self, ticket: int, timeout: float = 30.0) -> None:
        """Return once the records behind `ticket` survive a crash (WalError if the disk refused them or took
        longer than `timeout`)."""
        if ticket and self._wal is not None:
            await self._wal.wait_async(ticket, timeout)

    def wait_durable(self, ticket: int, timeout: float = 30.0) -> None:
        """`durable` for callers off the event loop."""
        if ticket and self._wal is not None:
            self._wal.wait(ticket, timeout)

    def _acknowledged(self, rows: Rows, position: int) -> int:
        """Into the write-ahead log (durable mode) once queued; 0 when there is nothing to wait for."""
        if self._wal is None or position == 0:
            return 0
        return self._wal.append(rows, position)

    def record_prediction_rows(self, rows: Rows) -> int:
        """`record_predictions` for predictions already built as rows (`Rows.of_predictions`: the API's path)."""
        return self._acknowledged(*self._enqueue_rows(rows, rows.prediction_ids()))

    def _enqueue(self, records: Sequence[Record], prediction_ids: list[str]) -> tuple[Rows, int]:
        """The records as rows (converted once: the write-ahead log and the writer share them), and the
        store position of the last one queued (0: none, or written straight to the spool)."""
        return self._enqueue_rows(Rows.of(records), prediction_ids)

    def _enqueue_rows(self, rows: Rows, prediction_ids: list[str]) -> tuple[Rows, int]:
        count = len(rows)
        if not count:
            return rows, 0
        with self._lock:
            self._pending_ids.update(prediction_ids)
            if not self._closed:
                if not self._queue:
                    self._oldest_at = time.monotonic()
                self._queue.extend(rows.items())
                self._enqueued += count
                if len(self._queue) == count or len(self._queue) >= self._batch_size:
                    self._work.notify()
                return rows, self._enqueued
        # Recorded after close (e.g. a request finishing during shutdown): straight to disk (fsync'd).
        self._spool_rows(rows)
        return rows, 0

    # -- status --

    @property
    def queue_depth(self) -> int:
        with self._lock:
            return self._enqueued - self._completed + sum(len(rows) for rows in self._held)

    @property
    def spooled_records(self) -> int:
        return self._spooled

    def reachable(self) -> tuple[bool, str | None]:
        """(True, None) or (False, why), from a `SELECT 1` at most once a second."""
        with self._probe_lock:
            if self._probe is not None and time.monotonic() - self._probe[0] < PROBE_CACHE_SECONDS:
                return self._probe[1]
            try:
                with self._engine.connect() as connection:
                    connection.execute(sa.text("SELECT 1"))
                result: tuple[bool, str | None] = (True, None)
            except SQLAlchemyError as exc:
                result = (False, describe_error(exc))
            self._probe = (time.monotonic(), result)
            return result

    def knows_prediction(self, prediction_id: str) -> bool:
        """Whether feedback for this id can be attached: queued, spooled or stored."""
        with self._lock:
            if prediction_id in self._pending_ids:
                return True
        if not self.reachable()[0]:
            return False
        try:
            with self._engine.connect() as connection:
                found = connection.execute(sa.select(PREDICTIONS.c.id).where(PREDICTIONS.c.id == prediction_id)).first()
        except SQLAlchemyError:
            return False
        return found is not None

    def count_predictions(self) -> int:
        return self._count(PREDICTIONS)

    def count_feedback(self) -> int:
        return self._count(FEEDBACK)

    def get_prediction(self, prediction_id: str) -> dict[str, Any] | None:
        """A stored prediction as a dict (features decoded), or None; for tests and debugging."""
        row = self._read(lambda connection: connection.execute(sa.select(PREDICTIONS).where(PREDICTIONS.c.id == prediction_id)).first())
        return None if row is None else dict(row._mapping)

    def latest_monitoring(self) -> dict[str, Any] | None:
        """The newest monitoring run's headline figures (for the API's gauges); None if none yet or unreadable."""
        with self._probe_lock:
            if self._latest_monitoring is not None and time.monotonic() - self._latest_monitoring[0] < MONITORING_CACHE_SECONDS:
                return self._latest_monitoring[1]
        try:
            with self._engine.connect() as connection:
                row = connection.execute(sa.select(MONITORING_RUNS).order_by(MONITORING_RUNS.c.window_end.desc()).limit(1)).first()
            latest = None if row is None else dict(row._mapping)
        except SQLAlchemyError:
            latest = None  # not migrated yet, or unreachable: no gauge values rather than a failed scrape
        with self._probe_lock:
            self._latest_monitoring = (time.monotonic(), latest)
        return latest

    def _count(self, table: sa.Table) -> int:
        return int(self._read(lambda connection: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()))

    def _read(self, query: Any) -> Any:
        try:
            with self._engine.connect() as connection:
                return query(connection)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"Prediction store {self._label} cannot be read ({describe_error(exc)}). Check that the database is up and reachable."
            ) from exc

    # -- replay --

    def replay_spool(self) -> int:
        """Write the spooled records now; returns how many left the spool (already stored ones included)."""
        try:
            return self._catch_up()
        except SQLAlchemyError as exc:
            raise StoreError(
                f"Prediction store {self._label} cannot be reached ({describe_error(exc)}); "
                f"spooled records stay in {self._spool.folder} and are retried."
            ) from exc

    def _catch_up(self) -> int:
        """Migrate if needed, then write held batches and spool files; raises SQLAlchemyError on an outage."""
        with self._replay_lock:
            self._ensure_migrated()
            while self._held:
                self._write(self._held[0])
                with self._lock:
                    self._held.pop(0)
            replayed = 0
            for path in self._spool.files():
                replayed += self._replay_file(path)
            with self._spool_lock:
                self._spooled = self._spool.count()  # other workers may share the folder
            return replayed

    def _replay_file(self, path: Path) -> int:
        try:
            rows = self._spool.read(path)
        except FileNotFoundError:
            return 0  # another worker sharing the folder replayed it
        except UNREADABLE as exc:
            self._spool.quarantine(path, exc)
            return 0
        self._write(rows)
        with self._spool_lock:
            path.unlink(missing_ok=True)
            self._spooled = max(0, self._spooled - len(rows))
        return len(rows)

    def _load_spool(self) -> None:
        """Count what a previous process left on disk and remember its ids for `knows_prediction`."""
        ids: set[str] = set()
        for path in self._spool.files():
            try:
                ids.update(self._spool.read(path).prediction_ids())
            except UNREADABLE as exc:
                self._spool.quarantine(path, exc)
        with self._spool_lock:
            self._spooled = self._spool.count()
        with self._lock:
            self._pending_ids |= ids
        if self._spooled:
            log.info("Prediction store spool %s holds %d records from before; replaying them", self._spool.folder, self._spooled)

    def _recover_wal(self) -> None:
        """Turn the write-ahead segments of processes that died into spool files, which the spool replay writes.

        A segment's owner holds a lock on it while alive (wal.py), so a sibling worker's live segment is left alone.
        """
        for path, descriptor in take_over(self._wal_folder):
            try:
                rows = read_segment(path)
                if rows:
                    self._spool.write(rows)  # fsync'd before the segment goes
                    log.info("Prediction store recovered %d records from the write-ahead log %s", len(rows), path.name)
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.error("Cannot recover the write-ahead log %s (%s); it is kept and retried at the next start", path, exc)
            finally:
                os.close(descriptor)

    # -- database --

    def _ensure_migrated(self) -> None:
        if not self._migrated:
            migrate(self._engine)
            self._migrated = True

    def _write(self, rows: Rows) -> None:
        """Store a batch in one transaction; raises only when the database cannot be reached."""
        refusal = self._try_insert(rows)
        if refusal is not None:
            self._insert_one_by_one(rows, refusal)
        with self._lock:
            self._pending_ids.difference_update(rows.prediction_ids())

    def _insert(self, rows: Rows) -> None:
        with self._engine.begin() as connection:
            for table, table_rows in rows.tables.items():
                if table == "predictions":
                    bulk.insert_rows(connection, table_rows)  # the bulk path: most of what the store writes
                elif table_rows:
                    connection.execute(self._inserts[table], table_rows)

    def store_columns(self, batch: bulk.PredictionColumns) -> None:
        """Store a columnar batch now, in one bulk statement (the caller waits, no queue)."""
        self.store_column_batches([batch])

    def store_column_batches(self, batches: Iterable[bulk.PredictionColumns]) -> None:
        """Store columnar batches now, all in one transaction: batch scoring's file is stored whole or not at all.

        When the database refuses a batch, that batch takes the ordinary path (row by row, refused rows set aside)
        and the others are stored in bulk again, in a new transaction; during an outage the batches are spooled
        and replayed like any other.
        """
        taken: list[bulk.PredictionColumns] = []
        batches = iter(batches)
        if self._healthy:
            try:
                with self._engine.begin() as connection:
                    for batch in batches:
                        taken.append(batch)
                        bulk.insert_columns(connection, batch)
                return
            except SQLAlchemyError as exc:
                if not is_outage(exc) and taken:
                    *accepted, refused = taken  # the batch being inserted when the database said no
                    self._store_refused(refused, exc)
                    self.store_column_batches(itertools.chain(accepted, batches))
                    return
                self._enter_outage(exc)
        for batch in itertools.chain(taken, batches):
            self._spool_rows(Rows.single("predictions", batch.rows()))

    @contextmanager
    def storing_columns(self, depth: int = 4) -> Iterator[Callable[[bulk.PredictionColumns], None]]:
        """A function that hands columnar batches to a thread of their own, which stores them in one transaction
        (`store_column_batches`) while the caller makes the next ones: the database's work overlaps the scoring.

        Leaving the block waits for the commit; leaving it with an exception rolls back what the thread wrote
        (nothing of a failed batch is stored). At most `depth` batches wait in memory.
        """
        pending: queue.Queue[bulk.PredictionColumns | None] = queue.Queue(maxsize=depth)
        aborted = threading.Event()
        failures: list[BaseException] = []

        def handed() -> Iterator[bulk.PredictionColumns]:
            while (batch := pending.get()) is not None:
                yield batch
            if aborted.is_set():
                raise _Aborted  # inside the transaction: it rolls back

        def write() -> None:
            try:
                self.store_column_batches(handed())
            except _Aborted:
                pass
            except BaseException as exc:  # noqa: BLE001 - raised again on the caller's thread
                failures.append(exc)
                while pending.get() is not None:  # the caller must never block on a full queue
                    pass

        thread = threading.Thread(target=write, name="churnops-bulk-store", daemon=True)
        thread.start()

        def put(batch: bulk.PredictionColumns) -> None:
            if failures:
                raise failures[0]
            if self._engine.dialect.name == "postgresql":
                batch.copy_data  # noqa: B018 - built on the caller's thread: the database reads the previous batch meanwhile
            pending.put(batch)

        try:
            yield put
        except BaseException:
            aborted.set()
            raise
        finally:
            pending.put(None)
            thread.join()
        if failures:
            raise failures[0]

    def _store_refused(self, batch: bulk.PredictionColumns, cause: SQLAlchemyError) -> None:
        rows = Rows.single("predictions", batch.rows())
        try:
            self._insert_one_by_one(rows, cause)
        except SQLAlchemyError as outage:  # the database went away meanwhile
            self._enter_outage(outage)
            self._spool_rows(rows)

    def _insert_one_by_one(self, rows: Rows, cause: SQLAlchemyError) -> None:
        """One row the database refuses must not keep its whole batch out: refused rows are set aside on disk."""
        refused = Rows(
            {
                table: [row for row in table_rows if self._try_insert(Rows.single(table, [row])) is not None]
                for table, table_rows in rows.tables.items()
            }
        )
        if not refused:
            return
        try:
            kept = f"they are kept in {self._spool.write(refused, self._spool.rejected)}"
        except OSError as exc:
            kept = f"and they could not be written to {self._spool.rejected} either ({exc})"
        log.error("Prediction store %s refused %d of %d records (%s); %s", self._label, len(refused), len(rows), describe_error(cause), kept)

    def _try_insert(self, rows: Rows) -> SQLAlchemyError | None:
        """None when stored; the database's refusal otherwise. An outage is raised, not returned."""
        try:
            self._insert(rows)
        except SQLAlchemyError as exc:
            if is_outage(exc):
                raise
            return exc
        return None

    # -- the writer thread --

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                if batch:
                    self._process(batch)
                else:
                    self._recover()
            except Exception:
                log.exception("Prediction store writer hit an unexpected error; it carries on")

    def _next_batch(self) -> list[tuple[str, dict[str, Any]]] | None:
        """Wait for work: a due batch, or [] when a retry is due; None once stopped and drained."""
        with self._lock:
            while True:
                now = time.monotonic()
                if not self._stopping and self._needs_retry() and now >= self._next_retry:
                    return []
                if self._queue and self._batch_due(now):
                    count = min(self._batch_size, len(self._queue))
                    return [self._queue.popleft() for _ in range(count)]
                if self._stopping:
                    return None
                self._work.wait(self._seconds_to_wait(now))

    def _batch_due(self, now: float) -> bool:
        return len(self._queue) >= self._batch_size or self._stopping or self._flush_requests > 0 or now - self._oldest_at >= self._flush_seconds

    def _needs_retry(self) -> bool:
        return not self._healthy or self._spooled > 0 or bool(self._held)

    def _seconds_to_wait(self, now: float) -> float:
        wake_at = now + 1.0
        if self._queue:
            wake_at = min(wake_at, self._oldest_at + self._flush_seconds)
        if self._needs_retry():
            wake_at = min(wake_at, self._next_retry)
        return max(wake_at - now, 0.001)

    def _process(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            self._store(Rows.of_items(items))
        finally:
            with self._lock:
                self._completed += len(items)
                self._done.notify_all()
            self._release_wal()

    def _release_wal(self) -> None:
        """Trim the write-ahead log up to what is in the database or the spool (not while batches are held in memory)."""
        with self._lock:
            completed, held = self._completed, bool(self._held)
        if self._wal is not None and not held:
            self._wal.release(completed)

    def _store(self, rows: Rows) -> None:
        """To the database while it answers, else to the spool (the retry loop finds out when it is back)."""
        if self._healthy:
            try:
                self._write(rows)
                return
            except SQLAlchemyError as exc:
                self._enter_outage(exc)
        self._spool_rows(rows)

    def _recover(self) -> None:
        """Migrate, replay the spool; only when all of it worked do batches go to the database again."""
        self._next_retry = time.monotonic() + self._retry_seconds
        try:
            replayed = self._catch_up()
        except SQLAlchemyError as exc:
            self._enter_outage(exc)
            return
        if self._outage_logged or replayed:
            log.info("Prediction store %s is reachable; replayed %d spooled records", self._label, replayed)
        self._outage_logged = False
        self._healthy = True

    def _enter_outage(self, exc: SQLAlchemyError) -> None:
        """Warn once per outage, not once per batch."""
        self._healthy = False
        self._next_retry = time.monotonic() + self._retry_seconds
        if not self._outage_logged:
            self._outage_logged = True
            log.warning(
                "Prediction store %s is unreachable (%s); spooling records to %s and retrying every %.0fs",
                self._label,
                describe_error(exc),
                self._spool.folder,
                self._retry_seconds,
            )
        else:
            log.debug("Prediction store %s still unreachable: %s", self._label, describe_error(exc))

    # -- spooling --

    def _spool_rows(self, rows: Rows) -> None:
        """Append a batch to the spool; if even the disk refuses, keep it in memory for the next retry."""
        if not rows:
            return
        try:
            with self._spool_lock:
                self._spool.write(rows)
                self._spooled += len(rows)
        except OSError as exc:
            log.error("Cannot write %d records to the spool folder %s (%s); keeping them in memory", len(rows), self._spool.folder, exc)
            with self._lock:
                self._held.append(rows)

    def _drain_to_spool(self) -> None:
        """Spool whatever is still queued (no writer running, or it is stuck on the database)."""
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
        if not items:
            return
        try:
            for rows in Rows.of_items(items).chunks(self._batch_size):
                self._spool_rows(rows)
        finally:
            with self._lock:
                self._completed += len(items)
                self._done.notify_all()

    def _spool_held(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for rows in held:
            self._spool_rows(rows)
        lost = sum(len(rows) for rows in self._held)
        if lost:
            log.error("Prediction store lost %d records: neither %s nor the spool folder %s could take them", lost, self._label, self._spool.folder)
