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

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, or_, select, text
from sqlalchemy.orm import Session

from empi.models import Link, MatchExclusion, Person, SourceRecord
from empi.records import VIEW_COLUMNS, scoring_view


@dataclass(frozen=True, slots=True)
class CandidateRecord:
    """The candidate record's key (the demographics scored are in the candidate's breakdown)."""

    id: int
    domain: str
    identifier: str


@dataclass(slots=True)
class Candidate:
    person_id: int
    regional_id: str | None
    record: CandidateRecord
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


_RECORD = SourceRecord.__table__
# Constant statements (compiled once); candidates are read as plain rows, not ORM objects.
# Records sharing more blocking keys come first, so the cap on scored candidates keeps the likeliest
# ones however large a block grows (a common surname in a birth year, a busy street).
_CANDIDATE_IDS = text(
    "SELECT record_id FROM blocking_key WHERE key IN :keys AND record_id != :rid "
    "GROUP BY record_id ORDER BY count(*) DESC, record_id DESC LIMIT :limit"
).bindparams(bindparam("keys", expanding=True))
_CANDIDATE_ROWS = (
    select(_RECORD.c.id, _RECORD.c.domain, _RECORD.c.identifier, _RECORD.c.names,
           *(_RECORD.c[name] for name in VIEW_COLUMNS), Link.__table__.c.person_id, Person.__table__.c.regional_id)
    .join(Link.__table__, Link.__table__.c.record_id == _RECORD.c.id)
    .join(Person.__table__, Person.__table__.c.id == Link.__table__.c.person_id)
    .where(_RECORD.c.id.in_(bindparam("ids", expanding=True)), _RECORD.c.status == "active")
)


def candidates_for(session: Session, record: SourceRecord, keys: set[str], *, card: Any,
                   limit: int = 200, fresh: bool = False) -> list[Candidate]:
    """Score the record against every person sharing a blocking key; best record per person."""
    from scoring import score_pair

    if not keys:
        return []
    ids = session.execute(_CANDIDATE_IDS, {"keys": sorted(keys), "rid": record.id or -1, "limit": limit}).scalars().all()
    if not ids:
        return []
    rows = session.execute(_CANDIDATE_ROWS, {"ids": list(ids)}).all()
    excluded = set() if fresh else excluded_records(session, record.id)  # a new record has no exclusions
    blocked_persons = {row.person_id for row in rows if row.id in excluded}
    mine = scoring_view(record)
    best: dict[int, Candidate] = {}
    for row in rows:
        if row.person_id in blocked_persons:
            continue
        result = score_pair(card, mine, scoring_view(row))
        cand = Candidate(person_id=row.person_id, regional_id=row.regional_id,
                         record=CandidateRecord(row.id, row.domain, row.identifier), score=result)
        pid = row.person_id
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
