"""Source-record repository: lookups, locks, demographic updates and the scoring view of a record."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import JSON, delete, insert, text
from sqlalchemy.orm import Session

from empi.commands import UNSET, Address, Demographics, PersonName, RecordKey
from empi.db import DriverInsert, driver_execute, json_text, pg_columns
from empi.errors import InvalidInput
from empi.models import BlockingKey, RecordName, SourceRecord, utcnow
from empi.text import lock_id, search_norm

_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


# A feed's hot statements go through the driver's own cursor on the session's connection (same transaction):
# SQLAlchemy's per-execution work costs ~60 us a statement, as much as a round trip to PostgreSQL here.
_LOCK_ALL = "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(%s AS bigint[])) AS k"
_INSERT_KEYS_PG = text("INSERT INTO blocking_key (record_id, key) SELECT :rid, unnest(CAST(:keys AS varchar[]))")
_RECORD_ID = {"postgresql": "SELECT id FROM source_record WHERE domain = %s AND identifier = %s",
              "sqlite": "SELECT id FROM source_record WHERE domain = ? AND identifier = ?"}


def get_record(session: Session, key: RecordKey) -> SourceRecord | None:
    # the id first (cheap, and usually absent for a new feed), the ORM object only when it exists
    session.flush()  # as session.execute's autoflush did: an identifier change not yet written must be seen
    rows = driver_execute(session, _RECORD_ID[session.get_bind().dialect.name], (key.domain, key.identifier))
    return None if not rows else session.get(SourceRecord, rows[0][0])


# Table inserts, not ORM-entity inserts (which go through the ORM's bulk path: ~60 us a statement, not ~20)
_INSERT_RECORD = insert(SourceRecord.__table__)
_INSERT_NAMES = insert(RecordName.__table__)
_RECORD_COLUMNS = tuple(c.key for c in SourceRecord.__table__.columns if c.key != "id")
_JSON_COLUMNS = frozenset(c.key for c in SourceRecord.__table__.columns if isinstance(c.type, JSON))
# SQLite: the same inserts on the driver's cursor (SQLAlchemy's per-execution work cost more than the insert)
_RECORD_ROWS = DriverInsert(SourceRecord.__table__)
_KEY_ROWS = DriverInsert(BlockingKey.__table__)
_NAME_ROWS = DriverInsert(RecordName.__table__)


class NewRecord:
    """A record new in this feed, built in memory and inserted with one statement (`insert_new_record`): the
    columns of SourceRecord as plain attributes, None until set. A transient ORM instance would do, but its
    instrumented attributes cost several microseconds a set or a read, and a feed sets ~40 and reads ~100.
    Read from only once inserted; code that needs the ORM object loads it with ``session.get``."""

    __slots__ = tuple(c.key for c in SourceRecord.__table__.columns)
    _COLUMNS = frozenset(__slots__)

    def __init__(self, **values: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, values.get(name))
        unknown = values.keys() - self._COLUMNS
        if unknown:
            raise TypeError(f"not a source_record column: {sorted(unknown)}")


def insert_record(session: Session, record: SourceRecord | NewRecord) -> int:
    """Insert a new record built in memory (not added to the session) with one Core statement, no ORM flush.

    Sets and returns ``record.id``; the object stays transient and is only read from afterwards."""
    record.created_at = record.updated_at = utcnow()
    values = {name: getattr(record, name) for name in _RECORD_COLUMNS}
    if session.get_bind().dialect.name == "sqlite":
        record.id = _RECORD_ROWS.one(session, values)
        return record.id
    result = session.execute(_INSERT_RECORD, values)
    record.id = int(result.inserted_primary_key[0])
    return record.id


# PostgreSQL: a new record in one statement (one round trip, not four): take the advisory locks on its
# blocking keys, then insert the record, its keys and its searchable names. The record's insert reads the
# locks' row, so the locks are held before it runs; every value is cast to its column's type because an
# INSERT ... SELECT does not take its parameters' types from the target columns.
_NEW_RECORD_PG = (
    "WITH locks AS (SELECT count(pg_advisory_xact_lock(k)) AS n FROM unnest(CAST(%(lock_ids)s AS bigint[])) AS k),"
    " rec AS (INSERT INTO source_record ({}) SELECT {} FROM locks RETURNING id),"
    " keys AS (INSERT INTO blocking_key (record_id, key)"
    " SELECT rec.id, k FROM rec, unnest(CAST(%(keys)s AS varchar[])) AS k),"
    " names AS (INSERT INTO record_name (record_id, family_norm, given_norm, use)"
    " SELECT rec.id, f, g, u FROM rec, unnest(CAST(%(families)s AS varchar[]), CAST(%(givens)s AS varchar[]),"
    " CAST(%(uses)s AS varchar[])) AS n(f, g, u))"
    " SELECT id FROM rec".format(*pg_columns(SourceRecord.__table__)))


def insert_new_record(session: Session, record: SourceRecord | NewRecord, keys: Sequence[str],
                      locks: Iterable[str] | None = None) -> int:
    """A record new in this transaction: lock ``locks`` (PostgreSQL; default its blocking ``keys``), insert it
    (setting ``record.id``), its keys and its searchable names. On PostgreSQL this is a single statement."""
    locks = keys if locks is None else locks
    if session.get_bind().dialect.name != "postgresql":
        lock_keys(session, locks)
        insert_record(session, record)
        refresh_search_rows(session, record, keys, fresh=True)
        return record.id
    record.created_at = record.updated_at = utcnow()
    values = {name: json_text(getattr(record, name)) if name in _JSON_COLUMNS else getattr(record, name)
              for name in _RECORD_COLUMNS}
    names = _search_names(record)
    rows = driver_execute(session, _NEW_RECORD_PG, {
        **values, "lock_ids": _lock_ids(locks), "keys": _unique_keys(keys),
        "families": [f for (f, _), _ in names], "givens": [g for (_, g), _ in names],
        "uses": [u for _, u in names]})
    record.id = int(rows[0][0])
    return record.id


def lock_keys(session: Session, keys: Iterable[str]) -> None:
    """Serialise concurrent writers that touch the same keys (PostgreSQL advisory locks, in key order).

    SQLite needs nothing here: its writers are serialised by the unit of work.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = _lock_ids(keys)
    if ids:  # one round trip: unnest yields the array in order, so the locks are still taken in key order
        driver_execute(session, _LOCK_ALL, (ids,))


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _validate_date(value: str | None) -> str | None:
    if value is None:
        return None
    if not _DATE.match(value):
        raise InvalidInput("birth date must be YYYY, YYYY-MM or YYYY-MM-DD", field="birth_date")
    parts = [int(p) for p in value.split("-")]
    if len(parts) > 1 and not 1 <= parts[1] <= 12:
        raise InvalidInput("birth date has an invalid month", field="birth_date")
    if len(parts) > 2:
        import calendar

        if not 1 <= parts[2] <= calendar.monthrange(parts[0], parts[1])[1]:
            raise InvalidInput("birth date has an invalid day", field="birth_date")
    return value


