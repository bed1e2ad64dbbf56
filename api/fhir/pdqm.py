"""PDQm: ITI-78 (``GET /Patient``, ``POST /Patient/_search``, ``GET /Patient/{id}``) and ITI-119
(``POST /Patient/$match``). A Patient is one source record (see translate.py for the id scheme).

$match score: the scorecard total mapped piecewise-linearly onto [0, 1] through the card's thresholds,
so the grade can be read off the score: total <= 0 -> 0; 0..lower -> 0..0.5; lower..upper -> 0.5..0.8;
upper..(the best attainable total) -> 0.8..1. Grades follow the card's own decision: above upper (or the
deterministic health-card rule) ``certain``; within [lower, upper] ``probable``; up to (upper - lower)
points below lower ``possible``; anything weaker ``certainly-not``.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.fhir import translate
from api.fhir.auth import Caller, PdqMatch, PdqQuery
from api.fhir.errors import FhirError
from api.fhir.formats import body_format, negotiate, parse_resource, render
from api.fhir.router import PREFIX, fhir_router
from api.fhir.work import Note, perform
from empi import search
from empi.models import SourceRecord
from empi.records import apply_demographics
from empi.runtime import Runtime
from empi.search import DateCriterion, IdentifierCriterion, Match, PatientQuery, Text

router = fhir_router()

DEFAULT_COUNT, MAX_COUNT = 20, 200
_DATE = re.compile(r"^(eq|ne|lt|gt|le|ge|sa|eb|ap)?(\d{4}(-\d{2}(-\d{2})?)?)(T[0-9:.+\-Z]*)?$")
_STRING_PARAMS = {"family": "family", "given": "given", "name": "name", "address": "address",
                  "address-city": "city", "address-state": "province", "address-postalcode": "postal_code",
                  "address-country": "country", "mothersMaidenName": "mothers_maiden_name"}
_MODIFIERS = {"": Match.PREFIX, "exact": Match.EXACT, "contains": Match.CONTAINS}
_IGNORED = {"_format", "_count", "_offset", "_total", "_sort", "_summary", "_elements", "_pretty"}


# --- ITI-78 ----------------------------------------------------------------------------------------

@router.get("/Patient")
def search_get(request: Request, who: PdqQuery) -> Response:
    fmt = negotiate(request)
    return _search(request, who, fmt, list(request.query_params.multi_items()))


@router.post("/Patient/_search")
async def search_post(request: Request, who: PdqQuery) -> Response:
    fmt = negotiate(request)
    items = list(request.query_params.multi_items())
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        items += [(k, str(v)) for k, v in form.multi_items()]
    return await run_in_threadpool(_search, request, who, fmt, items)


def _search(request: Request, who: Caller, fmt: str, items: list[tuple[str, str]]) -> Response:
    rt: Runtime = request.app.state.rt
    count = _int_param(items, "_count", DEFAULT_COUNT, MAX_COUNT)
    offset = _int_param(items, "_offset", 0, None)
    strict = "handling=strict" in request.headers.get("prefer", "")

    def work(session: Session, note: Note) -> Any:
        query, honoured, shown = parse_query(items, rt, strict=strict)
        page = search.find(session, query, rt=rt, offset=offset, limit=count)
        note.patient_ids.extend(f"Patient/{r.id}" for r in page.records)
        linked = search.linked_records(session, [r.id for r in page.records])
        base = f"{str(request.base_url).rstrip('/')}{PREFIX}"
        entries = [{"fullUrl": f"{base}/Patient/{r.id}", "search": {"mode": "match"},
                    "resource": translate.patient(r, rt.registry, linked=linked.get(r.id, []), domains=shown)}
                   for r in page.records]
        return translate.searchset(entries, total=page.total,
                                   links=_paging(f"{base}/Patient", honoured, offset, count, page.total))

    return render(perform(rt, who, "ITI-78", "E", work, query=urlencode(items), address=_client(request)), fmt)


def parse_query(items: list[tuple[str, str]], rt: Runtime, *, strict: bool = False
                ) -> tuple[PatientQuery, list[tuple[str, str]], set[str] | None]:
    """ITI-78 parameters -> (query, the parameters honoured, the domains to show or None for all).
    Repeated parameters are AND, comma-separated values OR."""
    q = PatientQuery()
    honoured: list[tuple[str, str]] = []
    shown: set[str] = set()
    for raw_name, value in items:
        name, _, modifier = raw_name.partition(":")
        values = [v for v in value.split(",") if v != ""]
        if name in _IGNORED or not values:
            continue
        if name in _STRING_PARAMS:
            if modifier not in _MODIFIERS:
                raise FhirError(400, "not-supported", f"modifier :{modifier} is not supported on {name}",
                                expression=raw_name)
            match = _MODIFIERS[modifier]
            if name == "address" and not modifier:  # server-defined in FHIR: any part, anywhere in it
                match = Match.CONTAINS
            getattr(q, _STRING_PARAMS[name]).append(Text(tuple(values), match))
        elif modifier:
            raise FhirError(400, "not-supported", f"modifier :{modifier} is not supported on {name}",
                            expression=raw_name)
        elif name == "_id":
            q.ids = (*q.ids, *(int(v) if v.isdigit() else -1 for v in values))
        elif name == "active":
            if any(v not in ("true", "false") for v in values):
                raise FhirError(400, "invalid", "active must be true or false", expression="active")
            if "true" not in values:  # only active records are ever found
                q.ids = (-1,)
        elif name == "gender":
            q.sex = _genders(values, q.sex)
        elif name == "birthdate":
            if len(values) > 1:
                raise FhirError(400, "not-supported", "birthdate does not take several values; repeat it",
                                expression="birthdate")
            q.birth_date.append(_date(values[0]))
        elif name == "identifier":
            q.identifiers.append(_identifiers(values, rt, shown))
        elif name == "telecom":
            q.phone.append(Text(tuple(v.split("|", 1)[-1] for v in values), Match.EXACT))
        elif strict:
            raise FhirError(400, "not-supported", f"search parameter {name} is not supported", expression=name)
        else:
            continue
        honoured.append((raw_name, value))
    return q, honoured, ({d.upper() for d in shown} if shown else None)


def _genders(values: list[str], current: tuple[str, ...]) -> tuple[str, ...]:
    codes = []
    for v in values:
        if v not in translate.GENDER_TO_SEX:
            raise FhirError(400, "code-invalid", "gender must be male, female, other or unknown", expression="gender")
        codes.append(translate.GENDER_TO_SEX[v])
    if current:  # a repeated gender parameter is an AND: only the common codes remain
        return tuple(c for c in codes if c in current) or ("-",)
    return tuple(codes)


def _date(value: str) -> DateCriterion:
    m = _DATE.match(value.strip())
    if m is None:
        raise FhirError(400, "invalid", "birthdate must be [prefix]YYYY[-MM[-DD]]", expression="birthdate")
    return DateCriterion(m.group(2), m.group(1) or "eq")


def _identifiers(values: list[str], rt: Runtime, shown: set[str]) -> tuple[IdentifierCriterion, ...]:
    """One identifier parameter (its values are OR). ``system|`` is a domain filter: an unknown one is
    PDQm Case 4 (404, warning); a known one also limits the identifiers shown."""
    out = []
    for token in values:
        system, value = translate.split_token(token, "identifier")
        if system:
            domain = rt.registry.by_system(system)
            if domain is None and value is None:
                raise FhirError(404, "not-found", "targetSystem not found", severity="warning",
                                expression="identifier")
            if domain is None:
                out.append(IdentifierCriterion(value, "\0unknown"))  # a domain we do not hold: no match
                continue
            if value is None:
                shown.add(domain.namespace)
            out.append(IdentifierCriterion(value, domain.namespace))
        else:
            out.append(IdentifierCriterion(value, None))
    return tuple(out)


def _int_param(items: list[tuple[str, str]], name: str, default: int, cap: int | None) -> int:
    raw = next((v for k, v in items if k == name), None)
    if raw is None:
        return default
    if not raw.isdigit():
        raise FhirError(400, "invalid", f"{name} must be a non-negative integer", expression=name)
    return min(int(raw), cap) if cap is not None else int(raw)


def _paging(url: str, honoured: list[tuple[str, str]], offset: int, count: int,
            total: int) -> list[tuple[str, str]]:
    def link(at: int) -> str:
        return f"{url}?{urlencode([*honoured, ('_count', str(count)), ('_offset', str(at))])}"

    links = [("self", link(offset))]
    if count and offset + count < total:
        links.append(("next", link(offset + count)))
    if offset > 0 and count:
        links.append(("previous", link(max(0, offset - count))))
    return links


@router.get("/Patient/{patient_id}")
def read(patient_id: str, request: Request, who: PdqQuery) -> Response:
    fmt = negotiate(request)
    rt: Runtime = request.app.state.rt

    def work(session: Session, note: Note) -> Any:
        note.patient_ids.append(f"Patient/{patient_id}")
        record = session.get(SourceRecord, int(patient_id)) if patient_id.isdigit() else None
        if record is None or record.status == "deleted":
            raise FhirError(404, "not-found", f"Patient/{patient_id} is not known", expression="id")
        linked = search.linked_records(session, [record.id]).get(record.id, [])
        return translate.patient(record, rt.registry, linked=linked)

    return render(perform(rt, who, "ITI-78", "R", work, query=f"Patient/{patient_id}", address=_client(request)),
                  fmt)


# --- ITI-119 ---------------------------------------------------------------------------------------

@router.post("/Patient/$match")
async def match(request: Request, who: PdqMatch) -> Response:
    fmt = negotiate(request)
    in_format = body_format(request)
    raw = await request.body()
    return await run_in_threadpool(_match, request, who, fmt, in_format, raw)


def _match(request: Request, who: Caller, fmt: str, in_format: str, raw: bytes) -> Response:
    rt: Runtime = request.app.state.rt

    def work(session: Session, note: Note) -> Any:
        if not raw.strip():
            raise FhirError(400, "required", "the request body must be a Parameters or Patient resource")
        probe_patient, only_certain, count = _match_input(parse_resource(raw, in_format, ("Parameters", "Patient")))
        probe = SourceRecord(domain="", identifier="", names=[], addresses=[], phones=[], other_identifiers=[])
        apply_demographics(probe, translate.demographics(probe_patient, None, rt.registry))
        scored = search.scored_candidates(session, probe, rt=rt)
        graded = [(s, grade(rt.card, s.score)) for s in scored]
        if only_certain:
            graded = [g for g in graded if g[1] == "certain"]
            graded = graded if len(graded) == 1 else []  # FHIR $match: several certain ones are not certain
        graded = graded[:count]
        note.patient_ids.extend(f"Patient/{s.record.id}" for s, _ in graded)
        linked = search.linked_records(session, [s.record.id for s, _ in graded])
        base = f"{str(request.base_url).rstrip('/')}{PREFIX}"
        entries = [{"fullUrl": f"{base}/Patient/{s.record.id}",
                    "resource": translate.patient(s.record, rt.registry, linked=linked.get(s.record.id, [])),
                    "search": {"mode": "match", "score": round(score01(rt.card, s.score.total), 4),
                               "extension": [{"url": translate.MATCH_GRADE, "valueCode": g}]}}
                   for s, g in graded]
        return translate.searchset(entries, total=len(entries), links=[("self", f"{base}/Patient/$match")])

    return render(perform(rt, who, "ITI-119", "E", work, query="Patient/$match", address=_client(request)), fmt)


def _match_input(resource: Any) -> tuple[Any, bool, int]:
    if resource.resource_type == "Patient":
        return resource, False, DEFAULT_COUNT
    patient, only_certain, count = None, False, DEFAULT_COUNT
    for p in resource.parameter or []:
        if p.name == "resource" and p.resource is not None and p.resource.resource_type == "Patient":
            patient = p.resource
        elif p.name == "onlyCertainMatches" and p.valueBoolean is not None:
            only_certain = bool(p.valueBoolean)
        elif p.name == "count" and p.valueInteger is not None:
            if p.valueInteger < 1:
                raise FhirError(400, "invalid", "count must be a positive integer", expression="count")
            count = min(int(p.valueInteger), MAX_COUNT)
    if patient is None:
        raise FhirError(400, "required", "the Parameters need a 'resource' parameter holding a Patient",
                        expression="resource")
    return patient, only_certain, count


def best_total(card: Any) -> float:
    return sum(max((lvl.weight for lvl in f.levels), default=0.0) for f in card.fields) or 1.0


def score01(card: Any, total: float) -> float:
    """The scorecard total on [0, 1], piecewise linear through (0, 0), (lower, .5), (upper, .8), (best, 1)."""
    lower, upper, best = card.lower, card.upper, max(best_total(card), card.upper + 1)
    points = ((0.0, 0.0), (lower, 0.5), (upper, 0.8), (best, 1.0))
    if total <= 0:
        return 0.0
    for (x0, y0), (x1, y1) in pairwise(points):
        if total <= x1:
            return y0 + (y1 - y0) * (total - x0) / (x1 - x0)
    return 1.0


def grade(card: Any, score: Any) -> str:
    if score.rule == "health-card-match" or score.total > card.upper:
        return "certain"
    if score.total >= card.lower:
        return "probable"
    if score.total >= card.lower - (card.upper - card.lower):
        return "possible"
    return "certainly-not"


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None
