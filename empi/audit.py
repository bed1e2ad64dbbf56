"""The audit trail: every query and every change, append-only.

Adapters call :func:`record` inside their unit of work (or in a unit of their own for reads), with
who (``actor``), what (``event_type`` such as ``ITI-9``, ``action`` C/R/U/D/E), which patients
(identifiers as ``value^^^&uid&ISO`` strings, and the person id where known) and the outcome.
Listeners in ``SINKS`` (for example an RFC 5424 syslog sender) get every event as it is stored, with the
session, so they can act once it commits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from empi.db import DriverInsert, driver_execute, json_text, pg_columns, session_connection, write_lock
from empi.models import AuditEvent, utcnow

if TYPE_CHECKING:
    from empi.runtime import Runtime

OUTCOME_SUCCESS = 0
OUTCOME_MINOR = 4  # e.g. an unknown identifier in a query
OUTCOME_SERIOUS = 8  # rejected input
OUTCOME_MAJOR = 12  # internal failure

# A sink gets the writing session (to act after its commit) and the stored event.
SINKS: list[Callable[[Session, AuditEvent], None]] = []

_INSERT = insert(AuditEvent.__table__)  # a constant statement, compiled once
_ROWS = DriverInsert(AuditEvent.__table__)  # SQLite's hot path: the insert on the driver's cursor
# PostgreSQL, on the driver's cursor (a feed's and a query's hot path): SQLAlchemy's per-execution work
# costs more than the insert
_INSERT_MANY_PG = "INSERT INTO audit_event ({}) VALUES ({})".format(*pg_columns(AuditEvent.__table__))
_INSERT_PG = _INSERT_MANY_PG + " RETURNING id"


def _pg_row(values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "patient_ids": json_text(list(values["patient_ids"])), "detail": json_text(values["detail"])}


def record(session: Session, *, event_type: str, action: str, actor: str, outcome: int = OUTCOME_SUCCESS,
           actor_type: str = "system", source_address: str | None = None,
           patient_ids: Sequence[str] = (), person_id: int | None = None, query: str | None = None,
           detail: dict[str, Any] | None = None) -> AuditEvent:
    values: dict[str, Any] = {
        "at": utcnow(), "event_type": event_type, "action": action, "actor": actor, "actor_type": actor_type,
        "outcome": outcome, "source_address": source_address, "patient_ids": list(patient_ids),
        "person_id": person_id, "query": query, "detail": detail,
    }
    if session.get_bind().dialect.name == "postgresql":
        event_id = driver_execute(session, _INSERT_PG, _pg_row(values))[0][0]
    else:  # not through the ORM (nothing needs identity tracking), nor SQLAlchemy's per-execution work
        event_id = _ROWS.one(session, values)
    event = AuditEvent(id=event_id, **values)  # transient: for the sinks and the caller
    for sink in SINKS:
        sink(session, event)
    return event


def record_many(session: Session | Connection, events: Sequence[dict[str, Any]]) -> None:
    """Store several events (keyword arguments of :func:`record`) in the session's transaction.

    Without sinks, one executemany insert (about a third of the cost of a statement per row); sinks get
    each stored event with its id, so then the rows go through :func:`record` one by one."""
    if SINKS:
        if not isinstance(session, Session):
            raise TypeError("audit sinks need the writing Session")
        for event in events:
            record(session, **event)
        return
    rows = _rows(events)
    conn = session_connection(session)[0] if isinstance(session, Session) else session
    if conn.dialect.name == "postgresql":  # the driver's executemany (psycopg pipelines it)
        conn.exec_driver_sql(_INSERT_MANY_PG, [_pg_row(row) for row in rows])
    else:
        conn.execute(_INSERT, rows)


def record_now(rt: Runtime, events: Sequence[dict[str, Any]]) -> bool:
    """Commit ``events`` (as :func:`record_many`) at once if that needs no waiting, else return False
    and store nothing: the caller then writes them where waiting is harmless.

    For callers on an event loop: a lock wait there would stall every connection, while a thread
    handing rows to a writer thread costs more than the insert (GIL switches). Only SQLite without
    sinks qualifies (a sink may send over the network): the in-process write lock is tried without
    blocking, and another process's write lock makes the insert fail at once (busy timeout 0)
    instead of waiting for it."""
    if SINKS or rt.engine.dialect.name != "sqlite":
        return False
    lock = write_lock(rt.engine)
    if not lock.acquire(blocking=False):
        return False
    try:
        # the unit of work of rt.write() minus its Session (with no sinks, nothing needs one): this
        # thread holds the write lock, and the connection's transaction commits or rolls back
        with rt.engine.begin() as conn:
            sqlite = conn.connection.driver_connection  # pragmas straight to sqlite3: cheaper
            assert sqlite is not None
            previous = int(sqlite.execute("PRAGMA busy_timeout").fetchone()[0])
            sqlite.execute("PRAGMA busy_timeout = 0")
            try:
                record_many(conn, events)
            finally:
                sqlite.execute(f"PRAGMA busy_timeout = {previous}")
    except OperationalError as exc:
        if "locked" in str(exc.orig) or "busy" in str(exc.orig):
            return False
        raise
    finally:
        lock.release()
    return True


def _rows(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Whole audit rows from events (keyword arguments of :func:`record`), stamped with one time."""
    now = utcnow()
    return [{**_DEFAULTS, "at": now, **event, "patient_ids": list(event.get("patient_ids", ()))} for event in events]