def apply_demographics(record: SourceRecord, demo: Demographics) -> None:
    """Apply HL7 update semantics: UNSET keeps, None/[] deletes, a value replaces."""
    if demo.names is not UNSET:
        names: list[PersonName] = [n for n in (demo.names or []) if any(_clean(v) for v in n.as_dict().values())]
        first = names[0] if names else PersonName()
        record.names = [n.as_dict() for n in names]
        record.family_name = _clean(first.family)
        record.given_name = _clean(first.given)
        record.middle_name = _clean(first.middle)
        record.name_prefix = _clean(first.prefix)
        record.name_suffix = _clean(first.suffix)
        record.family_norm = search_norm(record.family_name)
        record.given_norm = search_norm(record.given_name)
    if demo.birth_date is not UNSET:
        record.birth_date = _validate_date(_clean(demo.birth_date))
    if demo.sex is not UNSET:
        sex = _clean(demo.sex)
        record.sex = sex.upper()[:1] if sex else None
    if demo.addresses is not UNSET:
        addresses: list[Address] = [a for a in (demo.addresses or []) if any(_clean(v) for v in a.as_dict().values())]
        first_a = addresses[0] if addresses else Address()
        record.addresses = [a.as_dict() for a in addresses]
        record.address_line = " ".join(p for p in (_clean(first_a.line1), _clean(first_a.line2)) if p) or None
        record.city = _clean(first_a.city)
        record.province = _clean(first_a.province)
        record.postal_code = _clean(first_a.postal_code)
        record.country = _clean(first_a.country)
    if demo.phones is not UNSET:
        phones = [p for p in (_clean(x) for x in (demo.phones or [])) if p]
        record.phones = phones
        record.phone = phones[0] if phones else None
    for name in ("health_card", "health_card_version", "ssn", "mothers_maiden_name", "account_number"):
        value = getattr(demo, name)
        if value is not UNSET:
            setattr(record, name, _clean(value))
    if demo.is_deceased is not UNSET:
        record.is_deceased = demo.is_deceased
    if demo.other_identifiers is not UNSET:
        record.other_identifiers = [o.as_dict() for o in (demo.other_identifiers or [])]


