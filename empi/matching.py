"""Matching: blocking keys -> candidate persons -> scorecard -> decision.

Candidates come only from records sharing a blocking key (an indexed table), never a scan.
The decision for the best candidate person:

* same valid health-card number (deterministic rule)           -> link, unless a hard conflict
* total above the card's upper threshold, no close second person -> link
* a second person within ``review_margin`` points of the best    -> new person + review (ambiguous)
* total within [lower, upper]                                    -> new person + review (uncertain)
* below lower, or no candidate                                   -> new person
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from empi.models import BlockingKey, Link, MatchExclusion, Person, SourceRecord
from empi.records import scoring_view


@dataclass(slots=True)
class Candidate:
    person_id: int
    regional_id: str | None
    record: SourceRecord
    score: Any  # scoring.PairScore

    @property
    def total(self) -> float:
        return float(self.score.total)

    @property
    def rule(self) -> str | None:
        return getattr(self.score, "rule", None)

    def as_dict(self) -> dict[str, Any]:
        data = self.score.to_dict()
        data.update(person_id=self.person_id, regional_id=self.regional_id, record_id=self.record.id,
                    domain=self.record.domain, identifier=self.record.identifier)
        return data


@dataclass(slots=True)
class Decision:
    kind: str  # link | new | review
    reason: str | None = None  # for review: uncertain | ambiguous | health_card_conflict
    best: Candidate | None = None
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def deterministic(self) -> bool:
        return self.best is not None and self.best.rule == "health-card-match"


def excluded_records(session: Session, record_id: int) -> set[int]:
    rows = session.execute(select(MatchExclusion.record_a_id, MatchExclusion.record_b_id).where(
        or_(MatchExclusion.record_a_id == record_id, MatchExclusion.record_b_id == record_id))).all()
    return {a if b == record_id else b for a, b in rows}


def candidates_for(session: Session, record: SourceRecord, keys: set[str], *, card: Any,
                   limit: int = 200, fresh: bool = False) -> list[Candidate]:
    """Score the record against every person sharing a blocking key; best record per person."""
    from scoring import score_pair

    if not keys:
        return []
    ids = session.scalars(select(BlockingKey.record_id).where(BlockingKey.key.in_(sorted(keys)),
                                                              BlockingKey.record_id != record.id)
                          .distinct().limit(limit)).all()
    if not ids:
        return []
    rows = session.execute(select(SourceRecord, Link.person_id, Person.regional_id)
                           .join(Link, Link.record_id == SourceRecord.id)
                           .join(Person, Person.id == Link.person_id)
                           .where(SourceRecord.id.in_(ids), SourceRecord.status == "active")).all()
    excluded = set() if fresh else excluded_records(session, record.id)  # a new record has no exclusions
    blocked_persons = {pid for rec, pid, _ in rows if rec.id in excluded}
    mine = scoring_view(record)
    best: dict[int, Candidate] = {}
    for rec, pid, rid in rows:
        if pid in blocked_persons:
            continue
        result = score_pair(card, mine, scoring_view(rec))
        cand = Candidate(person_id=pid, regional_id=rid, record=rec, score=result)
        if pid not in best or _rank(cand) > _rank(best[pid]):
            best[pid] = cand
    return sorted(best.values(), key=_rank, reverse=True)


def _rank(c: Candidate) -> tuple[int, float]:
    return (1 if c.rule == "health-card-match" else 0, c.total)


def decide(candidates: list[Candidate], *, card: Any, margin: float) -> Decision:
    if not candidates:
        return Decision(kind="new")
    top = candidates[0]
    relevant = [c for c in candidates if c.total >= card.lower or c.rule in ("health-card-match",
                                                                              "health-card-conflict")]
    if top.rule == "health-card-match":
        rivals = [c for c in candidates[1:] if c.rule == "health-card-match"]
        if rivals:
            return Decision(kind="review", reason="ambiguous", best=top, candidates=relevant)
        return Decision(kind="link", best=top, candidates=relevant)
    if top.rule == "health-card-conflict" or any(c.rule == "health-card-conflict" for c in candidates):
        return Decision(kind="review", reason="health_card_conflict", best=top, candidates=relevant)
    decision = top.score.decision
    if decision == "match":
        second = candidates[1] if len(candidates) > 1 else None
        if second is not None and second.total >= card.lower and top.total - second.total <= margin:
            return Decision(kind="review", reason="ambiguous", best=top, candidates=relevant)
        return Decision(kind="link", best=top, candidates=relevant)
    if decision == "uncertain":
        return Decision(kind="review", reason="uncertain", best=top, candidates=relevant)
    return Decision(kind="new", best=top, candidates=relevant)


def index_by_person(candidates: list[Candidate]) -> dict[int, Candidate]:
    out: dict[int, Candidate] = defaultdict()
    for c in candidates:
        out.setdefault(c.person_id, c)
    return dict(out)
