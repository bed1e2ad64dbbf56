"""`empi.db.DriverInsert` stores a row exactly as SQLAlchemy's Core insert of the same values does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select

from empi.db import DriverInsert
from empi.models import AuditEvent, Person, SourceRecord
from empi.runtime import Runtime

AT = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def _naive_utc(stamp: datetime) -> datetime:
    return stamp if stamp.tzinfo is None else stamp.astimezone(UTC).replace(tzinfo=None)


def _read(rt: Runtime, table: Any, row_id: int) -> dict[str, Any]:
    with rt.read() as session:
        row = session.execute(select(table).where(table.c.id == row_id)).mappings().one()
    return {k: v for k, v in row.items() if k != "id"}


@pytest.mark.parametrize(("model", "values"), [
    (AuditEvent, {"at": AT, "event_type": "ITI-8", "action": "C", "actor": "RIS|HOSPA", "outcome": 4,
                  "patient_ids": ["A1^^^&2.25.1&ISO"], "detail": {"x": [1, "é"]}}),
    (Person, {"is_active": True, "created_at": AT, "updated_at": AT}),
    (SourceRecord, {"domain": "HOSPA", "identifier": "A1", "status": "active", "family_name": "Ünal",
                    "names": [{"family": "Ünal", "given": None}], "addresses": [], "phones": ["5550100"],
                    "other_identifiers": [], "is_deceased": False, "birth_date": "1970-01-02",
                    "created_at": AT, "updated_at": AT}),
])
def test_a_driver_insert_stores_what_a_core_insert_stores(rt: Runtime, model: Any, values: dict[str, Any]) -> None:
    table = model.__table__
    with rt.write() as session:
        core_id = int(session.execute(insert(table), values).inserted_primary_key[0])
        if "identifier" in values:
            values = {**values, "identifier": "A2"}
        driver_id = DriverInsert(table).one(session, values)
    assert driver_id != core_id
    core, driver = _read(rt, table, core_id), _read(rt, table, driver_id)
    if "identifier" in values:
        assert (core.pop("identifier"), driver.pop("identifier")) == ("A1", "A2")
    assert driver == core
    assert _naive_utc(driver["created_at" if "created_at" in driver else "at"]) == _naive_utc(AT)


def test_a_column_left_out_gets_its_default(rt: Runtime) -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    with rt.write() as session:
        row_id = DriverInsert(AuditEvent.__table__).one(session, {"event_type": "ITI-9", "action": "E", "actor": "x"})
    row = _read(rt, AuditEvent.__table__, row_id)
    assert (row["outcome"], row["actor_type"], row["patient_ids"], row["query"]) == (0, "system", [], None)
    assert _naive_utc(row["at"]) >= before