# The columns the scorecard reads (the keys of `scoring.score_pair`'s records).
VIEW_COLUMNS = ("given_name", "middle_name", "family_name", "birth_date", "sex", "address_line", "city", "province",
                "postal_code", "phone", "health_card", "mothers_maiden_name")


def scoring_view(record: Any) -> dict[str, Any]:
    """The record as the scorecard sees it: a SourceRecord, or any row with those columns and ``names``."""
    return view_of(record.names, [getattr(record, name) for name in VIEW_COLUMNS])


def view_of(names: Sequence[dict[str, Any]] | None, values: Sequence[Any]) -> dict[str, Any]:
    """The scoring view from a record's ``names`` and its VIEW_COLUMNS values, in that order."""
    view = dict(zip(VIEW_COLUMNS, values, strict=True))
    view["family_name_aliases"] = ([n.get("family") for n in names[1:] if n.get("family")]
                                   if names is not None and len(names) > 1 else [])
    return view


def refresh_search_rows(session: Session, record: SourceRecord, keys: Sequence[str], *, fresh: bool = False) -> None:
    """Rewrite the record's blocking keys and searchable names (``fresh``: the record has none yet)."""
    if not fresh:
        session.execute(delete(BlockingKey).where(BlockingKey.record_id == record.id))
        session.execute(delete(RecordName).where(RecordName.record_id == record.id))
    if record.status != "active":
        return
    unique_keys = _unique_keys(keys)
    sqlite = session.get_bind().dialect.name == "sqlite"
    if unique_keys and not sqlite:
        session.execute(_INSERT_KEYS_PG, {"rid": record.id, "keys": unique_keys})  # one statement, not one a key
    elif unique_keys:
        _KEY_ROWS.many(session, [{"record_id": record.id, "key": k} for k in unique_keys])
    names = [{"record_id": record.id, "family_norm": f, "given_norm": g, "use": u} for (f, g), u in _search_names(record)]
    if names and sqlite:
        _NAME_ROWS.many(session, names)
    elif names:
        session.execute(_INSERT_NAMES, names)


def _lock_ids(keys: Iterable[str]) -> list[int]:
    """Advisory-lock numbers of the keys, in key order (every writer locks in that order)."""
    return [lock_id(k) for k in sorted(set(keys))]


def _unique_keys(keys: Iterable[str]) -> list[str]:
    return sorted({k[:96] for k in keys})


def _search_names(record: SourceRecord) -> list[tuple[tuple[str | None, str | None], str | None]]:
    """((family_norm, given_norm), use) of each distinct name of the record, in order."""
    names: dict[tuple[str | None, str | None], str | None] = {}
    for n in record.names or []:
        pair = (search_norm(n.get("family")), search_norm(n.get("given")))
        if pair != (None, None) and pair not in names:
            names[pair] = n.get("use")
    return list(names.items())
