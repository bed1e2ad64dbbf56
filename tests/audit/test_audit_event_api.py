"""``/fhir/AuditEvent`` under a real uvicorn server: search, filters, paging, formats, auth, and the
trail of MLLP and FHIR transactions it exposes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from api.mllp import handlers
from empi import audit
from empi.models import AuditEvent
from empi.runtime import Runtime
from tests.fhir.support import auth, live_server, new_token

NIST1 = "2.16.840.1.113883.3.72.5.9.1"


def a28(ident: str, ctrl: str) -> bytes:
    return (f"MSH|^~\\&|HIS|HOSPA|EMPI|EMPI|20260101120000||ADT^A28^ADT_A05|{ctrl}|P|2.5\rEVN||20260101120000\r"
            f"PID|||{ident}^^^NIST2010&{NIST1}&ISO||AUDITOVA^MIRA||19800202|F\rPV1||N").encode()


@pytest.fixture
def server(rt: Runtime) -> Iterator[tuple[Runtime, httpx.Client]]:
    assert b"MSA|AA" in handlers.process(rt, a28("AU-1", "C1"))
    assert b"MSA|AA" in handlers.process(rt, a28("AU-2", "C2"))
    pdq = (b"MSH|^~\\&|PDC|TEST|EMPI|EMPI|20260101120000||QBP^Q22^QBP_Q21|C3|P|2.5\r"
           b"QPD|IHE PDQ Query|Q3|@PID.5.1.1^AUDITOVA\rRCP|I")
    assert b"MSA|AA" in handlers.process(rt, pdq)
    with rt.write() as s:  # an old event, to filter by date (the table is append-only: set at insert)
        s.add(AuditEvent(event_type="ITI-9", action="E", actor="OLD|PIXC", outcome=audit.OUTCOME_MINOR,
                         at=datetime(2020, 5, 1, 12, 0, tzinfo=UTC), patient_ids=[]))
    token = new_token(rt, "auditor", ("ITI-81",))
    with live_server(rt) as live, httpx.Client(base_url=live.url, headers=auth(token), timeout=30) as client:
        yield rt, client


def bundle(r: httpx.Response) -> Bundle:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    return Bundle.parse_raw(r.content)


def subtypes(b: Bundle) -> list[str]:
    """The transactions listed, leaving out the trail's own searches (ITI-81)."""
    return [code for e in b.entry or [] if (code := e.resource.subtype[0].code) != "ITI-81"]


def test_search_lists_the_trail_newest_first(server: tuple[Runtime, httpx.Client]) -> None:
    _, c = server
    b = bundle(c.get("/AuditEvent"))
    assert b.type == "searchset" and b.total == 4
    assert subtypes(b) == ["ITI-9", "ITI-21", "ITI-30", "ITI-30"]
    first = b.entry[0].resource
    assert isinstance(first, FhirAuditEvent) and first.action == "E" and first.outcome == "4"
    assert first.type.code == "110112" and first.agent[0].who.display == "OLD|PIXC"
    feed = b.entry[3].resource
    assert feed.type.code == "110110" and feed.action == "C"
    assert [(e.what.identifier.system, e.what.identifier.value) for e in feed.entity
            if e.what and e.what.identifier and e.what.identifier.system.startswith("urn:oid")] == \
        [(f"urn:oid:{NIST1}", "AU-1")]
    query = b.entry[1].resource
    assert any(e.role.code == "24" and e.query for e in query.entity)


def test_filters(server: tuple[Runtime, httpx.Client]) -> None:
    _, c = server
    assert subtypes(bundle(c.get("/AuditEvent", params={"subtype": "ITI-30"}))) == ["ITI-30", "ITI-30"]
    assert subtypes(bundle(c.get("/AuditEvent", params={"type": f"{'http://dicom.nema.org/resources/ontology/DCM'}|110112"}))) \
        == ["ITI-9", "ITI-21"]
    assert bundle(c.get("/AuditEvent", params={"entity-identifier": f"urn:oid:{NIST1}|AU-2"})).total == 2  # A28 + PDQ
    assert bundle(c.get("/AuditEvent", params={"patient.identifier": f"urn:oid:{NIST1}|AU-9"})).total == 0
    assert subtypes(bundle(c.get("/AuditEvent", params={"outcome": "4"}))) == ["ITI-9"]
    assert subtypes(bundle(c.get("/AuditEvent", params={"date": "lt2021-01-01"}))) == ["ITI-9"]
    today = datetime.now(UTC).date()
    assert subtypes(bundle(c.get("/AuditEvent", params=[("date", f"ge{today - timedelta(days=1)}"),
                                                        ("date", f"le{today + timedelta(days=1)}")]))) \
        == ["ITI-21", "ITI-30", "ITI-30"]
    assert subtypes(bundle(c.get("/AuditEvent", params={"date": "2020-05-01"}))) == ["ITI-9"]
    assert bundle(c.get("/AuditEvent", params={"agent-name": "his|"})).total == 2
    assert bundle(c.get("/AuditEvent", params={"action": "c"})).total == 2


def test_paging_and_formats(server: tuple[Runtime, httpx.Client]) -> None:
    _, c = server
    b = bundle(c.get("/AuditEvent", params={"subtype": "ITI-30", "_count": "1"}))
    assert len(b.entry) == 1 and b.total == 2
    nxt = next(link.url for link in b.link if link.relation == "next")
    b2 = bundle(c.get(nxt))
    assert len(b2.entry) == 1 and not any(link.relation == "next" for link in b2.link)
    assert b2.entry[0].resource.id != b.entry[0].resource.id
    r = c.get("/AuditEvent", params={"_format": "xml", "_count": "1"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+xml")
    assert "<Bundle xmlns=\"http://hl7.org/fhir\">" in r.text and "<AuditEvent>" in r.text
    one = b.entry[0].resource.id
    r = c.get(f"/AuditEvent/{one}")
    assert r.status_code == 200 and FhirAuditEvent.parse_raw(r.content).id == one
    r = c.get("/AuditEvent/999999")
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"


def test_bad_parameters_are_refused_with_an_operation_outcome(server: tuple[Runtime, httpx.Client]) -> None:
    _, c = server
    for params in ({"patient": "Patient/1"}, {"date": "yesterday"}, {"outcome": "bad"},
                   {"entity-identifier": "no-system"}, {"_count": "-1"}):
        r = c.get("/AuditEvent", params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["resourceType"] == "OperationOutcome"


def test_auth_and_the_searches_are_audited(server: tuple[Runtime, httpx.Client]) -> None:
    rt, c = server
    base = str(c.base_url).rstrip("/")
    assert httpx.get(f"{base}/AuditEvent", timeout=30).status_code == 401
    other = new_token(rt, "pdqm-only", ("ITI-78",))
    assert httpx.get(f"{base}/AuditEvent", headers=auth(other), timeout=30).status_code == 403
    c.get("/AuditEvent", params={"subtype": "ITI-30"})
    with rt.read() as s:
        searches = s.scalars(select(AuditEvent).where(AuditEvent.event_type == "ITI-81")).all()
    assert [(e.actor, e.action, e.query) for e in searches] == [("auditor", "E", "AuditEvent?subtype=ITI-30")]
