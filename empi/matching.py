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

import json
import math
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from empi.db import driver_execute
from empi.models import MatchExclusion, SourceRecord
from empi.records import VIEW_COLUMNS, scoring_view, view_of


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


# Records sharing more blocking keys come first, so the cap on scored candidates keeps the likeliest
# ones however large a block grows (a common surname in a birth year, a busy street). The ranking reads
# only the (key, record_id) index; the capped ids and their rows come back in one statement. `_candidate_rows`
# puts them in record order (ties between persons keep a stable order): sorting ~20 tuples in Python costs less
# than the statement's own ORDER BY did on SQLite (a temporary B-tree, ~15 us a feed at 100,000 records).
_VIEW = slice(4, 4 + len(VIEW_COLUMNS))  # the VIEW_COLUMNS values in a candidate row
_ID, _DOMAIN, _IDENTIFIER, _NAMES = 0, 1, 2, 3
_PERSON_ID, _REGIONAL_ID = 4 + len(VIEW_COLUMNS), 5 + len(VIEW_COLUMNS)

# The same statement as text for the driver's own cursor (a feed's hot path: SQLAlchemy's per-execution
# work for it, expanding the key list included, cost ~0.2 ms a feed). Keys are bound as a list: one
# placeholder per key on SQLite (a statement text per key count, cached by sqlite3), an array on PostgreSQL.
_CANDIDATE_SQL = """
    SELECT source_record.id, source_record.domain, source_record.identifier, source_record.names, {view},
           link.person_id, person.regional_id
    FROM (SELECT blocking_key.record_id AS record_id, count(*) AS shared
          FROM blocking_key
          WHERE blocking_key.key {keys} AND blocking_key.record_id != {rid}
          GROUP BY blocking_key.record_id
          ORDER BY shared DESC, blocking_key.record_id DESC
          LIMIT {limit}) AS ranked
    JOIN source_record ON source_record.id = ranked.record_id
    JOIN link ON link.record_id = source_record.id
    JOIN person ON person.id = link.person_id
    WHERE source_record.status = 'active'"""
_VIEW_SQL = ", ".join(f"source_record.{name}" for name in VIEW_COLUMNS)
# PostgreSQL runs it as two statements, never prepared: planning the joined statement cost ~0.6-1.3 ms of
# the server's CPU a feed, each half alone plans in a fraction of that. Prepared, either would get a generic
# plan chosen while the tables were small (a sequential scan, seen at 200 records), kept as they grow.
_RANKED_PG = ("SELECT record_id FROM blocking_key WHERE key = ANY(%s) AND record_id <> %s"
              " GROUP BY record_id ORDER BY count(*) DESC, record_id DESC LIMIT %s")
_ROWS_PG = (f"SELECT source_record.id, source_record.domain, source_record.identifier, source_record.names, {_VIEW_SQL},"
            " link.person_id, person.regional_id FROM source_record"
            " JOIN link ON link.record_id = source_record.id JOIN person ON person.id = link.person_id"
            " WHERE source_record.id = ANY(%s) AND source_record.status = 'active'")
_CANDIDATE_SQLITE: dict[int, str] = {}


def _candidate_rows(session: Session, keys: list[str], rid: int, limit: int) -> list[tuple[Any, ...]]:
    """The `_CANDIDATE_SQL` rows as plain tuples, through the DB-API cursor of the session's own
    connection (same transaction, same snapshot); ``names`` decoded as the ORM would."""
    if session.get_bind().dialect.name == "postgresql":
        ranked = [row[0] for row in driver_execute(session, _RANKED_PG, (keys, rid, limit), prepare=False)]
        return sorted(driver_execute(session, _ROWS_PG, (ranked,), prepare=False), key=_by_id) if ranked else []
    sql = _CANDIDATE_SQLITE.get(len(keys))
    if sql is None:
        marks = ", ".join("?" * len(keys))
        sql = _CANDIDATE_SQLITE[len(keys)] = _CANDIDATE_SQL.format(view=_VIEW_SQL, keys=f"IN ({marks})",
                                                                   rid="?", limit="?")
    rows = driver_execute(session, sql, (*keys, rid, limit))
    return [(*row[:_NAMES], _names(row[_NAMES]), *row[_NAMES + 1:]) for row in sorted(rows, key=_by_id)]


_by_id = itemgetter(_ID)


def _names(text: Any) -> Any:
    """A stored ``names`` JSON text, decoded only when it holds more than one name (the first is the
    record's own, already in its columns; later ones give the family-name aliases)."""
    if not isinstance(text, str):
        return text
    return json.loads(text) if text.count("{") > 1 else [{}] if text.count("{") else []


