"""Review tasks: created by matching when a decision needs a person; resolved by stewards."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from empi.matching import Decision
from empi.models import ReviewTask, SourceRecord, utcnow


def open_task(session: Session, record: SourceRecord, decision: Decision, *, card: object) -> ReviewTask:
    task = ReviewTask(record_id=record.id, domain=record.domain, reason=decision.reason or "uncertain",
                      best_score=decision.best.total if decision.best else None,
                      candidates=[c.as_dict() for c in decision.candidates],
                      scorecard_id=getattr(card, "id", None), scorecard_version=getattr(card, "version", None))
    session.add(task)
    session.flush()
    return task


def supersede_open_tasks(session: Session, record_id: int, *, actor: str = "system") -> int:
    """Close the record's open tasks: its demographics or links changed, so they no longer apply."""
    tasks = session.scalars(select(ReviewTask).where(ReviewTask.record_id == record_id,
                                                     ReviewTask.status == "open")).all()
    for task in tasks:
        task.status = "superseded"
        task.resolved_at = utcnow()
        task.resolved_by = actor
        task.resolution = "superseded"
    return len(tasks)


# --- the steward queue: listing, counting and fetching tasks (appended for the review web UI) ---

REASONS = ("uncertain", "ambiguous", "health_card_conflict")


def _open_filtered(stmt, *, reason: str | None, domain: str | None, older_than: datetime | None):  # type: ignore[no-untyped-def]
    stmt = stmt.where(ReviewTask.status == "open")
    if reason:
        stmt = stmt.where(ReviewTask.reason == reason)
    if domain:
        stmt = stmt.where(ReviewTask.domain == domain)
    if older_than is not None:
        stmt = stmt.where(ReviewTask.created_at <= older_than)
    return stmt


def list_open_tasks(session: Session, *, reason: str | None = None, domain: str | None = None,
                    older_than: datetime | None = None, after: tuple[datetime, int] | None = None,
                    limit: int = 50) -> list[ReviewTask]:
    """Open tasks, oldest first, one page at a time.

    Keyset paging on (created_at, id) after the last row of the previous page rides the
    (status, created_at) index, so page 200 of 10,000 tasks costs what page 1 does.
    """
    stmt = _open_filtered(select(ReviewTask), reason=reason, domain=domain, older_than=older_than)
    if after is not None:
        at, task_id = after
        later = or_(ReviewTask.created_at > at, and_(ReviewTask.created_at == at, ReviewTask.id > task_id))
        stmt = stmt.where(later)
    stmt = stmt.order_by(ReviewTask.created_at, ReviewTask.id).limit(limit)
    return list(session.scalars(stmt))


def count_open_tasks(session: Session, *, domain: str | None = None,
                     older_than: datetime | None = None) -> dict[str, int]:
    """Open tasks per reason under the domain/age filters (the queue's counters)."""
    stmt = _open_filtered(select(ReviewTask.reason, func.count()), reason=None, domain=domain,
                          older_than=older_than).group_by(ReviewTask.reason)
    return {str(r): int(n) for r, n in session.execute(stmt)}


def open_task_domains(session: Session) -> list[str]:
    return [str(d) for d in session.scalars(select(ReviewTask.domain).where(ReviewTask.status == "open")
                                            .distinct().order_by(ReviewTask.domain))]


def next_open_task(session: Session, *, after: ReviewTask | None = None) -> ReviewTask | None:
    """The oldest open task after ``after`` (or the oldest of all): where a steward goes next."""
    key = (after.created_at, after.id) if after is not None else None
    found = list_open_tasks(session, after=key, limit=1)
    if not found and after is not None:
        found = list_open_tasks(session, limit=1)
    return found[0] if found else None


def get_task(session: Session, task_id: int) -> ReviewTask | None:
    return session.get(ReviewTask, task_id)
