"""Review tasks: created by matching when a decision needs a person; resolved by stewards."""

from __future__ import annotations

from sqlalchemy import select
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
