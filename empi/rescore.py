"""Re-scoring: what a new scorecard would do to the automatic links, and applying it.

Every active record whose link was made automatically (a scorecard or health-card link, or a new
person) is matched again with the new card through `matching.candidates_for` and `matching.decide`,
exactly as a feed would re-match it. Manual links (steward decisions) and merge links (an A40 or a
replaced-by merge) are left alone, and so are the other records of a person with such a link (the
steward confirmed them together). The outcome per record is one of:

* ``make``   - a record alone on its person would join another person;
* ``break``  - a record no longer fits its person's other records and would get a person of its own;
* ``move``   - a record would leave its person's other records for another person;
* ``review`` - the new card is uncertain (or sees an ambiguity): a review task would be opened.

A dry run only reads. It judges each record against today's links, so one change can stand for
another it would make unnecessary once applied (two records that would join each other's persons
count once; a two-record person whose records both stop fitting counts as one ``break``).
Applying works in chunks, each its own unit of work, in record-id order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from empi import audit, links, matching, review
from empi.commands import LinkMethod
from empi.models import Link, ReviewTask, SourceRecord
from empi.records import lock_keys, scoring_view
from scoring import probe_keys

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from empi.runtime import Runtime

KEPT_METHODS = (LinkMethod.MANUAL.value, LinkMethod.MERGE.value)
ACTOR = "rescore"
KINDS = ("make", "break", "move", "review")


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # make | break | move | review
    record_id: int
    from_person: int
    to_person: int | None  # None: a new person (break) or unchanged (review of a lone record)
    old_score: float | None
    new_score: float | None
    reason: str | None = None  # for review: uncertain | ambiguous | health_card_conflict

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "record_id": self.record_id, "from_person": self.from_person,
                "to_person": self.to_person, "old_score": self.old_score, "new_score": self.new_score,
                "reason": self.reason}


@dataclass(slots=True)
class Report:
    card_id: str
    card_version: str
    dry_run: bool
    examined: int = 0
    kept_manual: int = 0
    unchanged: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    sample: list[Change] = field(default_factory=list)
    tasks_opened: int = 0

    def add(self, change: Change, sample_size: int) -> None:
        self.counts[change.kind] += 1
        if len(self.sample) < sample_size:
            self.sample.append(change)


@dataclass(frozen=True, slots=True)
class _Plan:
    change: Change | None
    decision: matching.Decision
    siblings: int


def _probe_keys(record: SourceRecord) -> set[str]:
    """The keys the record looks its candidates up by (scoring.blocking), as on a feed."""
    return probe_keys(scoring_view(record))


def plan_record(session: Session, record: SourceRecord, link: Link, *, card: Any, margin: float,
                limit: int) -> _Plan:
    """What the new card decides for one automatically linked record (mirrors re-matching on update)."""
    cands = matching.candidates_for(session, record, _probe_keys(record), card=card, limit=limit)
    current = link.person_id
    sibling_ids = [r.id for r in links.records_of(session, current, exclude=record.id)]
    siblings = len(sibling_ids)
    decision = matching.decide(cands, card=card, margin=margin)
    best = decision.best
    if siblings and _confirmed(session, sibling_ids):
        return _Plan(None, decision, siblings)
    if siblings:
        mine = next((c for c in cands if c.person_id == current), None)
        fits = mine is not None and (mine.score.decision == "match" or mine.rule == "health-card-match")
        if fits and (best is None or best.person_id == current or decision.kind != "link"):
            return _Plan(None, decision, siblings)
        elsewhere = matching.decide([c for c in cands if c.person_id != current], card=card, margin=margin)
        if elsewhere.kind == "link" and elsewhere.best is not None:
            change = Change("move", record.id, current, elsewhere.best.person_id, link.score, elsewhere.best.total)
            return _Plan(change, elsewhere, siblings)
        # on a person of its own, its former siblings become candidates: uncertain about them -> review
        after = decision if decision.kind == "review" else elsewhere
        reason = after.reason if after.kind == "review" else None
        new_score = mine.total if mine is not None else None
        return _Plan(Change("break", record.id, current, None, link.score, new_score, reason), after, siblings)
    if decision.kind == "link" and best is not None:
        return _Plan(Change("make", record.id, current, best.person_id, link.score, best.total), decision, siblings)
    if decision.kind == "review" and best is not None and not _queued(session, record.id, best.record.id):
        return _Plan(Change("review", record.id, current, None, link.score, best.total, decision.reason),
                     decision, siblings)
    return _Plan(None, decision, siblings)


def _confirmed(session: Session, record_ids: Sequence[int]) -> bool:
    """A steward linked one of these records by hand: the person's records are confirmed together."""
    return bool(session.scalar(select(func.count()).select_from(Link).where(
        Link.record_id.in_(record_ids), Link.method.in_(KEPT_METHODS))))


def _supersede_tasks_about(session: Session, record_id: int, person_id: int) -> None:
    """Open tasks of the person's records that asked about this record: now settled by the link."""
    others = [r.id for r in links.records_of(session, person_id, exclude=record_id)]
    tasks = session.scalars(select(ReviewTask).where(ReviewTask.record_id.in_(others),
                                                     ReviewTask.status == "open")).all()
    for task in tasks:
        if any(c.get("record_id") == record_id for c in task.candidates or []):
            review.supersede_open_tasks(session, task.record_id, actor=ACTOR)


