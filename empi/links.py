"""Persons and links: create persons, move records between them, and write the link history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from empi.commands import LinkMethod
from empi.db import DriverInsert, driver_execute, json_text, pg_columns
from empi.models import Link, LinkEvent, Person, SourceRecord, utcnow
from empi.text import luhn_digit


@dataclass(frozen=True, slots=True)
class NewPerson:
    id: int
    regional_id: str


_PERSON = Person.__table__
_SET_REGIONAL_ID = update(_PERSON).where(_PERSON.c.id == bindparam("pid")).values(regional_id=bindparam("rid"))
_INSERT_LINK = insert(Link.__table__)
_INSERT_EVENT = insert(LinkEvent.__table__)
# On the driver's cursor (SQLAlchemy's per-execution work cost more than each insert): a new person on
# either database; a new record's link and history row on SQLite (PostgreSQL has `_LINK_NEW_PG`)
_PERSON_ROWS = DriverInsert(_PERSON)
_LINK_ROWS = DriverInsert(Link.__table__)
_EVENT_ROWS = DriverInsert(LinkEvent.__table__)
_SET_REGIONAL_ID_SQLITE = "UPDATE person SET regional_id = ? WHERE id = ?"


# PostgreSQL, a record new in this transaction: its link and its history row, and the regional ID of a person
# just created for it (`new_person(deferred=True)`), in one statement rather than three.
_LINK_NEW_PG = (
    "WITH regional AS (UPDATE person SET regional_id = CAST(%(regional_id)s AS varchar)"
    " WHERE CAST(%(regional_id)s AS varchar) IS NOT NULL AND id = CAST(%(person_id)s AS integer)),"
    " link AS (INSERT INTO link ({}) SELECT {}),"
    " event AS (INSERT INTO link_event ({}) SELECT {})"
    " SELECT 1".format(*pg_columns(Link.__table__), *pg_columns(LinkEvent.__table__, "e_")))


def new_person(session: Session, *, deferred: bool = False) -> NewPerson:
    """A new person with its regional ID: nine digits of the person's number and a Luhn check digit.

    ``deferred``: the regional ID is not written here; the caller passes it to the `set_link` that follows
    (``regional_id=``), which writes it (on PostgreSQL for a new record, in its own statement)."""
    now = utcnow()
    person_id = _PERSON_ROWS.one(session, {"is_active": True, "created_at": now, "updated_at": now})
    base = f"{person_id:09d}"
    regional_id = base + luhn_digit(base)
    if not deferred:
        session.execute(_SET_REGIONAL_ID, {"pid": person_id, "rid": regional_id})
    return NewPerson(id=person_id, regional_id=regional_id)


def person_of(session: Session, record_id: int) -> int | None:
    return session.scalar(select(Link.person_id).where(Link.record_id == record_id))


def record_count(session: Session, person_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Link).where(Link.person_id == person_id)) or 0


def set_link(session: Session, record: SourceRecord, person_id: int, *, method: LinkMethod, action: str,
             score: float | None = None, card: Any = None, breakdown: dict[str, Any] | None = None,
             actor: str = "system", reason: str | None = None, fresh: bool = False,
             regional_id: str | None = None) -> int | None:
    """Point the record at ``person_id``; returns the previous person (None when it had none).

    ``fresh`` says the record is new in this transaction, so it has no link to look up; ``regional_id``
    is the one of a person just made by ``new_person(deferred=True)``, written here."""
    card_id = getattr(card, "id", None)
    card_version = getattr(card, "version", None)
    now = utcnow()
    values = {"person_id": person_id, "method": method.value, "score": score, "scorecard_id": card_id,
              "scorecard_version": card_version, "breakdown": breakdown, "created_by": actor, "created_at": now}
    event = {"record_id": record.id, "action": action, "from_person_id": None, "to_person_id": person_id,
             "method": method.value, "score": score, "scorecard_id": card_id, "scorecard_version": card_version,
             "reason": reason, "actor": actor, "at": now}
    dialect = session.get_bind().dialect.name
    if fresh and dialect == "postgresql":  # link, history, regional ID: one round trip
        driver_execute(session, _LINK_NEW_PG, {**values, "record_id": record.id, "breakdown": json_text(breakdown),
                                               **{f"e_{k}": v for k, v in event.items()}, "regional_id": regional_id})
        return None
    if fresh and dialect == "sqlite":
        if regional_id is not None:
            driver_execute(session, _SET_REGIONAL_ID_SQLITE, (regional_id, person_id))
        _LINK_ROWS.many(session, [{"record_id": record.id, **values}])
        _EVENT_ROWS.many(session, [event])
        return None
    if regional_id is not None:
        session.execute(_SET_REGIONAL_ID, {"pid": person_id, "rid": regional_id})
    if fresh:  # a record new in this transaction: nothing to look up, plain inserts
        previous = None
        session.execute(_INSERT_LINK, {"record_id": record.id, **values})
    else:
        link = session.get(Link, record.id)
        previous = link.person_id if link else None
        if link is None:
            link = Link(record_id=record.id)
            session.add(link)
        for name, value in values.items():
            setattr(link, name, value)
    session.execute(_INSERT_EVENT, {**event, "from_person_id": previous})
    if previous is not None and previous != person_id:
        retire_if_empty(session, previous, into=person_id)
    return previous


def remove_link(session: Session, record: SourceRecord, *, action: str, actor: str = "system",
                reason: str | None = None) -> int | None:
    link = session.get(Link, record.id)
    if link is None:
        return None
    previous = link.person_id
    session.delete(link)
    session.add(LinkEvent(record_id=record.id, action=action, from_person_id=previous, to_person_id=None,
                          method=None, reason=reason, actor=actor))
    session.flush()
    retire_if_empty(session, previous)
    return previous


def retire_if_empty(session: Session, person_id: int, *, into: int | None = None) -> None:
    if record_count(session, person_id) == 0:
        person = session.get(Person, person_id)
        if person is not None and person.is_active:
            person.is_active = False
            person.merged_into_id = into


def records_of(session: Session, person_id: int, *, exclude: int | None = None) -> Sequence[SourceRecord]:
    q = (select(SourceRecord).join(Link, Link.record_id == SourceRecord.id)
         .where(Link.person_id == person_id, SourceRecord.status == "active")
         .order_by(SourceRecord.domain, SourceRecord.identifier))
    if exclude is not None:
        q = q.where(SourceRecord.id != exclude)
    return session.scalars(q).all()


def move_person(session: Session, source_person: int, target_person: int, *, method: LinkMethod, actor: str,
                reason: str | None = None) -> list[int]:
    """Move every record of ``source_person`` to ``target_person`` (a person merge)."""
    moved = []
    for rec in records_of(session, source_person):
        set_link(session, rec, target_person, method=method, action="merge", actor=actor, reason=reason)
        moved.append(rec.id)
    retire_if_empty(session, source_person, into=target_person)
    return moved
