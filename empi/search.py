"""Demographic search over source records: the query core shared by PDQ (ITI-21) and PDQm (ITI-78),
and the scored candidate lookup behind PDQm $match (ITI-119).

Transport-neutral: adapters translate their parameters into a :class:`PatientQuery`. Semantics:

* Each list field of the query is AND (every entry must hold); each entry may carry several values,
  any of which may match (OR). ``PatientQuery(family=[Text.of("SMITH", "SMYTH")], sex=("F",))``.
* Names match any of a record's names (legal, maiden, alias) after :func:`empi.text.search_norm`
  (upper case, accents and punctuation removed). Family and given criteria must hold on the *same* name.
* Only active source records are found (merged and deleted ones are never returned).
* Results are ordered by record id, so paging with ``offset``/``limit`` is stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select

from empi.errors import InvalidInput
from empi.models import BlockingKey, RecordName, SourceRecord
from empi.text import search_norm

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from empi.runtime import Runtime

MAX_LIMIT = 1000


class Match(StrEnum):
    PREFIX = "prefix"  # the stored value starts with the query (FHIR string default)
    EXACT = "exact"  # the whole value equals the query (FHIR :exact), after normalisation
    CONTAINS = "contains"  # the query occurs anywhere (FHIR :contains)
    WILDCARD = "wildcard"  # '*' any run, '?' one character (HL7 PDQ); otherwise exact


@dataclass(frozen=True, slots=True)
class Text:
    """One string criterion: any of ``values`` may match."""

    values: tuple[str, ...]
    match: Match = Match.PREFIX

    @classmethod
    def of(cls, *values: str, match: Match = Match.PREFIX) -> Text:
        return cls(tuple(values), match)


DATE_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge", "sa", "eb", "ap")


@dataclass(frozen=True, slots=True)
class DateCriterion:
    """``value`` is YYYY, YYYY-MM or YYYY-MM-DD; a partial value is the whole year or month.
    ``prefix`` is a FHIR comparator (eq ne lt gt le ge sa eb ap; ap is treated as eq)."""

    value: str
    prefix: str = "eq"


@dataclass(frozen=True, slots=True)
class IdentifierCriterion:
    """A record key: ``value`` in ``domain`` (a namespace). Either may be None (any)."""

    value: str | None
    domain: str | None = None


@dataclass(slots=True)
class PatientQuery:
    ids: tuple[int, ...] = ()  # source record ids (FHIR _id), any of
    family: list[Text] = field(default_factory=list)
    given: list[Text] = field(default_factory=list)
    name: list[Text] = field(default_factory=list)  # family or given
    birth_date: list[DateCriterion] = field(default_factory=list)
    sex: tuple[str, ...] = ()  # HL7 0001 codes (M F O U ...), any of
    identifiers: list[tuple[IdentifierCriterion, ...]] = field(default_factory=list)
    address: list[Text] = field(default_factory=list)  # any part of the address
    address_line: list[Text] = field(default_factory=list)
    city: list[Text] = field(default_factory=list)
    province: list[Text] = field(default_factory=list)
    postal_code: list[Text] = field(default_factory=list)
    country: list[Text] = field(default_factory=list)
    phone: list[Text] = field(default_factory=list)  # compared on digits only
    mothers_maiden_name: list[Text] = field(default_factory=list)
    account_number: tuple[str, ...] = ()  # any of, exact
    domains: tuple[str, ...] = ()  # only records of these namespaces (empty: every domain)

    def is_empty(self) -> bool:
        return not any(getattr(self, f) for f in self.__dataclass_fields__)


@dataclass(slots=True)
class SearchPage:
    records: list[SourceRecord]
    total: int


def find(session: Session, query: PatientQuery, *, rt: Runtime | None = None, offset: int = 0,
         limit: int = 50) -> SearchPage:
    """The active source records matching every criterion, one page of them, and how many match in all.

    ``rt`` is accepted for symmetry with the other services (and future per-domain policies).
    """
    if offset < 0 or limit < 0:
        raise InvalidInput("offset and limit must not be negative", field="offset")
    where = _conditions(query)
    total = session.scalar(select(func.count()).select_from(SourceRecord).where(*where)) or 0
    limit = min(limit, MAX_LIMIT)
    records: list[SourceRecord] = []
    if limit and offset < total:
        records = list(session.scalars(select(SourceRecord).where(*where).order_by(SourceRecord.id)
                                       .offset(offset).limit(limit)))
    return SearchPage(records=records, total=total)


def _conditions(q: PatientQuery) -> list[ColumnElement[bool]]:
    r = SourceRecord
    where: list[ColumnElement[bool]] = [r.status == "active"]
    if q.ids:
        where.append(r.id.in_(q.ids))
    if q.domains:
        where.append(func.upper(r.domain).in_([d.upper() for d in q.domains]))
    if q.family or q.given:
        where.append(exists().where(RecordName.record_id == r.id,
                                    *[_text(RecordName.family_norm, t) for t in q.family],
                                    *[_text(RecordName.given_norm, t) for t in q.given]))
    for t in q.name:
        where.append(exists().where(RecordName.record_id == r.id,
                                    or_(_text(RecordName.family_norm, t), _text(RecordName.given_norm, t))))
    where.extend(_date(r.birth_date, d) for d in q.birth_date)
    if q.sex:
        where.append(r.sex.in_([s.upper()[:1] for s in q.sex]))
    for group in q.identifiers:
        where.append(or_(*[_identifier(c) for c in group]) if group else false())
    for t in q.address:
        parts = (r.address_line, r.city, r.province, r.postal_code, r.country)
        where.append(or_(*[_text(func.upper(col), t, raw=True) for col in parts]))
    for col, crit in ((r.address_line, q.address_line), (r.city, q.city), (r.province, q.province),
                      (r.country, q.country), (r.mothers_maiden_name, q.mothers_maiden_name)):
        where.extend(_text(func.upper(col), t, raw=True) for t in crit)
    where.extend(_text(_squeezed(r.postal_code, " -"), t, raw=True, strip=" -") for t in q.postal_code)
    where.extend(_text(_squeezed(r.phone, " -().+/"), _digits(t)) for t in q.phone)
    if q.account_number:
        where.append(r.account_number.in_(q.account_number))
    return where


def _identifier(c: IdentifierCriterion) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if c.value is not None:
        parts.append(SourceRecord.identifier == c.value)
    if c.domain is not None:
        parts.append(func.upper(SourceRecord.domain) == c.domain.upper())
    return and_(*parts) if parts else SourceRecord.id.isnot(None)


def _squeezed(col: Any, chars: str) -> Any:
    """The column upper-cased with ``chars`` removed (portable nested REPLACE)."""
    out = func.upper(col)
    for ch in chars:
        out = func.replace(out, ch, "")
    return out


def _digits(t: Text) -> Text:
    return Text(tuple("".join(ch for ch in v if ch.isdigit()) for v in t.values), Match.EXACT
                if t.match is Match.PREFIX else t.match)


def _text(col: Any, t: Text, *, raw: bool = False, strip: str = "") -> ColumnElement[bool]:
    """``col`` (already normalised) against any of the criterion's values.

    ``raw`` columns are only upper-cased in the database, so the query value is only upper-cased and
    stripped of ``strip``; otherwise it goes through search_norm like the stored value did.
    """
    options: list[ColumnElement[bool]] = []
    for value in t.values:
        if t.match is Match.WILDCARD and ("*" in value or "?" in value):
            options.append(col.like(_wildcard(value, raw=raw, strip=strip), escape="\\"))
            continue
        norm = _norm(value, raw=raw, strip=strip)
        if not norm:
            continue
        if t.match in (Match.EXACT, Match.WILDCARD):
            options.append(col == norm)
        elif t.match is Match.CONTAINS:
            options.append(col.like(f"%{_escape(norm)}%", escape="\\"))
        else:
            options.append(col.like(f"{_escape(norm)}%", escape="\\"))
    return or_(*options) if options else false()


def _norm(value: str, *, raw: bool, strip: str) -> str:
    if not raw:
        return search_norm(value) or ""
    out = value.strip().upper()
    for ch in strip:
        out = out.replace(ch, "")
    return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _wildcard(value: str, *, raw: bool, strip: str) -> str:
    pattern, piece = [], ""
    for ch in value:
        if ch in "*?":
            pattern.append(_escape(_norm(piece, raw=raw, strip=strip)) if piece else "")
            pattern.append("%" if ch == "*" else "_")
            piece = ""
        else:
            piece += ch
    if piece:
        pattern.append(_escape(_norm(piece, raw=raw, strip=strip)))
    return "".join(pattern)


def _date(col: Any, d: DateCriterion) -> ColumnElement[bool]:
    """Birth dates are ISO strings, so ranges are string comparisons; ``hi`` sorts after every
    completion of a partial value ('1958' covers '1958'..'1958-12-31'). A partial stored date counts
    as its whole range, so '1972' satisfies ``ge 1972-06-01`` but not ``gt 1972-06-01``."""
    value, prefix = d.value.strip(), d.prefix.lower()
    if prefix not in DATE_PREFIXES:
        raise InvalidInput(f"unknown date comparison {prefix!r}", field="birth_date")
    lo, hi = value, value + "~"
    within = and_(col >= lo, col <= hi)
    table: dict[str, ColumnElement[bool]] = {
        "eq": within, "ap": within, "ne": and_(col.isnot(None), not_(within)),
        "lt": col < lo, "eb": col < lo, "gt": col > hi, "sa": col > hi, "le": col <= hi, "ge": (col + "~") >= lo,
    }
    return table[prefix]


@dataclass(slots=True)
class ScoredRecord:
    record: SourceRecord
    person_id: int | None
    score: Any  # scoring.PairScore


def scored_candidates(session: Session, probe: SourceRecord, *, rt: Runtime,
                      limit: int | None = None) -> list[ScoredRecord]:
    """Every active record that ``probe`` (a transient, unsaved record) finds by its probe keys,
    scored with the runtime's scorecard, best first. ``probe`` is never added to the session."""
    from empi.links import person_of
    from empi.records import scoring_view
    from scoring import probe_keys, score_pair

    mine = scoring_view(probe)
    keys = sorted(probe_keys(mine))
    if not keys:
        return []
    cap = limit or rt.settings.max_candidates
    ids = select(BlockingKey.record_id).where(BlockingKey.key.in_(keys)).distinct().limit(cap)
    rows: Sequence[SourceRecord] = session.scalars(
        select(SourceRecord).where(SourceRecord.id.in_(ids), SourceRecord.status == "active")).all()
    scored = [ScoredRecord(record=rec, person_id=person_of(session, rec.id),
                           score=score_pair(rt.card, mine, scoring_view(rec))) for rec in rows]
    scored.sort(key=lambda s: (-s.score.total, s.record.id))
    return scored


def linked_records(session: Session, record_ids: Sequence[int]) -> dict[int, list[int]]:
    """For each record, the other active records linked to the same person (ids, ascending)."""
    from empi.models import Link

    if not record_ids:
        return {}
    mine = dict(session.execute(select(Link.record_id, Link.person_id).where(Link.record_id.in_(record_ids))).all())
    by_person: dict[int, list[int]] = {}
    rows = session.execute(select(Link.person_id, Link.record_id).join(SourceRecord, SourceRecord.id == Link.record_id)
                           .where(Link.person_id.in_(set(mine.values())), SourceRecord.status == "active")
                           .order_by(Link.record_id))
    for person_id, record_id in rows:
        by_person.setdefault(person_id, []).append(record_id)
    return {rid: [o for o in by_person.get(pid, []) if o != rid] for rid, pid in mine.items()}
