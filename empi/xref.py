"""Cross-reference lookups: the PIX query core shared by ITI-9 and ITI-83."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from empi.commands import CrossReference, CrossReferences, RecordKey
from empi.db import session_connection
from empi.errors import UnknownIdentifier
from empi.models import Link, Person, SourceRecord

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    from empi.runtime import Runtime


# The PIX hot path as one constant statement, run on the driver's own cursor: no ORM entity per row
# (the ORM select cost ~0.7 ms a query, the statement itself ~0.15 ms), and none of SQLAlchemy's
# per-execution work (~30 us of CPU against ~10 us on the bare cursor). Written with :name
# parameters (sqlite3's style); PostgreSQL's driver gets the same text in its %(name)s style.
_XREF_SQL = """
    SELECT asked.id, asked_link.person_id, person.regional_id, other.identifier, other.domain, other.id
    FROM source_record AS asked
    JOIN link AS asked_link ON asked_link.record_id = asked.id
    JOIN person ON person.id = asked_link.person_id
    JOIN link AS other_link ON other_link.person_id = asked_link.person_id
    JOIN source_record AS other ON other.id = other_link.record_id
    WHERE asked.domain = :domain AND asked.identifier = :identifier AND asked.status = 'active'
      AND other.status = 'active'
    ORDER BY other.domain, other.identifier"""
_XREF_PG = _XREF_SQL.replace(":domain", "%(domain)s").replace(":identifier", "%(identifier)s")


def cross_references(session: Session | Connection, key: RecordKey, *, rt: Runtime,
                     domains: Sequence[str] | None = None) -> CrossReferences:
    """The person's other identifiers. The queried identifier itself is never returned.

    ``domains`` None means every domain, plus the regional ID when publication is switched on;
    otherwise only the listed namespaces (the regional namespace may be listed).
    """
    regional = rt.registry.regional
    if regional is not None and key.domain.upper() == regional.namespace.upper():
        return _by_regional_id(session, key.identifier, rt=rt, domains=domains)
    # one round trip: the asked record's person and every active record of that person (itself included)
    rows = _xref_rows(session, key)
    if not rows:
        raise UnknownIdentifier("the identifier is not known in its domain", field="identifier")
    record_id, person_id, regional_id = rows[0][0], rows[0][1], rows[0][2]
    wanted = None if domains is None else {d.upper() for d in domains}
    found = [CrossReference(identifier=i, domain=d, record_id=r) for _, _, _, i, d, r in rows
             if r != record_id and (wanted is None or d.upper() in wanted)]
    include_regional = (rt.settings.publish_regional_id if wanted is None
                        else regional is not None and regional.namespace.upper() in wanted)
    if include_regional and regional is not None and regional_id:
        found.append(CrossReference(identifier=regional_id, domain=regional.namespace, record_id=None))
    return CrossReferences(person_id=person_id, regional_id=regional_id or "", identifiers=found)


def _xref_rows(session: Session | Connection, key: RecordKey) -> list[Any]:
    """The `_XREF_SQL` rows for `key`, through the DB-API cursor of the session's own connection
    (same transaction, same snapshot)."""
    if isinstance(session, OrmSession):
        conn, raw = session_connection(session)
    else:
        conn, raw = session, session.connection.driver_connection
    postgres = conn.dialect.name == "postgresql"
    cursor = raw.cursor()
    try:
        cursor.execute(_XREF_PG if postgres else _XREF_SQL, {"domain": key.domain, "identifier": key.identifier})
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _by_regional_id(session: Session | Connection, regional_id: str, *, rt: Runtime,
                    domains: Sequence[str] | None) -> CrossReferences:
    """A query by the regional ID itself: every record of that (active) person."""
    person_id = session.scalar(select(Person.id).where(Person.regional_id == regional_id, Person.is_active.is_(True)))
    if person_id is None:
        raise UnknownIdentifier("the regional ID is not known", field="identifier")
    wanted = None if domains is None else {d.upper() for d in domains}
    found = [r for r in person_identifiers(session, person_id) if wanted is None or r.domain.upper() in wanted]
    return CrossReferences(person_id=person_id, regional_id=regional_id, identifiers=found)


def person_identifiers(session: Session | Connection, person_id: int) -> list[CrossReference]:
    q = (select(SourceRecord.identifier, SourceRecord.domain, SourceRecord.id)
         .join(Link, Link.record_id == SourceRecord.id)
         .where(Link.person_id == person_id, SourceRecord.status == "active")
         .order_by(SourceRecord.domain, SourceRecord.identifier))
    return [CrossReference(identifier=i, domain=d, record_id=r) for i, d, r in session.execute(q)]
