"""The write-ahead log on its own and inside the store: group commit, torn tails, live vs dead owners, trimming.

Real files, real fsync, real flock, real SQLite; the crash itself (kill -9 of churnops serve) is in test_crash_durability.py.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from churnops.store import PredictionRecord, PredictionStore
from churnops.store.rows import Rows
from churnops.store.wal import WalError, WriteAheadLog, read_segment, take_over
from tests.support.databases import count_rows


def predictions(count: int) -> list[PredictionRecord]:
    now = datetime.now(UTC)
    return [PredictionRecord(uuid.uuid4().hex, now, "m", "1", {"tenure": index}, 0.5, True, 0.5, 1.0, "predict", None) for index in range(count)]


def segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.wal"))


def test_appends_from_many_requests_share_fsyncs_and_read_back_whole(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    wal.open()
    records = predictions(200)

    async def requests() -> None:
        async def one(index: int) -> None:
            await wal.wait_async(wal.append(Rows.of(records[index : index + 1]), index + 1))

        await asyncio.gather(*(one(index) for index in range(len(records))))

    asyncio.run(requests())
    wal.wait(wal.append(Rows.of(predictions(1)), 201))  # the threads' way of waiting
    [segment] = segments(tmp_path / "wal")
    stored = read_segment(segment)
    assert stored.prediction_ids()[:200] == [record.id for record in records]
    assert len(stored) == 201
    wal.close(completed=201)
    assert segments(tmp_path / "wal") == [], "a clean close with everything stored leaves no segment"


def test_a_torn_last_record_is_left_out_and_the_rest_recovered(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    wal.open()
    whole = predictions(5)
    wal.wait(wal.append(Rows.of(whole), 5))
    wal.close()  # not completed: the segment stays, as after a crash
    [segment] = segments(tmp_path / "wal")
    intact = segment.read_bytes()
    torn = Rows.of(predictions(1))
    frame = WriteAheadLog(tmp_path / "other")
    frame.open()
    frame.wait(frame.append(torn, 1))
    [other] = segments(tmp_path / "other")
    segment.write_bytes(intact + other.read_bytes()[:-7])  # the crash cut the last frame short
    assert read_segment(segment).prediction_ids() == [record.id for record in whole]
    segment.write_bytes(intact + b"\x05\x00\x00\x00garbage")  # a header whose checksum does not hold
    assert read_segment(segment).prediction_ids() == [record.id for record in whole]
    frame.close(completed=1)


def test_the_store_recovers_a_dead_process_log_with_a_torn_tail_and_starts(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    wal = WriteAheadLog(spool / "wal")
    wal.open()
    records = predictions(30)
    wal.wait(wal.append(Rows.of(records), 30))
    wal.close()  # its owner "died": the lock is gone, the segment stays
    [segment] = segments(spool / "wal")
    with segment.open("ab") as file:
        file.write(b"\xff\xff\x00")  # a torn frame header
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    store = PredictionStore(url, spool, write_ahead=True)
    store.start()
    store.close()
    assert count_rows(url) == (30, 30)
    assert segments(spool / "wal") == [], "the recovered segment and the store's own are gone after a clean close"


def test_a_live_process_log_is_not_taken_over(tmp_path: Path) -> None:
    alive = WriteAheadLog(tmp_path / "wal")
    alive.open()
    alive.wait(alive.append(Rows.of(predictions(3)), 3))
    assert take_over(tmp_path / "wal") == []  # its owner holds the lock
    alive.close()
    [(path, descriptor)] = take_over(tmp_path / "wal")  # now its owner is gone
    os.close(descriptor)
    assert len(read_segment(path)) == 3


def test_closed_segments_are_deleted_once_their_records_are_stored(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal", segment_bytes=1)  # every commit starts a new segment
    wal.open()
    for position in (10, 20, 30):
        wal.wait(wal.append(Rows.of(predictions(1)), position))
    assert len(segments(tmp_path / "wal")) == 4  # three full ones and the current, empty one
    wal.release(20)
    assert len(segments(tmp_path / "wal")) == 2, "the segments up to position 20 are stored; the rest stay"
    wal.release(30)
    assert len(segments(tmp_path / "wal")) == 1, "the current segment is never deleted while in use"
    wal.close(completed=30)
    assert segments(tmp_path / "wal") == []


def test_the_store_answers_for_its_tickets_and_trims_the_log_as_it_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    store = PredictionStore(url, tmp_path / "spool", flush_seconds=0.05, write_ahead=True)
    store.start()
    records = predictions(50)
    ticket = store.record_predictions(records)
    store.wait_durable(ticket)
    [segment] = segments(tmp_path / "spool" / "wal")
    assert read_segment(segment).prediction_ids() == [record.id for record in records], "on disk before the answer"
    assert store.flush()
    store.close()
    assert count_rows(url) == (50, 50)
    assert segments(tmp_path / "spool" / "wal") == []


def test_batched_durability_and_batch_scoring_write_no_log(tmp_path: Path) -> None:
    store = PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}", tmp_path / "spool")
    store.start()
    assert store.record_predictions(predictions(3)) == 0  # nothing to wait for
    store.close()
    assert not (tmp_path / "spool" / "wal").exists()


def test_appending_after_close_is_refused_with_a_reason(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    wal.open()
    wal.close(completed=0)
    with pytest.raises(WalError, match="closed"):
        wal.append(Rows.of(predictions(1)), 1)


def test_a_request_waiting_on_a_stalled_disk_gets_an_error_not_a_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    wal.open()
    released = threading.Event()
    real_fsync = os.fsync
    monkeypatch.setattr("churnops.store.wal.os.fsync", lambda descriptor: released.wait(10) and real_fsync(descriptor))  # a disk that stalls

    async def request() -> None:
        await wal.wait_async(wal.append(Rows.of(predictions(1)), 1), timeout=0.5)

    with pytest.raises(WalError, match="did not reach the disk within 0.5s"):
        asyncio.run(request())
    released.set()  # the disk comes back: the record is made durable after all, and the log closes cleanly
    wal.wait(1, timeout=10)
    wal.close(completed=1)
