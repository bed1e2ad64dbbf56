"""The audit trail as FHIR AuditEvent resources: ``GET /fhir/AuditEvent`` and ``/fhir/AuditEvent/{id}``.

Search (IHE ITI-81 style; a client needs the ``ITI-81`` scope) supports ``date`` (repeatable, with
``eq ne lt gt le ge`` prefixes, a date or a date-time), ``type`` (DCM 110110 Patient Record / 110112
Query), ``subtype`` (the transaction, e.g. ``ITI-9``), ``action`` (C R U D E), ``outcome`` (0 4 8
12), ``agent-name`` (the actor), ``address`` (the caller's network address), ``entity-identifier``
or ``patient.identifier`` (``system|value`` of a patient identifier), ``_count`` and ``_offset``.
Newest events come first. Unknown parameters are refused (400) rather than ignored, so a mistyped
filter never discloses the whole trail. Every search is itself audited (ITI-81, action E).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import ColumnElement, String, and_, cast, func, not_, select
from sqlalchemy.orm import Session

from api.fhir.auth import Caller, requires
from api.fhir.errors import FhirError
from api.fhir.formats import negotiate, render
from api.fhir.router import PREFIX, fhir_router
from api.fhir.work import Note, perform
from empi.models import AuditEvent
from empi.runtime import Runtime

router = fhir_router()
AUDITOR = Depends(requires("ITI-81"))  # clients need the ITI-81 scope

DEFAULT_COUNT, MAX_COUNT = 50, 500
DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPES = "urn:ihe:event-type-code"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
QUERY, PATIENT_RECORD = ("110112", "Query"), ("110110", "Patient Record")
PARAMS = {"date", "type", "subtype", "action", "outcome", "agent-name", "address", "entity-identifier",
          "patient.identifier", "_count", "_offset", "_format", "_sort"}


# --- search parameters -> SQL -----------------------------------------------------------------------


def _instant(value: str) -> tuple[datetime, datetime]:
    """The [start, end) range a FHIR date or date-time covers, in UTC."""
    try:
        if len(value) == 4:
            start = datetime(int(value), 1, 1, tzinfo=UTC)
            return start, start.replace(year=start.year + 1)
        if len(value) == 7:
            y, m = int(value[:4]), int(value[5:7])
            start = datetime(y, m, 1, tzinfo=UTC)
            return start, datetime(y + m // 12, m % 12 + 1, 1, tzinfo=UTC)
        if len(value) == 10:
            start = datetime.fromisoformat(value).replace(tzinfo=UTC)
            return start, start + timedelta(days=1)
        at = datetime.fromisoformat(value)
    except ValueError:
        raise FhirError(400, "invalid", "date must be a FHIR date or date-time", expression="date") from None
    if at.tzinfo is None:
        raise FhirError(400, "invalid", "a date-time needs a time zone", expression="date")
    at = at.astimezone(UTC)
    return at, at + timedelta(seconds=1)


def _date(value: str, column: Any) -> ColumnElement[bool]:
    prefix, rest = (value[:2], value[2:]) if value[:2] in ("eq", "ne", "lt", "gt", "le", "ge") else ("eq", value)
    lo, hi = _instant(rest)  # UTC: SQLite stores UTC text without the zone, PostgreSQL compares zones
    return {"eq": and_(column >= lo, column < hi), "ne": not_(and_(column >= lo, column < hi)),
            "lt": column < lo, "le": column < hi, "gt": column >= hi, "ge": column >= lo}[prefix]


def _token(value: str) -> tuple[str | None, str]:
    system, sep, code = value.rpartition("|")
    return (system if sep else None), code


def _patient(value: str, rt: Runtime) -> ColumnElement[bool]:
    system, ident = _token(value)
    if not system or not ident:
        raise FhirError(400, "invalid", "a patient identifier is 'system|value'", expression="entity-identifier")
    domain = rt.registry.by_system(system)
    uid = domain.universal_id if domain else system.removeprefix("urn:oid:")
    needle = f"{ident}^^^&{uid}&ISO".replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(AuditEvent.patient_ids, String).like(f'%"{needle}"%', escape="\\")


def _type(value: str) -> ColumnElement[bool]:
    _system, code = _token(value)
    if code == QUERY[0]:
        return AuditEvent.action == "E"
    if code == PATIENT_RECORD[0]:
        return AuditEvent.action != "E"
    return AuditEvent.event_type == code


def filters(items: list[tuple[str, str]], rt: Runtime) -> list[ColumnElement[bool]]:
    unknown = sorted({k for k, _ in items if k not in PARAMS})
    if unknown:
        raise FhirError(400, "not-supported", f"unsupported search parameter(s): {', '.join(unknown)}",
                        expression=unknown[0])
    where: list[ColumnElement[bool]] = []
    for key, value in items:
        if not value or key.startswith("_"):
            continue
        if key == "date":
            where.append(_date(value, AuditEvent.at))
        elif key == "type":
            where.append(_type(value))
        elif key == "subtype":
            where.append(AuditEvent.event_type == _token(value)[1])
        elif key == "action":
            where.append(AuditEvent.action == value.upper())
        elif key == "outcome":
            if not value.isdigit():
                raise FhirError(400, "invalid", "outcome is 0, 4, 8 or 12", expression="outcome")
            where.append(AuditEvent.outcome == int(value))
        elif key == "agent-name":
            where.append(func.lower(AuditEvent.actor).startswith(value.lower(), autoescape=True))
        elif key == "address":
            where.append(AuditEvent.source_address == value)
        else:
            where.append(_patient(value, rt))
    return where


# --- resource mapping ---------------------------------------------------------------------------------


def _entity_identifier(pid: str, rt: Runtime) -> dict[str, Any]:
    value, _, authority = pid.partition("^^^")
    uid = authority.lstrip("&").split("&")[0]
    domain = rt.registry.by_system(f"urn:oid:{uid}") if uid else None
    system = domain.system if domain else f"urn:oid:{uid}"
    return {"what": {"identifier": {"system": system, "value": value}},
            "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
            "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"}}


def to_fhir(ev: AuditEvent, rt: Runtime) -> FhirAuditEvent:
    code, display = QUERY if ev.action == "E" else PATIENT_RECORD
    at = ev.at if ev.at.tzinfo else ev.at.replace(tzinfo=UTC)
    agent: dict[str, Any] = {"who": {"display": ev.actor}, "requestor": True,
                             "type": {"text": ev.actor_type}}
    if ev.source_address:
        agent["network"] = {"address": ev.source_address, "type": "2"}
    entity = [_entity_identifier(str(p), rt) for p in ev.patient_ids or []]
    if ev.query:
        entity.append({"type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                       "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
                       "query": base64.b64encode(ev.query.encode()).decode()})
    if ev.person_id is not None:
        entity.append({"what": {"identifier": {"system": "urn:empi:person", "value": str(ev.person_id)}},
                       "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                       "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
                       "description": "enterprise person"})
    return FhirAuditEvent(
        id=str(ev.id), type={"system": DCM, "code": code, "display": display},
        subtype=[{"system": EVENT_TYPES, "code": ev.event_type}], action=ev.action,
        recorded=at.isoformat(), outcome=str(ev.outcome), agent=[agent],
        source={"observer": {"display": rt.settings.application}}, entity=entity or None)


# --- endpoints ------------------------------------------------------------------------------------------


def _int(items: list[tuple[str, str]], name: str, default: int) -> int:
    raw = next((v for k, v in items if k == name), None)
    if raw is None:
        return default
    if not raw.isdigit():
        raise FhirError(400, "invalid", f"{name} must be a non-negative integer", expression=name)
    return int(raw)


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("/AuditEvent")
def search_events(request: Request, who: Caller = AUDITOR) -> Response:
    fmt = negotiate(request)
    rt: Runtime = request.app.state.rt
    items = list(request.query_params.multi_items())
    count = min(_int(items, "_count", DEFAULT_COUNT), MAX_COUNT)
    offset = _int(items, "_offset", 0)
    url = str(request.url).split("?")[0]

    def work(session: Session, _note: Note) -> Bundle:
        where = filters(items, rt)
        total = session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
        rows = session.scalars(select(AuditEvent).where(*where).order_by(AuditEvent.id.desc())
                               .offset(offset).limit(count)).all() if count else []
        kept = [(k, v) for k, v in items if k not in ("_count", "_offset")]

        def link(at: int) -> str:
            return f"{url}?{urlencode([*kept, ('_count', str(count)), ('_offset', str(at))])}"

        links = [{"relation": "self", "url": link(offset)}]
        if count and offset + count < total:
            links.append({"relation": "next", "url": link(offset + count)})
        return Bundle(type="searchset", total=total, link=links,
                      entry=[{"fullUrl": f"{url}/{ev.id}", "resource": to_fhir(ev, rt), "search": {"mode": "match"}}
                             for ev in rows] or None)

    return render(perform(rt, who, "ITI-81", "E", work, query=f"AuditEvent?{urlencode(items)}",
                          address=_client(request)), fmt)


@router.get("/AuditEvent/{event_id}")
def read_event(event_id: str, request: Request, who: Caller = AUDITOR) -> Response:
    fmt = negotiate(request)
    rt: Runtime = request.app.state.rt

    def work(session: Session, _note: Note) -> FhirAuditEvent:
        ev = session.get(AuditEvent, int(event_id)) if event_id.isdigit() else None
        if ev is None:
            raise FhirError(404, "not-found", f"AuditEvent/{event_id} is not known")
        return to_fhir(ev, rt)

    return render(perform(rt, who, "ITI-81", "E", work, query=f"AuditEvent/{event_id}",
                          address=_client(request)), fmt)


def install(app: FastAPI) -> None:
    """Mounted before the FHIR base's catch-all route (see ``api.app.ROUTERS``)."""
    app.include_router(router, prefix=PREFIX, tags=["fhir"])
