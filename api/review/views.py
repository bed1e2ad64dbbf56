"""Read-side view models for the review pages: plain dicts the templates render."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from empi import links, review, stewardship, unmerge
from empi.models import Link, LinkEvent, MatchExclusion, Person, RecordName, ReviewTask, SourceRecord
from empi.patients import describe
from empi.runtime import Runtime
from empi.text import search_norm

AGES = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
REASON_LABELS = {
    "uncertain": "Uncertain score",
    "ambiguous": "Ambiguous candidates",
    "health_card_conflict": "Health-card conflict",
}
FIELD_LABELS = {
    "given_name": "Given name",
    "middle_name": "Middle name",
    "family_name": "Family name",
    "birth_date": "Birth date",
    "sex": "Sex",
    "address_line": "Address",
    "city": "City",
    "province": "Province",
    "postal_code": "Postal code",
    "phone": "Phone",
    "health_card": "Health card",
    "mothers_maiden_name": "Mother's maiden name",
}
PAGE = 50


def aware(at: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC timestamps; PostgreSQL aware ones."""
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def age_text(at: datetime | None) -> str:
    if at is None:
        return ""
    seconds = int((datetime.now(UTC) - (aware(at) or datetime.now(UTC))).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return "just now"


def when(at: datetime | None) -> str:
    at = aware(at)
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else ""


def queue(
    session: Session, *, reason: str | None, domain: str | None, age: str | None, after: int | None
) -> dict[str, Any]:
    older = datetime.now(UTC) - AGES[age] if age in AGES else None
    cursor = None
    if after:
        last = review.get_task(session, after)
        cursor = (last.created_at, last.id) if last is not None else None
    tasks = review.list_open_tasks(
        session, reason=reason, domain=domain, older_than=older, after=cursor, limit=PAGE + 1
    )
    more = len(tasks) > PAGE
    tasks = tasks[:PAGE]
    records = (
        {
            r.id: r
            for r in session.scalars(
                select(SourceRecord).where(SourceRecord.id.in_([t.record_id for t in tasks]))
            )
        }
        if tasks
        else {}
    )
    counts = review.count_open_tasks(session, domain=domain, older_than=older)
    rows = []
    for t in tasks:
        rec = records.get(t.record_id)
        rows.append(
            {
                "id": t.id,
                "age": age_text(t.created_at),
                "created": when(t.created_at),
                "reason": t.reason,
                "reason_label": REASON_LABELS.get(t.reason, t.reason),
                "domain": t.domain,
                "identifier": rec.identifier if rec else "",
                "name": _name(rec) if rec else "",
                "score": t.best_score,
                "candidates": len(t.candidates or []),
            }
        )
    return {
        "rows": rows,
        "counts": counts,
        "total": sum(counts.values()),
        "shown": sum(n for r, n in counts.items() if not reason or r == reason),
        "next_after": tasks[-1].id if more and tasks else None,
        "domains": review.open_task_domains(session),
        "filters": {"reason": reason or "", "domain": domain or "", "age": age or ""},
        "reasons": REASON_LABELS,
    }


def _name(rec: SourceRecord) -> str:
    given = " ".join(p for p in (rec.given_name, rec.middle_name) if p)
    return ", ".join(p for p in (rec.family_name, given) if p)


def record_view(session: Session, rec: SourceRecord) -> dict[str, Any]:
    data = describe(rec)
    link = session.get(Link, rec.id)
    person = session.get(Person, link.person_id) if link else None
    data.update(
        name=_name(rec),
        person_id=link.person_id if link else None,
        regional_id=person.regional_id if person else None,
        method=link.method if link else None,
        linked_by=link.created_by if link else None,
        linked_at=when(link.created_at) if link else "",
        score=link.score if link else None,
    )
    return data


SIDE_BY_SIDE = ("name", "birth_date", "sex", "address", "phone", "health_card")


def _address(r: dict[str, Any]) -> str:
    return ", ".join(str(p) for p in (r.get("address_line"), r.get("city"), r.get("postal_code")) if p)


def side_by_side(incoming: dict[str, Any] | None, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record's key demographics, every value marked same/differs/missing against the incoming
    record's (compared upper-cased without punctuation), for the records-side-by-side table."""
    mine = (
        {k: _address(incoming) if k == "address" else incoming.get(k) for k in SIDE_BY_SIDE}
        if incoming
        else {}
    )
    rows = []
    for r in records:
        cells = []
        for key in SIDE_BY_SIDE:
            value = _address(r) if key == "address" else r.get(key)
            theirs = search_norm(str(value)) if value else None
            ours = search_norm(str(mine.get(key))) if mine.get(key) else None
            state = "none" if not theirs or not ours else ("same" if theirs == ours else "diff")
            cells.append({"key": key, "value": value or "—", "state": state})
        rows.append({**r, "cells": cells})
    return rows


def _field_rows(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for f in fields:
        points = float(f.get("points") or 0)
        level = str(f.get("level") or "")
        if level == "missing":
            kind = "missing"
        elif points > 0:
            kind = "agree" if level == "exact" else "partial"
        elif points < 0:
            kind = "differ"
        else:
            kind = "neutral"
        rows.append(
            {
                "label": FIELD_LABELS.get(f["field"], f["field"]),
                "a": f.get("value_a"),
                "b": f.get("value_b"),
                "comparator": f.get("comparator"),
                "level": level,
                "points": points,
                "kind": kind,
            }
        )
    return rows


def task(session: Session, rt: Runtime, task_id: int) -> dict[str, Any] | None:
    t = review.get_task(session, task_id)
    if t is None:
        return None
    incoming = session.get(SourceRecord, t.record_id)
    incoming_view = record_view(session, incoming) if incoming else None
    lower, upper = float(rt.card.lower), float(rt.card.upper)
    candidates = []
    for i, c in enumerate(t.candidates or [], start=1):
        rec = session.get(SourceRecord, int(c["record_id"]))
        now = links.person_of(session, rec.id) if rec is not None else None
        person = stewardship.current_person(session, now) if now else None
        total = float(c.get("total") or 0)
        candidates.append(
            {
                "n": i,
                "person_id": int(c["person_id"]),
                "current_person_id": person.id if person else None,
                "regional_id": person.regional_id if person else c.get("regional_id"),
                "domain": c.get("domain"),
                "identifier": c.get("identifier"),
                "total": total,
                "decision": c.get("decision"),
                "rule": c.get("rule"),
                "fields": _field_rows(c.get("fields") or []),
                "agree": sum(1 for f in c.get("fields") or [] if float(f.get("points") or 0) > 0),
                "differ": sum(1 for f in c.get("fields") or [] if float(f.get("points") or 0) < 0),
                "meter": _meter(total, lower, upper),
                "differences": [
                    f for f in _field_rows(c.get("fields") or []) if f["kind"] in ("differ", "partial")
                ],
                "records": side_by_side(
                    incoming_view, [record_view(session, r) for r in links.records_of(session, person.id)]
                )
                if person
                else [],
            }
        )
    nxt = review.next_open_task(session, after=t)
    return {
        "id": t.id,
        "status": t.status,
        "reason": t.reason,
        "reason_label": REASON_LABELS.get(t.reason, t.reason),
        "domain": t.domain,
        "created": when(t.created_at),
        "age": age_text(t.created_at),
        "resolved_by": t.resolved_by,
        "resolution": t.resolution,
        "resolution_reason": t.resolution_reason,
        "resolved_at": when(t.resolved_at),
        "card": f"{t.scorecard_id} v{t.scorecard_version}",
        "lower": lower,
        "upper": upper,
        "best": t.best_score,
        "incoming": incoming_view,
        "candidates": candidates,
        "next_id": nxt.id if nxt is not None and nxt.id != t.id else None,
    }


def _meter(total: float, lower: float, upper: float) -> dict[str, float]:
    """Positions (percent) of the total and thresholds on a scale that always shows all three."""
    lo = min(0.0, total - 5)
    hi = max(upper + 40, total + 5)

    def pos(v: float) -> float:
        return round(100 * (v - lo) / (hi - lo), 1)

    return {"total": pos(total), "lower": pos(lower), "upper": pos(upper)}


def person(session: Session, person_id: int) -> dict[str, Any] | None:
    p = session.get(Person, person_id)
    if p is None:
        return None
    records = [record_view(session, r) for r in links.records_of(session, p.id)]
    events = session.execute(
        select(LinkEvent, SourceRecord.domain, SourceRecord.identifier)
        .join(SourceRecord, SourceRecord.id == LinkEvent.record_id)
        .where(or_(LinkEvent.from_person_id == p.id, LinkEvent.to_person_id == p.id))
        .order_by(LinkEvent.at.desc(), LinkEvent.id.desc())
        .limit(200)
    ).all()
    touched = {e.from_person_id for e, _, _ in events} | {e.to_person_id for e, _, _ in events}
    rows = session.execute(select(Person.id, Person.regional_id).where(Person.id.in_(touched))).all()
    regional: dict[int | None, str | None] = {pid: rid for pid, rid in rows}  # noqa: C416 (Row objects)
    history = [
        {
            "at": when(e.at),
            "action": e.action,
            "domain": d,
            "identifier": i,
            "method": e.method,
            "from_id": e.from_person_id,
            "to_id": e.to_person_id,
            "from": regional.get(e.from_person_id),
            "to": regional.get(e.to_person_id),
            "actor": e.actor,
            "reason": e.reason,
            "score": e.score,
        }
        for e, d, i in events
    ]
    survivor = stewardship.current_person(session, p.id) if not p.is_active else None
    return {
        "id": p.id,
        "regional_id": p.regional_id,
        "is_active": p.is_active,
        "merged_into": {"id": survivor.id, "regional_id": survivor.regional_id}
        if survivor and survivor.id != p.id
        else None,
        "records": records,
        "history": history,
        "apart": _exclusions(session, [int(r["id"]) for r in records]),
        "tasks": [
            {"id": t.id, "reason_label": REASON_LABELS.get(t.reason, t.reason), "age": age_text(t.created_at)}
            for t in session.scalars(
                select(ReviewTask)
                .where(ReviewTask.record_id.in_([r["id"] for r in records]), ReviewTask.status == "open")
                .order_by(ReviewTask.created_at, ReviewTask.id)
            )
        ],
    }


def _exclusions(session: Session, record_ids: list[int]) -> list[dict[str, Any]]:
    """The steward decisions "different person" / "unlink" that keep these records apart from others."""
    if not record_ids:
        return []
    rows = session.scalars(
        select(MatchExclusion)
        .where(or_(MatchExclusion.record_a_id.in_(record_ids), MatchExclusion.record_b_id.in_(record_ids)))
        .order_by(MatchExclusion.at.desc())
        .limit(100)
    ).all()
    out = []
    for x in rows:
        mine, other = (
            (x.record_a_id, x.record_b_id) if x.record_a_id in record_ids else (x.record_b_id, x.record_a_id)
        )
        a, b = session.get(SourceRecord, mine), session.get(SourceRecord, other)
        if a is None or b is None:
            continue
        out.append(
            {
                "mine": f"{a.domain} · {a.identifier}",
                "other": f"{b.domain} · {b.identifier}",
                "other_person": links.person_of(session, b.id),
                "actor": x.actor,
                "at": when(x.at),
                "reason": x.reason,
            }
        )
    return out


def search(session: Session, q: str) -> list[dict[str, Any]]:
    """Records by identifier (exact, any domain), regional ID, or name ("family" or "family, given")."""
    q = q.strip()
    if not q:
        return []
    found: dict[int, SourceRecord] = {
        r.id: r
        for r in session.scalars(
            select(SourceRecord)
            .where(SourceRecord.identifier == q, SourceRecord.status == "active")
            .limit(50)
        )
    }
    pid = session.scalar(select(Person.id).where(Person.regional_id == q.replace("-", "")))
    if pid is not None:
        found.update({r.id: r for r in links.records_of(session, pid)})
    family, _, given = q.partition(",")
    fam, giv = search_norm(family), search_norm(given)
    if fam and not found:
        stmt = (
            select(SourceRecord)
            .join(RecordName, RecordName.record_id == SourceRecord.id)
            .where(RecordName.family_norm == fam, SourceRecord.status == "active")
        )
        if giv:
            stmt = stmt.where(RecordName.given_norm.startswith(giv))
        found.update({r.id: r for r in session.scalars(stmt.distinct().limit(100))})
    return [
        record_view(session, r) for r in sorted(found.values(), key=lambda r: (r.family_name or "", r.id))
    ]


UNDO_LABELS = {"link": "Link", "person-merge": "Person merge", "record-merge": "Record merge"}


def undos(session: Session, person_id: int) -> list[dict[str, Any]]:
    """What :func:`empi.unmerge.undoable` offers on this person, described for the Undo section.

    ``target`` is the record (link, record merge) or the merged-away person (person merge) the form
    posts back with the event number, so a form shown before a later change is refused as stale."""
    out = []
    for u in unmerge.undoable(session, person_id):
        row: dict[str, Any] = {
            "kind": u.kind,
            "label": UNDO_LABELS.get(u.kind, u.kind),
            "event_id": u.event_id,
            "at": when(u.at),
            "actor": u.actor,
        }
        if u.kind == "person-merge" and u.person_id is not None:
            merged = session.get(Person, u.person_id)
            regional = merged.regional_id if merged else str(u.person_id)
            row.update(
                target=u.person_id,
                what=f"person {regional}",
                text=f"Person {regional} was merged into this person.",
            )
        else:
            rec = session.get(SourceRecord, u.record_id)
            if rec is None:
                continue
            what = f"{rec.domain} {rec.identifier}"
            if u.kind == "record-merge":
                survivor = session.get(SourceRecord, rec.merged_into_id) if rec.merged_into_id else None
                into = f"{survivor.domain} · {survivor.identifier}" if survivor else "another record"
                text = f"{rec.domain} · {rec.identifier} was merged into {into}."
            else:
                text = f"{rec.domain} · {rec.identifier} was linked to this person."
            row.update(target=rec.id, what=what, text=text)
        out.append(row)
    return out
