"""api.fhir.work: query audit rows are group-committed, and each caller returns only after its own row
is committed."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from typing import Any, ClassVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from api.fhir.work import audit_batcher, group_commit
from empi import audit
from empi.models import AuditEvent
from empi.runtime import Runtime


def test_concurrent_callers_each_see_their_row_committed_when_returning(rt: Runtime) -> None:
    writer = group_commit(rt)
    assert group_commit(rt) is writer
    missing: list[int] = []

    def query(n: int) -> None:
        writer.record(event_type="ITI-83", action="E", actor=f"device-{n}", actor_type="client")
        with rt.read() as s:  # a fresh transaction must already see it
            if not s.scalar(select(func.count()).where(AuditEvent.actor == f"device-{n}")):
                missing.append(n)

    threads = [threading.Thread(target=query, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert missing == []
    with rt.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 24


def test_a_failed_batch_raises_in_the_caller(rt: Runtime) -> None:
    with pytest.raises(IntegrityError):  # the database refuses a NULL actor
        group_commit(rt).record(event_type="ITI-83", action="E", actor=None)
    group_commit(rt).record(event_type="ITI-83", action="E", actor="after-failure")  # still usable


class TestAuditBatcher:
    """The asynchronous ITI-83 path: rows of concurrent requests are committed together, and each
    request resumes only once its own row is committed."""

    def test_concurrent_requests_each_see_their_row_committed_when_resuming(self, rt: Runtime) -> None:
        missing: list[int] = []

        async def request(n: int) -> None:
            await audit_batcher(rt).record(event_type="ITI-83", action="E", actor=f"device-{n}", actor_type="client")
            with rt.read() as s:
                if not s.scalar(select(func.count()).where(AuditEvent.actor == f"device-{n}")):
                    missing.append(n)

        async def main() -> None:
            assert audit_batcher(rt) is audit_batcher(rt)
            await asyncio.gather(*(request(n) for n in range(40)))

        asyncio.run(main())
        assert missing == []
        with rt.read() as s:
            assert s.scalar(select(func.count()).select_from(AuditEvent)) == 40

    def test_a_failed_batch_raises_in_every_request_of_it(self, rt: Runtime) -> None:
        async def main() -> list[BaseException | None]:
            bad = audit_batcher(rt).record(event_type="ITI-83", action="E", actor=None)  # NULL actor is refused
            good = audit_batcher(rt).record(event_type="ITI-83", action="E", actor="same-batch")
            results = await asyncio.gather(bad, good, return_exceptions=True)
            await audit_batcher(rt).record(event_type="ITI-83", action="E", actor="after-failure")  # still usable
            return [r if isinstance(r, BaseException) else None for r in results]

        results = asyncio.run(main())
        assert all(isinstance(r, IntegrityError) for r in results)
        with rt.read() as s:
            assert s.scalars(select(AuditEvent.actor)).all() == ["after-failure"]


class TestRecordNow:
    """``audit.record_now``, the event loop's way to commit a batch: at once, or not at all."""

    EVENT: ClassVar[dict[str, Any]] = {"event_type": "ITI-83", "action": "E", "actor": "device"}

    def count(self, rt: Runtime) -> int:
        with rt.read() as s:
            return s.scalar(select(func.count()).select_from(AuditEvent)) or 0

    def test_commits_at_once_when_nobody_writes(self, rt: Runtime) -> None:
        if rt.is_postgres:  # a network round trip never runs on the loop
            assert audit.record_now(rt, [self.EVENT]) is False
            assert self.count(rt) == 0
            return
        assert audit.record_now(rt, [self.EVENT, self.EVENT]) is True
        assert self.count(rt) == 2

    def test_declines_when_another_thread_is_writing(self, rt: Runtime) -> None:
        if rt.is_postgres:  # never writes there (see the test above)
            assert audit.record_now(rt, [self.EVENT]) is False
            return
        writing, release = threading.Event(), threading.Event()

        def feed() -> None:
            with rt.write():
                writing.set()
                release.wait(10)

        t = threading.Thread(target=feed)
        t.start()
        try:
            assert writing.wait(10)
            assert audit.record_now(rt, [self.EVENT]) is False
        finally:
            release.set()
            t.join()
        assert self.count(rt) == 0

    def test_declines_at_once_when_another_process_holds_the_database(self, rt: Runtime) -> None:
        if rt.is_postgres:  # never writes there (see the first test)
            assert audit.record_now(rt, [self.EVENT]) is False
            return
        other = sqlite3.connect(rt.engine.url.database or "", isolation_level=None)  # as another process would
        try:
            other.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            assert audit.record_now(rt, [self.EVENT]) is False
            assert time.monotonic() - started < 5  # not the 30 s busy timeout
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert audit.record_now(rt, [self.EVENT]) is True  # usable again, with the usual busy timeout
        with rt.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert self.count(rt) == 1
