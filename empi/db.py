"""Engine, sessions, the unit of work and migrations.

Only adapters (one MLLP message, one HTTP write, one batch chunk) open a unit of work; services
take a ``Session`` and never commit.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

log = logging.getLogger(__name__)


_sqlite_write_locks: dict[str, threading.RLock] = {}
_locks_guard = threading.Lock()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # a large store's blocking-key index and candidate rows are read through a shared memory map
            # rather than a read() per page missing from each connection's own small page cache
            cur.execute("PRAGMA mmap_size=1073741824")
            # checkpoint every ~40 MB of WAL rather than every 4 MB: a feed dirties pages all over the indexes, and
            # a page rewritten by many commits between two checkpoints is copied back once (feeds 8-13% faster).
            # With a WalCheckpointer running, the log is restarted long before (at 5,000 pages); this is the
            # limit when it isn't (another process writing, or the thread stopped).
            cur.execute("PRAGMA wal_autocheckpoint=10000")
            cur.close()

        return engine
    # psycopg prepares a statement after 5 runs, so PostgreSQL no longer parses and plans it on every run
    # (a feed's one-statement inserts in empi.records and empi.links are long). A prepared statement may get
    # a generic plan chosen while the tables were small: the blocking-key lookup went from 0.4 ms to 11 ms a
    # feed at 3,000 records that way, so its statements are never prepared (empi.matching passes
    # prepare=False). The feed's other statements are key lookups and inserts, whose plans don't depend on
    # table sizes.
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)


class WalCheckpointer:
    """Copies a SQLite database's write-ahead log back into the database file from a thread of its own,
    every ``interval`` seconds, so that feeds seldom pay for that copy inside their commit.

    A PASSIVE checkpoint runs on a connection of its own: it never waits for readers or writers, copies
    what no reader still needs, and sqlite3 releases the GIL while it works.

    Restarting the log. SQLite writes the log from its start again (instead of growing it) when a writer
    begins while every page in the log has been copied back. Under a steady feed the log never stands still
    long enough for that, so without help it grows to the writers' autocheckpoint (10,000 pages), and the
    writer that crosses it copies the last pages and syncs the database file while its client waits. A
    checkpoint syncs the file only when it reaches the end of the log, so that sync flushes every page
    copied since the last one: 37 ms at 100,000 records against 18 ms at 10,000, every ~250 feeds.
    Here, once the log holds ``restart_pages``, the thread copies and syncs the file twice more (each round
    copies what was written during the one before), then holds the store's write ``lock`` for one last
    PASSIVE run over the few pages left (2-5 ms), and the next writer restarts the log. Without a ``lock``
    (none given, or another process writing) the writers' autocheckpoint still restarts it.
    """

    def __init__(self, path: str, *, interval: float = 0.05, idle_interval: float = 1.0,
                 lock: threading.RLock | None = None, restart_pages: int = 5000) -> None:
        self.path, self.interval, self.idle_interval = path, interval, idle_interval
        self.lock, self.restart_pages = lock, restart_pages
        self.checkpoints = 0  # completed runs (tests read it)
        self.catch_ups = 0  # runs that copied the log's last pages under the write lock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-wal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=0)
        except sqlite3.Error as exc:  # the writers' autocheckpoint still keeps the log in check
            log.warning("wal checkpoint thread not started: %s", type(exc).__name__)
            return
        fd = -1
        try:
            fd = os.open(self.path, os.O_RDONLY)
            last, wait = None, self.interval
            # the log's pages after the last catch-up: if a reader keeps the log from restarting, the
            # next catch-up waits for another restart_pages, rather than pausing the writers every round
            after = 0
            while not self._stop.wait(wait):
                state = self.checkpoint(conn)
                if state is not None and self.lock is not None:
                    if state[0] < after:  # the log restarted since
                        after = 0
                    if state[0] >= after + self.restart_pages:
                        state = self._catch_up(conn, fd, self.lock)
                        after = state[0] if state is not None else 0
                wait = self.interval if state != last else self.idle_interval  # an idle service: wake seldom
                last = state
            self.checkpoint(conn)
        except OSError as exc:  # the file went away or can't be synced: the writers' autocheckpoint remains
            log.warning("wal checkpoint thread stopped: %s", type(exc).__name__)
        finally:
            if fd >= 0:
                os.close(fd)
            conn.close()

    def _catch_up(self, conn: sqlite3.Connection, fd: int, lock: threading.RLock) -> tuple[int, int] | None:
        """Copy the log's last pages while no writer of this process appends, so that the next one restarts it."""
        state = None
        for _ in range(2):
            state = self.checkpoint(conn)
            _datasync(fd)
        if not lock.acquire(timeout=1.0):  # a long write unit: try again next round
            return state
        try:
            state = self.checkpoint(conn)
        finally:
            lock.release()
        self.catch_ups += 1
        return state

    def checkpoint(self, conn: sqlite3.Connection) -> tuple[int, int] | None:
        """One PASSIVE checkpoint: (pages in the log, pages copied back), None when it could not run."""
        try:
            _busy, log_pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if log_pages < 0:
                # not in WAL mode as this connection last saw the file. Opened before the service switched a new
                # database to WAL (`empi migrate` creates it with a rollback journal), it would answer so for
                # ever: a read makes it look at the file again.
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                _busy, log_pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if log_pages < 0:
                    return None
        except sqlite3.Error as exc:  # busy or locked: the next round tries again
            log.debug("wal checkpoint skipped: %s", type(exc).__name__)
            return None
        self.checkpoints += 1
        return log_pages, copied

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


_datasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


_CONNECTION = "empi.connection"  # session.info key: (root transaction, Connection, DB-API connection)


def session_connection(session: Session) -> tuple[Connection, Any]:
    """The session's Connection and its DB-API connection, looked up once per transaction
    (`Session.connection` costs ~15 us; a feed asks about ten times). Begins the transaction if none has."""
    transaction = session.get_transaction()
    if transaction is not None:
        cached = session.info.get(_CONNECTION)
        if cached is not None and cached[0] is transaction:
            return cached[1], cached[2]
    conn = session.connection()
    driver = conn.connection.driver_connection
    session.info[_CONNECTION] = (session.get_transaction(), conn, driver)
    return conn, driver


def driver_execute(session: Session, sql: str, params: Any, **options: Any) -> list[tuple[Any, ...]]:
    """Run one statement on the DB-API cursor of the session's connection (same transaction); its rows,
    none for a write. ``options`` go to the cursor's ``execute`` (psycopg: ``prepare=False``).

    Pending ORM changes are not flushed first: callers use it where none can matter."""
    cursor = session_connection(session)[1].cursor()
    try:
        cursor.execute(sql, params, **options)
        return list(cursor.fetchall()) if cursor.description is not None else []
    finally:
        cursor.close()


class DriverInsert:
    """Whole-row inserts into one table on the DB-API cursor of the session's connection (same transaction),
    each value bound exactly as SQLAlchemy binds it for that column on the session's dialect (its type's
    bind processor: JSON text, DateTime text on SQLite, ...). A column the row leaves out gets its default,
    or NULL. For a feed's hot path: SQLAlchemy's per-execution work for a Core insert (~60-80 us) costs more
    than the insert itself on SQLite. Pending ORM changes are not flushed first."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.columns = [c for c in table.columns if c.key != "id"]  # a surrogate id is the database's to give
        self.keys = [c.key for c in self.columns]
        self._defaults = [c.default for c in self.columns]
        self._by_dialect: dict[str, tuple[str, list[Any]]] = {}

    def _compiled(self, dialect: Any) -> tuple[str, list[Any]]:
        done = self._by_dialect.get(dialect.name)
        if done is None:
            mark = "?" if dialect.paramstyle == "qmark" else "%s"
            sql = (f"INSERT INTO {self.table.name} ({', '.join(self.keys)}) "
                   f"VALUES ({', '.join(mark for _ in self.keys)})")
            processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in self.columns]
            done = self._by_dialect[dialect.name] = (sql, processors)
        return done

    def _params(self, row: dict[str, Any], processors: list[Any]) -> list[Any]:
        try:
            params = [row[key] for key in self.keys]  # the usual row: every column given
        except KeyError:
            params = [row[key] if key in row else None if default is None
                      else default.arg(None) if default.is_callable else default.arg
                      for key, default in zip(self.keys, self._defaults, strict=True)]
        for i, process in enumerate(processors):
            if process is not None:
                params[i] = process(params[i])
        return params

    def one(self, session: Session, row: dict[str, Any]) -> int:
        """Insert one row; its new id (SQLite's last row id, PostgreSQL's RETURNING)."""
        conn, driver = session_connection(session)
        sql, processors = self._compiled(conn.dialect)
        cursor = driver.cursor()
        try:
            if conn.dialect.name == "postgresql":
                cursor.execute(sql + " RETURNING id", self._params(row, processors))
                return int(cursor.fetchone()[0])
            cursor.execute(sql, self._params(row, processors))
            return int(cursor.lastrowid)
        finally:
            cursor.close()

    def many(self, session: Session, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        conn, driver = session_connection(session)
        sql, processors = self._compiled(conn.dialect)
        cursor = driver.cursor()
        try:
            cursor.executemany(sql, [self._params(row, processors) for row in rows])
        finally:
            cursor.close()


def pg_columns(table: Any, prefix: str = "") -> tuple[str, str]:
    """(column list, parameter list) of a table's columns but a surrogate ``id``, for a driver-level
    PostgreSQL insert: each parameter ``%(<prefix><column>)s`` is cast to its column's type (an
    INSERT ... SELECT does not type its parameters from the target columns)."""
    from sqlalchemy.dialects import postgresql

    columns = [c for c in table.columns if c.key != "id"]
    casts = (f"CAST(%({prefix}{c.key})s AS {c.type.compile(dialect=postgresql.dialect())})" for c in columns)
    return ", ".join(c.key for c in columns), ", ".join(casts)


def json_text(value: Any) -> str | None:
    """A JSON column's value as a driver-level parameter (what SQLAlchemy's JSON type would bind)."""
    return None if value is None else json.dumps(value)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def write_lock(engine: Engine) -> threading.RLock:
    """The in-process lock that every SQLite write unit on this database holds (`unit_of_work`); PostgreSQL's
    write units don't take it."""
    key = str(engine.url)
    with _locks_guard:
        return _sqlite_write_locks.setdefault(key, threading.RLock())


