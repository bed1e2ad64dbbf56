"""A data steward's decisions: link a record to a candidate, keep two apart, merge persons, unlink.

Each decision runs inside the caller's unit of work and does everything at once: it closes the review
task (first writer wins: a conditional UPDATE on ``status = 'open'``, so a second steward gets
:class:`AlreadyResolved` and nothing is applied twice), changes the links with method ``manual`` so
automatic matching never overrides them, appends the link history, writes an audit entry (who, when,
what, why) and tells the change listeners (ITI-10) which persons changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from empi import audit, links, review
from empi.commands import LinkMethod
from empi.errors import AlreadyResolved, Conflict, InvalidInput, NotFound
from empi.models import MatchExclusion, Person, ReviewTask, SourceRecord, utcnow
from empi.records import lock_keys

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from empi.runtime import Runtime

EVENT = "review-decision"
MAX_REASON = 2000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a decision did: the task (if any), the persons it touched and where the record now is."""

    decision: str  # link | different | merge | unlink
    task_id: int | None
    record_id: int
    person_id: int  # the record's person after the decision
    changed_persons: tuple[int, ...]


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("a reason is required for every decision", field="reason")
    if len(text) > MAX_REASON:
        raise InvalidInput(f"the reason is longer than {MAX_REASON} characters", field="reason")
    return text