def _queued(session: Session, record_id: int, other_id: int) -> bool:
    """Is the record, or this pair seen from the other record's side, already waiting in review?"""
    tasks = session.scalars(select(ReviewTask).where(ReviewTask.record_id.in_([record_id, other_id]),
                                                     ReviewTask.status == "open")).all()
    return any(t.record_id == record_id or any(c.get("record_id") == record_id for c in t.candidates or [])
               for t in tasks)


def _automatic(session: Session, after: int, size: int) -> Sequence[tuple[SourceRecord, Link]]:
    rows = session.execute(select(SourceRecord, Link).join(Link, Link.record_id == SourceRecord.id)
                           .where(SourceRecord.status == "active", SourceRecord.id > after)
                           .order_by(SourceRecord.id).limit(size)).all()
    return [(r, lk) for r, lk in rows]


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(SourceRecord).join(Link, Link.record_id == SourceRecord.id)
                          .where(SourceRecord.status == "active")) or 0


def dry_run(rt: Runtime, card: Any, *, chunk_size: int = 500, sample_size: int = 20,
            progress: Callable[[int], None] | None = None) -> Report:
    """Report the links `card` would make or break, changing nothing (read-only units of work)."""
    report = Report(card.id, card.version, dry_run=True)
    joined: set[frozenset[int]] = set()
    broken: Counter[int] = Counter()
    for batch in _batches(rt, chunk_size, write=False):
        session, rows = batch
        for record, link in rows:
            report.examined += 1
            if link.method in KEPT_METHODS:
                report.kept_manual += 1
                continue
            plan = plan_record(session, record, link, card=card, margin=rt.settings.review_margin,
                               limit=rt.settings.max_candidates)
            change = plan.change
            if change is not None and change.kind in ("make", "move") and change.to_person is not None:
                pair = frozenset((change.from_person, change.to_person))
                if pair in joined:
                    change = None  # the same join, seen from the other person, already counted
                joined.add(pair)
            elif change is not None and change.kind == "break":
                broken[change.from_person] += 1
                if broken[change.from_person] > plan.siblings:  # the last record left stays put
                    change = None
            if change is None:
                report.unchanged += 1
            else:
                report.add(change, sample_size)
        if progress is not None:
            progress(len(rows))
    return report


def _batches(rt: Runtime, size: int, *, write: bool) -> Iterator[tuple[Session, Sequence[tuple[SourceRecord, Link]]]]:
    after = 0
    while True:
        with (rt.write() if write else rt.read()) as session:
            rows = _automatic(session, after, size)
            if not rows:
                return
            after = rows[-1][0].id
            yield session, rows


def apply(rt: Runtime, card: Any, *, chunk_size: int = 200, sample_size: int = 20,
          progress: Callable[[int], None] | None = None) -> Report:
    """Apply `card`'s decisions to the automatic links, one unit of work per chunk of records, writing
    link history (actor "rescore", the new card's id and version) and queuing review tasks."""
    report = Report(card.id, card.version, dry_run=False)
    for session, rows in _batches(rt, chunk_size, write=True):
        changed: list[int] = []
        for record, _ in rows:
            report.examined += 1
            lock_keys(session, [f"rec:{record.domain}|{record.identifier}"])
            link = session.get(Link, record.id)
            if link is None:
                continue
            if link.method in KEPT_METHODS:
                report.kept_manual += 1
                continue
            plan = plan_record(session, record, link, card=card, margin=rt.settings.review_margin,
                               limit=rt.settings.max_candidates)
            if plan.change is None:
                report.unchanged += 1
                continue
            changed += _apply_change(session, record, plan, card=card, report=report)
            report.add(plan.change, sample_size)
        if report.counts:
            audit.record(session, event_type="rescore", action="U", actor=ACTOR,
                         detail={"scorecard_id": card.id, "scorecard_version": card.version,
                                 "examined": report.examined, "changes": dict(report.counts)})
        rt.changed(session, changed)
        if progress is not None:
            progress(len(rows))
    return report


def _apply_change(session: Session, record: SourceRecord, plan: _Plan, *, card: Any, report: Report) -> list[int]:
    change, decision = plan.change, plan.decision
    assert change is not None
    reason = f"re-scored with scorecard {card.id} v{card.version}"
    review.supersede_open_tasks(session, record.id, actor=ACTOR)
    best = decision.best
    if change.kind in ("make", "move") and best is not None:
        method = LinkMethod.DETERMINISTIC if decision.deterministic else LinkMethod.SCORECARD
        links.set_link(session, record, best.person_id, method=method, action="relink", score=best.total,
                       card=card, breakdown=best.score.to_dict(), actor=ACTOR, reason=reason)
        _supersede_tasks_about(session, record.id, best.person_id)
        return [change.from_person, best.person_id]
    persons = [change.from_person]
    if change.kind == "break":
        person = links.new_person(session)
        links.set_link(session, record, person.id, method=LinkMethod.NEW, action="relink",
                       score=best.total if best else None, card=card,
                       breakdown=best.score.to_dict() if best else None, actor=ACTOR, reason=reason)
        persons.append(person.id)
    if decision.kind == "review":
        review.open_task(session, record, decision, card=card)
        report.tasks_opened += 1
    return persons
