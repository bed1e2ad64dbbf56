"""SQLite's write-ahead log is copied back into the database file by the runtime's own thread."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from empi import patients
from empi.db import WalCheckpointer, sqlite_file
from empi.runtime import Runtime
from tests.core.factories import feed, person

ON_SQLITE = pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=pytest.mark.sqlite)], indirect=True)


def _file_alone(database: str, tmp_path: Path) -> sqlite3.Connection:
    """The database file copied without its -wal: it holds only what a checkpoint has copied back."""
    copy = tmp_path / "file-alone.db"
    shutil.copyfile(database, copy)
    return sqlite3.connect(copy)


def _wait_for(predicate: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@ON_SQLITE
def test_committed_records_reach_the_database_file_without_a_writer_checkpoint(rt: Runtime, tmp_path: Path) -> None:
    database = sqlite_file(rt.settings.database_url)
    assert database is not None and rt.checkpointer is not None
    with rt.write() as s:
        patients.register(s, feed("WAL-1", "HOSPA", person()), rt=rt)
    # far below the writers' 10,000-page autocheckpoint: only the runtime's thread can have copied it back
    wal = Path(database + "-wal")
    assert wal.exists() and wal.stat().st_size < 10_000 * 4096

    def copied() -> bool:
        with _file_alone(database, tmp_path) as conn:
            return conn.execute("SELECT count(*) FROM source_record WHERE identifier = 'WAL-1'").fetchone()[0] == 1

    assert _wait_for(copied)
    checkpointer = rt.checkpointer
    assert _wait_for(lambda: checkpointer.checkpoints > 0)  # counted just after the copy, so maybe a moment later


@ON_SQLITE
def test_the_thread_stops_when_the_runtime_closes(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime()
    checkpointer = rt.checkpointer
    assert checkpointer is not None and checkpointer._thread.is_alive()
    rt.close()
    assert not checkpointer._thread.is_alive()
    assert rt.checkpointer is None


@pytest.mark.parametrize("url, expected", [
    ("sqlite:////var/lib/empi/empi.db", "/var/lib/empi/empi.db"),
    ("sqlite:///relative.db", "relative.db"),
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("postgresql://empi@db:5432/empi", None),
])
def test_only_a_sqlite_file_gets_a_checkpointer(url: str, expected: str | None) -> None:
    assert sqlite_file(url) == expected


def test_a_database_it_cannot_open_leaves_the_thread_stopped_with_a_log_line(tmp_path: Path,
                                                                             caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "no-such-directory" / "empi.db"
    checkpointer = WalCheckpointer(str(missing), interval=0.01)
    checkpointer._thread.join(5)
    assert not checkpointer._thread.is_alive()
    assert checkpointer.checkpoints == 0
    assert "wal checkpoint thread not started: OperationalError" in caplog.text
    checkpointer.close()  # closing a stopped checkpointer is harmless


def _steady_writer(path: Path, lock: threading.RLock | None, *, created_without_wal: bool = False) -> tuple[int, int]:
    """3,000 small transactions, each under the write lock (as the service's write units); returns the
    largest the log grew to, in pages, and the checkpointer's runs under the lock.

    ``created_without_wal``: the file is created with a rollback journal (as `empi migrate` creates a new
    database) and the thread has looked at it before the writer switches it to WAL."""
    checkpointer = None
    if created_without_wal:
        with sqlite3.connect(path) as creator:
            creator.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
        creator.close()
        checkpointer = WalCheckpointer(str(path), interval=0.005, idle_interval=0.02, lock=lock, restart_pages=300)
        time.sleep(0.1)  # a few rounds on the file in rollback-journal mode
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "wal_autocheckpoint=3000"):
        writer.execute(f"PRAGMA {pragma}")
    if checkpointer is None:
        writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
        checkpointer = WalCheckpointer(str(path), interval=0.005, lock=lock, restart_pages=300)
    held = lock or threading.RLock()
    largest = 0
    try:
        for _ in range(3000):
            with held:
                writer.execute("BEGIN IMMEDIATE")
                writer.execute("INSERT INTO t (body) VALUES (randomblob(3000))")
                writer.execute("COMMIT")
            largest = max(largest, os.path.getsize(f"{path}-wal") // 4096)  # a restarted log reuses the file
            time.sleep(0)  # between two write units the thread may take the lock, as between two feeds
    finally:
        checkpointer.close()
    assert writer.execute("SELECT count(*) FROM t").fetchone()[0] == 3000
    writer.close()
    return largest, checkpointer.catch_ups


def test_with_the_write_lock_the_thread_restarts_the_log_before_a_writer_would_checkpoint(tmp_path: Path) -> None:
    largest, catch_ups = _steady_writer(tmp_path / "locked.db", threading.RLock())
    assert catch_ups >= 1
    assert largest < 1500  # restarted soon after 300 pages: the writers' autocheckpoint (3,000 here) never ran
    # without the lock the log is seldom all copied back while the writer goes on: it grows towards that limit
    largest, catch_ups = _steady_writer(tmp_path / "unlocked.db", None)
    assert catch_ups == 0
    assert largest >= 2000


def test_a_database_switched_to_wal_after_the_thread_opened_it_is_still_checkpointed(tmp_path: Path) -> None:
    # a connection that first saw the file with a rollback journal reports "not in WAL mode" until it reads again;
    # the benchmark's fresh stores (migrated first, then switched to WAL by the service) were never caught up
    largest, catch_ups = _steady_writer(tmp_path / "migrated.db", threading.RLock(), created_without_wal=True)
    assert catch_ups >= 1
    assert largest < 1500