def make_read_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions for read-only units: on PostgreSQL they run in autocommit (no BEGIN/COMMIT round trips;
    each statement sees committed data) with prepared statements. SQLite reads use the ordinary sessions."""
    if is_sqlite(engine):
        return make_sessionmaker(engine)
    # A pool of its own, where psycopg prepares repeated statements (the PIX lookup: 2 ms -> 0.3 ms). The
    # writers' pool keeps preparing off: its blocking-key lookup suffered from generic plans.
    readers = create_engine(engine.url, pool_size=engine.pool.size(), max_overflow=engine.pool.size(),
                            pool_recycle=1800, isolation_level="AUTOCOMMIT")
    return sessionmaker(readers, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session], *, write: bool = True) -> Iterator[Session]:
    """One transaction: commits on normal exit, rolls back on an exception.

    SQLite allows one writer at a time, so write units on SQLite are serialised in-process (a second
    process still waits on the database lock through ``busy_timeout``).
    """
    engine = factory.kw["bind"]
    if write and is_sqlite(engine):
        with write_lock(engine), factory.begin() as session:
            yield session
    else:
        with factory.begin() as session:
            yield session


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` (creating a SQLite file if needed)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def needs_migration(engine: Engine) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    return set(current) != set(script.get_heads())


def has_schema(engine: Engine) -> bool:
    return inspect(engine).has_table("person")
