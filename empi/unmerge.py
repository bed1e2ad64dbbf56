"""Undo a merge or a link, from the link history, restoring the cross-references as they were.

Three undos, each one unit of work in the caller's transaction:

* :func:`undo_record_merge`: an A40 / replaced-by merge subsumed a record. The record becomes active
  again (link, blocking keys and searchable names restored) on its former person, which is
  reactivated, and the records that merge moved from that person to the survivor's person move back.
* :func:`undo_person_merge`: a person was merged into another (a steward merge, or the person move of
  an A40). Its records that moved, and still sit on the survivor, move back; the person is active again.
* :func:`undo_link`: a record's latest link change (automatic or manual link, relink, unlink) is
  reversed: the record returns to its former person (reactivated if it was retired), or to a person of
  its own when it had none. Undoing a link keeps the record apart from the person's records (match
  exclusions); undoing an unlink removes the exclusions that unlink made.

Restored links are manual (a steward's decision), so automatic matching never overrides them. Each
undo writes link events, an audit entry, and tells the change listeners (ITI-10) which persons changed.
Demographics that a merge message overwrote on the surviving record are not restored: the history
does not keep them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, or_, select

from empi import audit, links, review
from empi.commands import LinkMethod, RecordKey
from empi.errors import Conflict, NotFound, UnknownIdentifier
from empi.models import LinkEvent, MatchExclusion, Person, SourceRecord
from empi.records import get_record, lock_keys, refresh_search_rows, scoring_view
from scoring import blocking_keys

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from empi.runtime import Runtime

EVENT = "unmerge"
LINKING_ACTIONS = ("link", "relink", "merge", "unlink", "unmerge", "undo")


@dataclass(frozen=True, slots=True)
class Undone:
    """What an undo did: the restored person, the records moved back and the persons that changed."""

    kind: str  # record-merge | person-merge | link
    person_id: int
    record_ids: tuple[int, ...]
    changed_persons: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Undoable:
    """An undo a person page can offer (see :func:`undoable`)."""

    kind: str  # record-merge | person-merge | link
    record_id: int | None  # record-merge, link
    person_id: int | None  # person-merge: the merged-away person
    event_id: int
    at: Any  # datetime of the change being undone
    actor: str


def _last_event(session: Session, record_id: int) -> LinkEvent | None:
    return session.scalars(select(LinkEvent).where(LinkEvent.record_id == record_id)
                           .order_by(LinkEvent.id.desc()).limit(1)).first()


def _revive(session: Session, person_id: int) -> None:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("the former person no longer exists", field="person")
    person.is_active = True
    person.merged_into_id = None


def _lock(session: Session, records: Sequence[SourceRecord]) -> None:
    lock_keys(session, [f"rec:{r.domain}|{r.identifier}" for r in records])


def _pid(rt: Runtime, record: SourceRecord) -> str:
    domain = rt.registry.get(record.domain)
    return f"{record.identifier}^^^&{domain.universal_id if domain else record.domain}&ISO"


def _finish(session: Session, rt: Runtime, *, kind: str, person_id: int, records: Sequence[SourceRecord],
            changed: Sequence[int], actor: str, actor_type: str, reason: str | None,
            detail: dict[str, Any]) -> Undone:
    for rec in records:
        review.supersede_open_tasks(session, rec.id, actor=actor)
    audit.record(session, event_type=EVENT, action="U", actor=actor, actor_type=actor_type,
                 patient_ids=[_pid(rt, r) for r in records], person_id=person_id,
                 detail={"undo": kind, "reason": reason, **detail})
    ids = tuple(sorted({p for p in changed if p is not None}))
    rt.changed(session, ids)
    return Undone(kind=kind, person_id=person_id, record_ids=tuple(r.id for r in records), changed_persons=ids)


def _moved_back(session: Session, source: int, target: int, *, after: int, actor: str,
                reason: str | None) -> list[SourceRecord]:
    """Move back the records a merge moved from ``source`` to ``target`` that have not moved since."""
    event_ids = session.scalars(select(LinkEvent.record_id).where(
        LinkEvent.action == "merge", LinkEvent.from_person_id == source, LinkEvent.to_person_id == target,
        LinkEvent.id > after).distinct()).all()
    records = [r for r in (session.get(SourceRecord, rid) for rid in sorted(event_ids))
               if r is not None and r.status == "active"]
    _lock(session, records)
    moved = []
    for rec in records:
        last = _last_event(session, rec.id)
        if last is None or (last.action, last.from_person_id, last.to_person_id) != ("merge", source, target):
            continue  # moved again since: leave it where it is now
        links.set_link(session, rec, source, method=LinkMethod.MANUAL, action="unmerge", actor=actor, reason=reason)
        moved.append(rec)
    return moved


def _restore_subsumed(session: Session, record: SourceRecord, person_id: int, *, actor: str,
                      reason: str | None) -> None:
    record.status = "active"
    record.merged_into_id = None
    session.flush()
    refresh_search_rows(session, record, sorted(set(blocking_keys(scoring_view(record)))))
    links.set_link(session, record, person_id, method=LinkMethod.MANUAL, action="unmerge", actor=actor,
                   reason=reason)


def undo_record_merge(session: Session, key: RecordKey, *, rt: Runtime, actor: str, actor_type: str = "user",
                      reason: str | None = None) -> Undone:
    """Reverse the merge that subsumed the record ``key`` (ITI-8/ITI-30 A40, ITI-104 replaced-by)."""
    record = get_record(session, key)
    if record is None:
        raise UnknownIdentifier("the identifier is not known", field="identifier")
    if record.status != "merged":
        raise Conflict("the identifier was not merged into another", field="identifier")
    _lock(session, [record])
    event = session.scalars(select(LinkEvent).where(LinkEvent.record_id == record.id, LinkEvent.action == "merge",
                                                    LinkEvent.to_person_id.is_(None))
                            .order_by(LinkEvent.id.desc()).limit(1)).first()
    survivor = session.get(SourceRecord, record.merged_into_id) if record.merged_into_id else None
    target = links.person_of(session, survivor.id) if survivor is not None else None
    if event is None or event.from_person_id is None:
        raise Conflict("the merge has no link history to undo", field="identifier")
    former = event.from_person_id
    _revive(session, former)
    moved = _moved_back(session, former, target, after=event.id, actor=actor, reason=reason) if target else []
    _restore_subsumed(session, record, former, actor=actor, reason=reason)
    return _finish(session, rt, kind="record-merge", person_id=former, records=[record, *moved],
                   changed=(former, target or former), actor=actor, actor_type=actor_type, reason=reason,
                   detail={"surviving_record_id": survivor.id if survivor else None, "from_person_id": target,
                           "undone_event_id": event.id})


def undo_person_merge(session: Session, person_id: int, *, rt: Runtime, actor: str, actor_type: str = "user",
                      reason: str | None = None) -> Undone:
    """Reverse the merge of person ``person_id`` into another person."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("there is no such person", field="person")
    if person.is_active or person.merged_into_id is None:
        raise Conflict("the person was not merged into another", field="person")
    target = person.merged_into_id
    subsumed_ids = select(LinkEvent.record_id).where(LinkEvent.action == "merge", LinkEvent.from_person_id == person_id,
                                                     LinkEvent.to_person_id.is_(None))
    subsumed = session.scalars(select(SourceRecord).where(SourceRecord.status == "merged",
                                                          SourceRecord.id.in_(subsumed_ids))).all()
    subsumed = [r for r in subsumed if (ev := _last_event(session, r.id)) is not None
                and (ev.action, ev.from_person_id, ev.to_person_id) == ("merge", person_id, None)]
    _revive(session, person_id)
    moved = _moved_back(session, person_id, target, after=0, actor=actor, reason=reason)
    for rec in subsumed:
        _lock(session, [rec])
        _restore_subsumed(session, rec, person_id, actor=actor, reason=reason)
    if not moved and not subsumed:
        raise Conflict("none of the merged records can be moved back: they have moved since", field="person")
    return _finish(session, rt, kind="person-merge", person_id=person_id, records=[*subsumed, *moved],
                   changed=(person_id, target), actor=actor, actor_type=actor_type, reason=reason,
                   detail={"from_person_id": target})


