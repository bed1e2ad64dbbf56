"""The audit table is append-only for the application: the database refuses updates and deletes."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from empi import audit
from empi.models import AuditEvent
from empi.runtime import Runtime


def test_audit_rows_cannot_be_changed_or_removed(rt: Runtime) -> None:
    with rt.write() as s:
        audit.record(s, event_type="ITI-9", action="E", actor="PIXC|TEST", patient_ids=["AO-1^^^&1.2.3&ISO"])
    for stmt in (update(AuditEvent).values(actor="someone else"), delete(AuditEvent)):
        with pytest.raises(DBAPIError, match="append-only"), rt.write() as s:
            s.execute(stmt)
    with rt.read() as s:
        (row,) = s.scalars(select(AuditEvent)).all()
    assert row.actor == "PIXC|TEST"
    with rt.write() as s:  # appending still works
        audit.record(s, event_type="ITI-9", action="E", actor="PIXC|TEST")
