"""blocking_key: every active record's keys rebuilt with the paired keys of scoring.blocking

The first keys (a birth date alone, a family-name Soundex and birth year, a Soundex name pair, a house
number and street) held blocks that grow with the region's population. Their replacements join two
pieces of evidence each, so the rows are rewritten; nothing else changes. Downgrading writes the first
keys back (their function is kept below, frozen as it was).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 21:10:00
"""
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from empi.records import VIEW_COLUMNS, view_of
from scoring import blocking_keys, normalize
from scoring.comparators import soundex_code

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 2000

_records = sa.table("source_record", sa.column("id", sa.Integer), sa.column("status", sa.String),
                    sa.column("names", sa.JSON), *(sa.column(name) for name in VIEW_COLUMNS))
_keys = sa.table("blocking_key", sa.column("record_id", sa.Integer), sa.column("key", sa.String))


def upgrade() -> None:
    _rebuild(blocking_keys)


def downgrade() -> None:
    _rebuild(_first_keys)


def _rebuild(keys_of: Callable[[Mapping[str, Any]], set[str]]) -> None:
    bind = op.get_bind()
    bind.execute(sa.delete(_keys))
    for batch in _active(bind):
        rows = [{"record_id": rid, "key": key} for rid, view in batch for key in sorted(keys_of(view))]
        if rows:
            bind.execute(sa.insert(_keys), rows)


def _active(bind: sa.Connection) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """Active records as (id, scoring view), in batches of ids in order."""
    last = 0
    while True:
        rows = bind.execute(sa.select(_records.c.id, _records.c.names, *(_records.c[n] for n in VIEW_COLUMNS))
                            .where(_records.c.status == "active", _records.c.id > last)
                            .order_by(_records.c.id).limit(_BATCH)).all()
        if not rows:
            return
        yield [(row[0], view_of(row[1], row[2:])) for row in rows]
        last = rows[-1][0]


def _first_keys(record: Mapping[str, Any]) -> set[str]:
    """The keys of revisions 0001-0003."""
    given = normalize.given_name(record.get("given_name"))
    family = normalize.family_name(record.get("family_name"))
    born = normalize.birth_date(record.get("birth_date"))
    postal = normalize.postal_code(record.get("postal_code"))
    card = normalize.health_card(record.get("health_card"))
    phone = normalize.phone(record.get("phone"))
    year = born[:4] if born else None
    digits = born.replace("-", "") if born else ""
    sx_family = soundex_code(family) if family else None
    sx_given = soundex_code(given) if given else None
    keys: set[str] = set()
    if card:
        keys.add(f"hc:{card}")
    if phone:
        keys.add(f"ph:{phone[-10:]}")
    if len(digits) == 8:
        keys.add(f"db:{digits}")
    if sx_family and year:
        keys.add(f"sx:{sx_family}|{year}")
    if sx_given and sx_family:
        first, second = sorted((sx_given, sx_family))
        keys.add(f"nm:{first}|{second}")
    if sx_family and postal:
        keys.add(f"fp:{sx_family}|{postal}")
    if given and postal:
        keys.add(f"gp:{given[0]}|{postal}")
    line = normalize.address(record.get("address_line"))
    tokens = line.split(" ") if line else []
    if len(tokens) >= 2 and tokens[0].isdigit() and tokens[1].isalpha():
        keys.add(f"ad:{tokens[0]}|{soundex_code(tokens[1])}")
    return keys
