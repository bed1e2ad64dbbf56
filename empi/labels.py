"""Steward decisions as labelled record pairs, so the review queue's work can re-estimate the weights.

Three sources, newest decision winning when they disagree about a pair:

* resolved review tasks: "link"/"merge" label the task's record and each candidate record that now
  shares its person a match; "different" labels the record and every candidate a non-match;
* match exclusions ("keep apart", "unlink"): a non-match;
* manual links: the record and every other record of its person, a match.

Each pair carries both records' demographics as the scorecard sees them (`records.scoring_view`),
so `scoring.tuning.load_labels` can score it with any card. The output holds demographics: it is
patient data and must be handled as such. Records are named by internal ids only.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from empi.commands import LinkMethod
from empi.models import Link, MatchExclusion, ReviewTask, SourceRecord
from empi.records import scoring_view

MATCH_RESOLUTIONS = ("link", "merge")
NON_MATCH_RESOLUTIONS = ("different",)
ALIAS_SEPARATOR = "|"


@dataclass(frozen=True, slots=True)
class Label:
    record_a: int  # the smaller record id
    record_b: int
    is_match: bool
    source: str  # review:link | review:merge | review:different | exclusion | manual-link
    decided_at: datetime | None


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _newer(label: Label, other: Label | None) -> bool:
    if other is None:
        return True
    if label.decided_at is None or other.decided_at is None:
        return other.decided_at is None
    return _aware(label.decided_at) >= _aware(other.decided_at)


def _aware(at: datetime) -> datetime:
    from datetime import UTC

    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _from_tasks(session: Session) -> Iterator[Label]:
    tasks = session.scalars(select(ReviewTask).where(
        ReviewTask.status == "resolved",
        ReviewTask.resolution.in_(MATCH_RESOLUTIONS + NON_MATCH_RESOLUTIONS)).order_by(ReviewTask.id))
    for task in tasks:
        others = {int(c["record_id"]) for c in task.candidates or [] if c.get("record_id") is not None}
        others.discard(task.record_id)
        if not others:
            continue
        if task.resolution in NON_MATCH_RESOLUTIONS:
            for other in sorted(others):
                yield Label(*_pair(task.record_id, other), False, f"review:{task.resolution}", task.resolved_at)
            continue
        persons = dict(session.execute(select(Link.record_id, Link.person_id)
                                       .where(Link.record_id.in_([task.record_id, *others]))).all())
        mine = persons.get(task.record_id)
        for other in sorted(others):
            if mine is not None and persons.get(other) == mine:
                yield Label(*_pair(task.record_id, other), True, f"review:{task.resolution}", task.resolved_at)


def _from_exclusions(session: Session) -> Iterator[Label]:
    for row in session.scalars(select(MatchExclusion).order_by(MatchExclusion.record_a_id,
                                                               MatchExclusion.record_b_id)):
        yield Label(*_pair(row.record_a_id, row.record_b_id), False, "exclusion", row.at)


def _from_manual_links(session: Session) -> Iterator[Label]:
    manual = session.execute(select(Link.record_id, Link.person_id, Link.created_at)
                             .where(Link.method == LinkMethod.MANUAL.value).order_by(Link.record_id)).all()
    for record_id, person_id, at in manual:
        siblings = session.scalars(select(Link.record_id).join(SourceRecord, SourceRecord.id == Link.record_id)
                                   .where(Link.person_id == person_id, Link.record_id != record_id,
                                          SourceRecord.status == "active")).all()
        for other in siblings:
            yield Label(*_pair(record_id, other), True, "manual-link", at)


def steward_labels(session: Session) -> list[Label]:
    """Every labelled pair the stewards' decisions imply, one per pair (the newest decision wins)."""
    best: dict[tuple[int, int], Label] = {}
    for label in (*_from_tasks(session), *_from_exclusions(session), *_from_manual_links(session)):
        key = (label.record_a, label.record_b)
        if _newer(label, best.get(key)):
            best[key] = label
    return [best[k] for k in sorted(best)]


FIELDS = ("given_name", "middle_name", "family_name", "family_name_aliases", "birth_date", "sex", "address_line",
          "city", "province", "postal_code", "phone", "health_card", "mothers_maiden_name")
HEADER = ["record_a", "record_b", "is_match", "source", "decided_at",
          *(f"a_{f}" for f in FIELDS), *(f"b_{f}" for f in FIELDS)]


def _cells(view: dict[str, Any]) -> list[str]:
    out = []
    for name in FIELDS:
        value = view.get(name)
        if isinstance(value, list):
            value = ALIAS_SEPARATOR.join(str(v) for v in value if v)
        out.append("" if value is None else str(value))
    return out


def label_rows(session: Session, labels: Iterable[Label]) -> Iterator[list[str]]:
    """CSV rows (after `HEADER`): the pair, its label and both records' scoring views."""
    cache: dict[int, list[str]] = {}

    def view(record_id: int) -> list[str]:
        if record_id not in cache:
            record = session.get(SourceRecord, record_id)
            cache[record_id] = _cells(scoring_view(record)) if record is not None else [""] * len(FIELDS)
        return cache[record_id]

    for label in labels:
        at = label.decided_at.isoformat() if label.decided_at else ""
        yield [str(label.record_a), str(label.record_b), "1" if label.is_match else "0", label.source, at,
               *view(label.record_a), *view(label.record_b)]


def export_labels(session: Session, out: IO[str]) -> dict[str, int]:
    """Write the labelled pairs as CSV to `out`; returns counts per source and label."""
    labels = steward_labels(session)
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(label_rows(session, labels))
    counts: dict[str, int] = {"pairs": len(labels), "match": sum(lb.is_match for lb in labels)}
    counts["non-match"] = counts["pairs"] - counts["match"]
    for label in labels:
        counts[label.source] = counts.get(label.source, 0) + 1
    return counts
