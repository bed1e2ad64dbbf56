"""Explicit link and unlink of two source records, asserted by a source (ITI-30 A24 / A37).

Both are manual decisions: the links get method ``manual``, so automatic matching never overrides
them, and an unlink also records a match exclusion so the two records are never put together again
automatically (a later link removes it). Link events, review-task supersession and the change
listeners (ITI-10) follow, as for every other link change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, or_

from empi import links, review
from empi.commands import LinkMethod, RecordKey
from empi.errors import InvalidInput, UnknownIdentifier
from empi.models import Link, MatchExclusion, SourceRecord
from empi.records import get_record, lock_keys

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from empi.runtime import Runtime


def _pair(session: Session, first: RecordKey, second: RecordKey) -> tuple[SourceRecord, SourceRecord]:
    if first == second:
        raise InvalidInput("the two identifiers are the same", field="second")
    lock_keys(session, [f"rec:{k.domain}|{k.identifier}" for k in (first, second)])
    found = []
    for key, name in ((first, "first"), (second, "second")):
        record = get_record(session, key)
        if record is None or record.status != "active":
            raise UnknownIdentifier("the identifier is not known", field=f"{name}.identifier")
        found.append(record)
    return found[0], found[1]


def _unexclude(session: Session, a: int, b: int) -> None:
    session.execute(delete(MatchExclusion).where(or_(
        and_(MatchExclusion.record_a_id == a, MatchExclusion.record_b_id == b),
        and_(MatchExclusion.record_a_id == b, MatchExclusion.record_b_id == a))))


def _make_manual(session: Session, record: SourceRecord, actor: str) -> None:
    link = session.get(Link, record.id)
    if link is not None and link.method != LinkMethod.MANUAL:
        link.method = LinkMethod.MANUAL.value
        link.created_by = actor


def link_records(session: Session, first: RecordKey, second: RecordKey, *, rt: Runtime, actor: str,
                 reason: str | None = None) -> tuple[int, ...]:
    """The second record joins the first record's person. Returns the persons that changed."""
    a, b = _pair(session, first, second)
    _unexclude(session, a.id, b.id)
    target = links.person_of(session, a.id)
    assert target is not None  # an active record always has a person
    previous = links.person_of(session, b.id)
    if previous == target:
        _make_manual(session, b, actor)  # already together: confirm it, so matching keeps it
        return ()
    links.set_link(session, b, target, method=LinkMethod.MANUAL, action="link", actor=actor,
                   reason=reason or "linked by the source")
    review.supersede_open_tasks(session, b.id, actor=actor)
    changed = tuple(p for p in (previous, target) if p is not None)
    rt.changed(session, changed)
    return changed


def unlink_records(session: Session, first: RecordKey, second: RecordKey, *, rt: Runtime, actor: str,
                   reason: str | None = None) -> tuple[int, ...]:
    """The second record leaves the first record's person for a person of its own, and the two are
    kept apart from now on. Returns the persons that changed (none when they were not linked)."""
    a, b = _pair(session, first, second)
    low, high = sorted((a.id, b.id))
    if session.get(MatchExclusion, (low, high)) is None:
        session.add(MatchExclusion(record_a_id=low, record_b_id=high, actor=actor,
                                   reason=reason or "unlinked by the source"))
    current = links.person_of(session, a.id)
    if current is None or links.person_of(session, b.id) != current:
        return ()
    person = links.new_person(session)
    links.set_link(session, b, person.id, method=LinkMethod.MANUAL, action="unlink", actor=actor,
                   reason=reason or "unlinked by the source")
    _make_manual(session, a, actor)  # the first record stays where it is, now as a manual decision
    review.supersede_open_tasks(session, b.id, actor=actor)
    changed = (current, person.id)
    rt.changed(session, changed)
    return changed
