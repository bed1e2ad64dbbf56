"""PIXm: ITI-83 ``Patient/$ihe-pix`` (cross-reference query) and ITI-104 (patient identity feed:
conditional PUT, ``link`` replaced-by merge, conditional DELETE).

They call the same services as ITI-9 and ITI-8 over MLLP (empi.xref, empi.patients), so both
interfaces give the same answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Connection
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.fhir import translate
from api.fhir.auth import Caller, PixFeed, PixQuery, caller
from api.fhir.errors import FhirError
from api.fhir.formats import body_format, negotiate, parse_resource, render
from api.fhir.router import answer, fhir_router
from api.fhir.work import Note, perform, query
from empi import patients, xref
from empi.commands import FeedEvent, MergeRecords, RecordKey, RegisterSourceRecord
from empi.errors import UnknownIdentifier
from empi.models import SourceRecord
from empi.records import get_record
from empi.runtime import Runtime
from empi.search import linked_records

router = fhir_router()


# --- ITI-83 ----------------------------------------------------------------------------------------

@router.get("/Patient/$ihe-pix")
async def pix_query(request: Request, who: PixQuery) -> Response:
    fmt = negotiate(request)
    q = request.query_params
    return await _pix(request, who, fmt, q.getlist("sourceIdentifier"), q.getlist("targetSystem"))


async def pix_query_fast(request: Request) -> Response:
    """``pix_query`` as a plain Starlette endpoint, mounted ahead of every router (``router.install``):
    the same authentication, negotiation and answers without FastAPI's per-route machinery."""

    async def handle(request: Request) -> Response:
        who = await caller(request, "ITI-83")
        return await pix_query(request, who)

    return await answer(request, handle)


@router.post("/Patient/$ihe-pix")
async def pix_query_post(request: Request, who: PixQuery) -> Response:
    fmt = negotiate(request)
    sources, targets = list(request.query_params.getlist("sourceIdentifier")), []
    raw = await request.body()
    if raw.strip():
        params = parse_resource(raw, body_format(request), ("Parameters",))
        for p in params.parameter or []:  # type: ignore[attr-defined]
            value = p.valueString or p.valueUri or (f"{p.valueIdentifier.system}|{p.valueIdentifier.value}"
                                                    if p.valueIdentifier else None)
            if p.name == "sourceIdentifier" and value:
                sources.append(value)
            elif p.name == "targetSystem" and value:
                targets.append(value)
    targets += request.query_params.getlist("targetSystem")
    return await _pix(request, who, fmt, sources, targets)


async def _pix(request: Request, who: Caller, fmt: str, sources: list[str], targets: list[str]) -> Response:
    """The hot path of PIXm: no thread hop on SQLite, the audit row group-committed (``work.query``)."""
    rt: Runtime = request.app.state.rt

    def work(conn: Connection, note: Note) -> Any:
        if len(sources) != 1:
            raise FhirError(400, "invalid", "exactly one sourceIdentifier (system|value) is required",
                            expression="sourceIdentifier")
        # PIXm 2:3.83.4.2.2: 400 (source domain) takes precedence over 403 (target) over 404 (patient)
        key = translate.record_key(sources[0], rt.registry, "sourceIdentifier")
        note.key(rt, key)
        domains = _target_domains(rt, targets)
        try:
            refs = xref.cross_references(conn, key, rt=rt, domains=domains)
        except UnknownIdentifier:
            raise FhirError(404, "not-found", "sourceIdentifier Patient Identifier not found",
                            expression="sourceIdentifier") from None
        note.person_id = refs.person_id
        return translate.pix_parameters(refs, rt.registry)

    result = await query(rt, who, "ITI-83", work, query=request.scope["query_string"].decode("latin-1"),
                         address=_client(request))
    return render(result, fmt)


def _target_domains(rt: Runtime, targets: list[str]) -> list[str] | None:
    if not targets:
        return None
    namespaces = []
    for system in (s.strip() for t in targets for s in t.split(",")):
        domain = rt.registry.by_system(system) if system else None
        if domain is None:
            raise FhirError(403, "code-invalid", "targetSystem not found", expression="targetSystem")
        namespaces.append(domain.namespace)
    return namespaces