def undo_link(session: Session, record_id: int, *, rt: Runtime, actor: str, actor_type: str = "user",
              reason: str | None = None) -> Undone:
    """Reverse the record's latest link change."""
    record = session.get(SourceRecord, record_id)
    if record is None or record.status != "active":
        raise NotFound("there is no such active record", field="record")
    _lock(session, [record])
    current = links.person_of(session, record.id)
    event = _last_event(session, record.id)
    if current is None or event is None or event.to_person_id != current or event.action not in LINKING_ACTIONS:
        raise Conflict("the record's latest change is not a link that can be undone", field="record")
    siblings = list(links.records_of(session, current, exclude=record.id))
    if event.from_person_id is None and (event.method == LinkMethod.NEW or not siblings):
        raise Conflict("the record is on the person it was created with; there is no link to undo",
                       field="record")
    if event.from_person_id is not None:
        target = event.from_person_id
        _revive(session, target)
    else:
        target = links.new_person(session).id
    if event.action == "unlink":  # undoing an unlink: drop the exclusions it made
        others = [r.id for r in links.records_of(session, target)]
        session.execute(delete(MatchExclusion).where(or_(
            and_(MatchExclusion.record_a_id == record.id, MatchExclusion.record_b_id.in_(others)),
            and_(MatchExclusion.record_b_id == record.id, MatchExclusion.record_a_id.in_(others)))))
    else:  # undoing a link: never put this record with those records again automatically
        for sib in siblings:
            low, high = sorted((record.id, sib.id))
            if session.get(MatchExclusion, (low, high)) is None:
                session.add(MatchExclusion(record_a_id=low, record_b_id=high, actor=actor,
                                           reason=reason or "link undone"))
    links.set_link(session, record, target, method=LinkMethod.MANUAL, action="undo", actor=actor, reason=reason)
    return _finish(session, rt, kind="link", person_id=target, records=[record], changed=(current, target),
                   actor=actor, actor_type=actor_type, reason=reason,
                   detail={"from_person_id": current, "undone_event_id": event.id, "undone_action": event.action})