def _close_task(
    session: Session, task_id: int, *, decision: str, actor: str, reason: str
) -> tuple[ReviewTask, SourceRecord]:
    """Claim the open task for this decision, or raise: the UPDATE only matches while it is open.

    The record's feed lock is taken first (the order empi.patients.register uses), then the task row:
    on PostgreSQL a concurrent claim waits on the row lock, re-checks ``status`` and matches nothing;
    on SQLite writers are serialised anyway.
    """
    task = session.get(ReviewTask, task_id)
    if task is None:
        raise NotFound("there is no such review task", field="task")
    record = session.get(SourceRecord, task.record_id)
    if record is not None:
        # the same advisory key as empi.patients.register, so a feed for this record waits for us
        lock_keys(session, [f"rec:{record.domain}|{record.identifier}"])
    claimed = session.execute(
        update(ReviewTask)
        .where(ReviewTask.id == task_id, ReviewTask.status == "open")
        .values(
            status="resolved",
            resolution=decision,
            resolution_reason=reason,
            resolved_by=actor,
            resolved_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(task)
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        who = f" by {task.resolved_by}" if task.resolved_by and task.status == "resolved" else ""
        raise AlreadyResolved(f"this task was already {task.status}{who}", field="task")
    return task, _active_record(session, task.record_id, field="task")


def _lock_record(session: Session, record: SourceRecord) -> None:
    lock_keys(session, [f"rec:{record.domain}|{record.identifier}"])


def _active_record(session: Session, record_id: int, *, field: str) -> SourceRecord:
    record = session.get(SourceRecord, record_id)
    if record is None or record.status != "active":
        raise Conflict(
            "the record is no longer active (merged or deleted since the task was opened)", field=field
        )
    return record


def _candidate(task: ReviewTask, person_id: int) -> dict[str, Any]:
    for cand in task.candidates or []:
        if int(cand.get("person_id", -1)) == person_id:
            return dict(cand)
    raise InvalidInput("that person is not a candidate of this task", field="person_id")


def _candidate_person(session: Session, cand: dict[str, Any]) -> int:
    """Where the candidate's record lives now (its person may have been merged since)."""
    record = _active_record(session, int(cand["record_id"]), field="person_id")
    person = links.person_of(session, record.id)
    if person is None:
        raise Conflict("the candidate record has no person", field="person_id")
    return person


def _pid(rt: Runtime, record: SourceRecord) -> str:
    domain = rt.registry.get(record.domain)
    uid = domain.universal_id if domain else record.domain
    return f"{record.identifier}^^^&{uid}&ISO"


def _audit(
    session: Session,
    rt: Runtime,
    *,
    actor: str,
    decision: str,
    reason: str,
    records: list[SourceRecord],
    person_id: int,
    detail: dict[str, Any],
) -> None:
    audit.record(
        session,
        event_type=EVENT,
        action="U",
        actor=actor,
        actor_type="user",
        patient_ids=[_pid(rt, r) for r in records],
        person_id=person_id,
        detail={"decision": decision, "reason": reason, **detail},
    )


def _exclude(session: Session, a: int, b: int, *, actor: str, reason: str) -> None:
    low, high = sorted((a, b))
    if session.get(MatchExclusion, (low, high)) is None:
        session.add(MatchExclusion(record_a_id=low, record_b_id=high, actor=actor, reason=reason))


def link_to_candidate(
    session: Session, task_id: int, *, person_id: int, actor: str, reason: str | None, rt: Runtime
) -> Outcome:
    """Same person: the task's record joins the candidate's person, by a manual link."""
    why = _reason(reason)
    task, record = _close_task(session, task_id, decision="link", actor=actor, reason=why)
    cand = _candidate(task, person_id)
    target = _candidate_person(session, cand)
    breakdown = {k: cand.get(k) for k in ("total", "decision", "rule", "fields")}
    previous = links.set_link(
        session,
        record,
        target,
        method=LinkMethod.MANUAL,
        action="relink",
        score=cand.get("total"),
        card=rt.card,
        breakdown=breakdown,
        actor=actor,
        reason=why,
    )
    review.supersede_open_tasks(session, record.id, actor=actor)
    changed = tuple(p for p in (previous, target) if p is not None)
    _audit(
        session,
        rt,
        actor=actor,
        decision="link",
        reason=why,
        records=[record],
        person_id=target,
        detail={"task_id": task.id, "from_person_id": previous, "to_person_id": target},
    )
    rt.changed(session, changed)
    return Outcome("link", task.id, record.id, target, changed)


def keep_apart(session: Session, task_id: int, *, actor: str, reason: str | None, rt: Runtime) -> Outcome:
    """Different person: the record stays on its own person, and is never queued with any of the
    task's candidate records again (a match exclusion per pair, which matching honours)."""
    why = _reason(reason)
    task, record = _close_task(session, task_id, decision="different", actor=actor, reason=why)
    others = sorted({int(c["record_id"]) for c in task.candidates or [] if c.get("record_id") != record.id})
    for other in others:
        _exclude(session, record.id, other, actor=actor, reason=why)
    session.flush()
    person = links.person_of(session, record.id)
    assert person is not None
    _audit(
        session,
        rt,
        actor=actor,
        decision="different",
        reason=why,
        records=[record],
        person_id=person,
        detail={"task_id": task.id, "excluded_record_ids": others},
    )
    return Outcome("different", task.id, record.id, person, ())


def merge_persons(
    session: Session, task_id: int, *, person_id: int, actor: str, reason: str | None, rt: Runtime
) -> Outcome:
    """Merge the task record's person (with all its records) into the candidate's person."""
    why = _reason(reason)
    task, record = _close_task(session, task_id, decision="merge", actor=actor, reason=why)
    target = _candidate_person(session, _candidate(task, person_id))
    source = links.person_of(session, record.id)
    if source is None or source == target:
        raise Conflict("the record is already on that person", field="person_id")
    moved_records = list(links.records_of(session, source))
    moved = links.move_person(session, source, target, method=LinkMethod.MANUAL, actor=actor, reason=why)
    for rec in moved_records:
        review.supersede_open_tasks(session, rec.id, actor=actor)
    changed = (source, target)
    _audit(
        session,
        rt,
        actor=actor,
        decision="merge",
        reason=why,
        records=moved_records,
        person_id=target,
        detail={
            "task_id": task.id,
            "merged_person_id": source,
            "surviving_person_id": target,
            "moved_record_ids": moved,
        },
    )
    rt.changed(session, changed)
    return Outcome("merge", task.id, record.id, target, changed)


def unlink_record(
    session: Session, record_id: int, *, actor: str, reason: str | None, rt: Runtime
) -> Outcome:
    """This record is not this person: it gets a person of its own (manual link), is kept apart from
    its former siblings, and its open tasks are closed."""
    why = _reason(reason)
    record = session.get(SourceRecord, record_id)
    if record is None:
        raise NotFound("there is no such record", field="record")
    record = _active_record(session, record_id, field="record")
    _lock_record(session, record)
    previous = links.person_of(session, record.id)
    if previous is None:
        raise Conflict("the record has no person", field="record")
    siblings = list(links.records_of(session, previous, exclude=record.id))
    if not siblings:
        raise Conflict(
            "the record is its person's only record; there is nothing to unlink it from", field="record"
        )
    person = links.new_person(session)
    links.set_link(
        session,
        record,
        person.id,
        method=LinkMethod.MANUAL,
        action="unlink",
        card=None,
        actor=actor,
        reason=why,
    )
    for sibling in siblings:
        _exclude(session, record.id, sibling.id, actor=actor, reason=why)
    review.supersede_open_tasks(session, record.id, actor=actor)
    session.flush()
    changed = (previous, person.id)
    _audit(
        session,
        rt,
        actor=actor,
        decision="unlink",
        reason=why,
        records=[record],
        person_id=person.id,
        detail={
            "from_person_id": previous,
            "to_person_id": person.id,
            "excluded_record_ids": [s.id for s in siblings],
        },
    )
    rt.changed(session, changed)
    return Outcome("unlink", None, record.id, person.id, changed)


def current_person(session: Session, person_id: int) -> Person | None:
    """The person, following merges to the survivor (for pages that link to a merged-away person)."""
    person = session.get(Person, person_id)
    seen = set()
    while person is not None and not person.is_active and person.merged_into_id and person.id not in seen:
        seen.add(person.id)
        person = session.get(Person, person.merged_into_id)
    return person


def person_records(session: Session, person_id: int) -> list[SourceRecord]:
    return list(links.records_of(session, person_id))


def active_person_ids(session: Session, ids: list[int]) -> set[int]:
    return set(session.scalars(select(Person.id).where(Person.id.in_(ids), Person.is_active.is_(True))))