# --- ITI-104 ---------------------------------------------------------------------------------------

@router.put("/Patient")
async def feed(request: Request, who: PixFeed) -> Response:
    fmt = negotiate(request)
    in_format = body_format(request)
    raw = await request.body()
    return await run_in_threadpool(_feed, request, who, fmt, in_format, raw)


def _feed(request: Request, who: Caller, fmt: str, in_format: str, raw: bytes) -> Response:
    rt: Runtime = request.app.state.rt

    def work(session: Session, note: Note) -> tuple[int, Any]:
        key = _conditional_key(request, rt)
        note.key(rt, key)
        if not raw.strip():
            raise FhirError(400, "required", "the request body must be a Patient resource")
        resource = parse_resource(raw, in_format, ("Patient",))
        survivor = translate.replaced_by(resource, rt.registry)  # type: ignore[arg-type]
        if survivor is not None:
            surviving = _surviving_key(session, rt, survivor)
            note.key(rt, surviving)
            note.action = "U"
            result = patients.merge(session, MergeRecords(surviving=surviving, subsumed=key, source=who.name), rt=rt)
            status = 200
        else:
            demo = translate.demographics(resource, key, rt.registry)  # type: ignore[arg-type]
            cmd = RegisterSourceRecord(key=key, demographics=demo, event=FeedEvent.UPDATE, source=who.name)
            result = patients.register(session, cmd, rt=rt)
            status = 201 if result.created else 200
            note.action = "C" if result.created else "U"
        note.person_id = result.person_id
        record = get_record(session, key) or session.get(SourceRecord, result.record_id)
        assert record is not None
        return status, _patient(session, rt, record)

    status, body = perform(rt, who, "ITI-104", "U", work, query=str(request.url.query), address=_client(request))
    location = f"{str(request.base_url).rstrip('/')}/fhir/Patient/{body.id}"
    return render(body, fmt, status=status, headers={"Location": location})


@router.delete("/Patient")
def remove(request: Request, who: PixFeed) -> Response:
    negotiate(request)
    rt: Runtime = request.app.state.rt

    def work(session: Session, note: Note) -> None:
        key = _conditional_key(request, rt)
        note.key(rt, key)
        patients.delete(session, key, rt=rt, source=who.name)

    perform(rt, who, "ITI-104", "D", work, query=str(request.url.query), address=_client(request))
    return Response(status_code=204)


def _conditional_key(request: Request, rt: Runtime) -> RecordKey:
    """The single ``identifier=system|value`` criterion of a conditional PUT/DELETE."""
    criteria = [k for k in request.query_params if not k.startswith("_")]
    if criteria != ["identifier"]:
        raise FhirError(400, "not-supported", "conditional update/delete needs exactly one criterion: "
                                              "identifier=system|value", expression="identifier")
    values = request.query_params.getlist("identifier")
    if len(values) != 1 or "," in values[0]:
        raise FhirError(412, "multiple-matches", "the criteria may name only one identifier",
                        expression="identifier")
    return translate.record_key(values[0], rt.registry, "identifier")


def _surviving_key(session: Session, rt: Runtime, survivor: tuple[str, str]) -> RecordKey:
    system, value = survivor
    if system == "ref":
        record = session.get(SourceRecord, int(value)) if value.isdigit() else None
        if record is None or record.status != "active":
            raise FhirError(404, "not-found", "the replaced-by Patient is not known", expression="Patient.link")
        return RecordKey(identifier=record.identifier, domain=record.domain)
    return translate.record_key(f"{system}|{value}", rt.registry, "Patient.link.other.identifier")


def _patient(session: Session, rt: Runtime, record: SourceRecord) -> Any:
    linked = linked_records(session, [record.id]).get(record.id, [])
    return translate.patient(record, rt.registry, linked=linked)


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None