def undoable(session: Session, person_id: int) -> list[Undoable]:
    """The undos a person page can offer: records that joined it, persons and records merged into it."""
    out: list[Undoable] = []
    for rec in links.records_of(session, person_id):
        ev = _last_event(session, rec.id)
        if ev is None or ev.to_person_id != person_id or ev.action not in LINKING_ACTIONS:
            continue
        if ev.from_person_id is None and (ev.method == LinkMethod.NEW or links.record_count(session, person_id) == 1):
            continue  # the person was created for this record
        if ev.action == "merge" and ev.from_person_id is not None:
            continue  # offered as a person merge below
        out.append(Undoable("link", rec.id, None, ev.id, ev.at, ev.actor))
    for merged in session.scalars(select(Person).where(Person.merged_into_id == person_id,
                                                       Person.is_active.is_(False))):
        ev = session.scalars(select(LinkEvent).where(LinkEvent.from_person_id == merged.id,
                                                     LinkEvent.action == "merge")
                             .order_by(LinkEvent.id.desc()).limit(1)).first()
        if ev is not None:
            out.append(Undoable("person-merge", None, merged.id, ev.id, ev.at, ev.actor))
    survivors = [r.id for r in links.records_of(session, person_id)]
    if survivors:
        for rec in session.scalars(select(SourceRecord).where(SourceRecord.status == "merged",
                                                              SourceRecord.merged_into_id.in_(survivors))):
            ev = _last_event(session, rec.id)
            if ev is not None and ev.action == "merge":
                out.append(Undoable("record-merge", rec.id, None, ev.id, ev.at, ev.actor))
    return sorted(out, key=lambda u: u.event_id, reverse=True)