def candidates_for(session: Session, record: SourceRecord, keys: set[str], *, card: Any,
                   limit: int = 200, fresh: bool = False, complete: bool = True) -> list[Candidate]:
    """Score the record against every person sharing a blocking key; best record per person, best first.

    ``complete=False`` returns only what `decide` and the link it leads to read: every candidate that
    reaches the card's lower threshold or meets the health-card rule, and the best candidate overall
    (with its ties), exactly as the complete list has them. The others are left out once a cheap
    bound shows they can't reach the lower threshold (`scoring.engine.Scorer.bound`), which keeps a
    feed's cost nearly flat as blocks grow with the store.
    """
    from scoring.engine import Scorer

    if not keys:
        return []
    rows = _candidate_rows(session, sorted(keys), record.id or -1, limit)
    if not rows:
        return []
    excluded = set() if fresh else excluded_records(session, record.id)  # a new record has no exclusions
    blocked_persons = {row[_PERSON_ID] for row in rows if row[_ID] in excluded}
    scorer = Scorer(card, scoring_view(record))
    first_seen: dict[int, int] = {}  # a person's place in row order: ties between persons keep it
    scored: dict[int, tuple[Any, Any]] = {}  # row index -> (row, PairScore)
    left: list[_Left] = []  # rows a bound put below the lower threshold
    for index, row in enumerate(rows):
        if row[_PERSON_ID] in blocked_persons:
            continue
        first_seen.setdefault(row[_PERSON_ID], index)
        theirs = view_of(row[_NAMES], row[_VIEW])
        if complete:
            scored[index] = (row, scorer.score(theirs))
            continue
        value, exact = scorer.bound(theirs, card.lower)
        if value >= card.lower - _SLACK:
            scored[index] = (row, scorer.score(theirs))
        else:
            left.append(_Left(value, exact, index, row, theirs))
    if left:
        _score_what_decides(scorer, scored, left, card.lower)
    best_of: dict[int, Candidate] = {}
    for index in sorted(scored):
        row, result = scored[index]
        pid = row[_PERSON_ID]
        cand = Candidate(person_id=pid, regional_id=row[_REGIONAL_ID],
                         record=CandidateRecord(row[_ID], row[_DOMAIN], row[_IDENTIFIER]), score=result)
        if pid not in best_of or _rank(cand) > _rank(best_of[pid]):
            best_of[pid] = cand
    return sorted(best_of.values(), key=lambda c: (_rank(c), -first_seen[c.person_id]), reverse=True)


@dataclass(slots=True)
class _Left:
    value: float  # the bound, or the exact total when ``exact``
    exact: bool
    index: int
    row: Any
    view: dict[str, Any]


def _score_what_decides(scorer: Any, scored: dict[int, tuple[Any, Any]], left: list[_Left], lower: float) -> None:
    """Score the rows left out that the complete list would still show: when no candidate reaches the
    lower threshold, the best one overall (its score is kept with the new person's link); and a person's
    best row wherever a row left out would outrank the one scored (a same-card conflict at 30 points
    is hidden by the same person's 40-point row, as in the complete list)."""

    def reaches(entry: _Left, floor: float) -> bool:
        """Whether the entry's total reaches `floor` (its exact total is then known)."""
        if not entry.exact:
            entry.value, entry.exact = scorer.bound(entry.view, floor)
        return entry.exact and entry.value >= floor

    if not any(s.total >= lower or s.rule == "health-card-match" for _, s in scored.values()):
        best = max((s.total for _, s in scored.values()), default=-math.inf)
        for entry in sorted(left, key=lambda e: -e.value):  # best bound first, until none can reach the best
            if entry.value < best - _SLACK:
                break
            if reaches(entry, best):
                best = max(best, entry.value)
        for entry in left:
            if entry.exact and entry.value >= best:  # the best candidate, and any tied with it
                scored[entry.index] = (entry.row, scorer.score(entry.view))
    person_best: dict[int, tuple[int, float]] = {}
    for row, result in scored.values():
        rank = _rank_of(result)
        if row[_PERSON_ID] not in person_best or rank > person_best[row[_PERSON_ID]]:
            person_best[row[_PERSON_ID]] = rank
    rivals: dict[int, list[_Left]] = {}
    for entry in left:
        rank = person_best.get(entry.row[_PERSON_ID])
        if entry.index in scored or rank is None or rank[0] or entry.value < rank[1] - _SLACK:
            continue
        if reaches(entry, rank[1]):
            rivals.setdefault(entry.row[_PERSON_ID], []).append(entry)
    for entries in rivals.values():  # the person's best record (and its ties), as the complete list has it
        top = max(entry.value for entry in entries)
        for entry in entries:
            if entry.value == top:
                scored[entry.index] = (entry.row, scorer.score(entry.view))


_SLACK = 1e-6  # totals carry 6 decimals: a bound within this of the threshold is not below it


def _rank(c: Candidate) -> tuple[int, float]:
    return _rank_of(c.score)


def _rank_of(score: Any) -> tuple[int, float]:
    return (1 if getattr(score, "rule", None) == "health-card-match" else 0, float(score.total))


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