_DEFAULTS: dict[str, Any] = {"outcome": OUTCOME_SUCCESS, "actor_type": "system", "source_address": None,
                             "patient_ids": [], "person_id": None, "query": None, "detail": None}


# Queries change nothing but their audit row: concurrent queries commit their rows together, and each
# caller returns only once its own row is durable, so no answer leaves unaudited.
@dataclass(slots=True)
class _Pending:
    event: dict[str, Any]
    done: bool = False
    error: BaseException | None = None


class GroupCommit:
    """Writes audit events of concurrent callers in one transaction; each caller returns only once
    its own event is committed. The first waiting caller writes the batch (no background thread)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._writing = False

    def record(self, **event: Any) -> None:
        mine = _Pending(event)
        with self._cond:
            self._pending.append(mine)
            while not mine.done:
                if self._writing:
                    self._cond.wait()
                    continue
                self._writing, batch, self._pending = True, self._pending, []
                self._cond.release()
                try:
                    error = self._write(batch)
                finally:
                    self._cond.acquire()
                for item in batch:
                    item.done, item.error = True, error
                self._writing = False
                self._cond.notify_all()
        if mine.error is not None:
            raise mine.error

    def _write(self, batch: list[_Pending]) -> BaseException | None:
        try:
            commit_many(self.rt, [item.event for item in batch])
        except Exception as exc:  # noqa: BLE001 -- not swallowed: every caller of the batch re-raises it
            return exc
        return None


def commit_many(rt: Runtime, events: Sequence[dict[str, Any]]) -> None:
    """Store ``events`` (as :func:`record_many`) in a transaction of their own, committed on return.
    PostgreSQL without sinks: one multi-row INSERT on an autocommit connection (`_insert_committed_pg`)."""
    if not SINKS and rt.engine.dialect.name == "postgresql":
        _insert_committed_pg(rt, events)
        return
    with rt.write() as session:
        record_many(session, events)


def _insert_committed_pg(rt: Runtime, events: Sequence[dict[str, Any]]) -> None:
    """PostgreSQL: the events in one multi-row INSERT on an autocommit connection, which commits (durably,
    as any commit) in the same round trip: a query's audit row costs one round trip, not BEGIN, the
    insert and COMMIT."""
    params: dict[str, Any] = {}
    for i, row in enumerate(_rows(events)):
        params.update({f"r{i}_{key}": value for key, value in _pg_row(row).items()})
    readers = rt.read_sessions.kw["bind"] if rt.read_sessions is not None else rt.engine  # an autocommit pool
    with readers.connect() as conn:
        if readers is rt.engine:
            conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql(_insert_rows_pg(len(events)), params)


@lru_cache(maxsize=64)
def _insert_rows_pg(n: int) -> str:
    columns = pg_columns(AuditEvent.__table__)[0]
    rows = ", ".join(f"({pg_columns(AuditEvent.__table__, f'r{i}_')[1]})" for i in range(n))
    return f"INSERT INTO audit_event ({columns}) VALUES {rows}"


def group_commit(rt: Runtime) -> GroupCommit:
    """The runtime's audit group commit (one per runtime, created on first use)."""
    found: GroupCommit | None = getattr(rt, "_audit_group", None)
    if found is None:
        with _create_lock:
            found = getattr(rt, "_audit_group", None)
            if found is None:
                found = GroupCommit(rt)
                rt._audit_group = found  # type: ignore[attr-defined]
    return found


_create_lock = threading.Lock()
