"""SQLite's write-ahead log is copied back into the database file by the runtime's own thread."""

from __future__ import annotations

import shutil
import sqlite3
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
