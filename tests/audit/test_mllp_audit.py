"""ITI-8 and ITI-9 transactions leave audit records (api.mllp.audit_trail), over a real MLLP socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from api.mllp import audit_trail, handlers
from api.mllp.server import serve_in_thread
from empi.models import AuditEvent
from empi.runtime import Runtime
from tests.mllp.support import Client, Hl7

NIST1 = "2.16.840.1.113883.3.72.5.9.1"
IHE = "1.3.6.1.4.1.21367.2010.1.1"


def adt(trigger: str, pid3: str, ctrl: str, extra: str = "") -> str:
    return "\r".join([f"MSH|^~\\&|HIS|HOSPA|EMPI|EMPI|20260101120000||ADT^{trigger}|{ctrl}|P|2.3.1",
                      "EVN||20260101120000", f"PID|||{pid3}||AUDITT^NELL||19660606|F|||1 Elm St^^Ash^ON^K0K 1A0",
                      "PV1||O", *([extra] if extra else [])])


def q23(pid3: str, ctrl: str) -> str:
    return "\r".join([f"MSH|^~\\&|PIXC|TEST|EMPI|EMPI|20260101120000||QBP^Q23^QBP_Q21|{ctrl}|P|2.5",
                      f"QPD|IHE PIX Query|T-{ctrl}|{pid3}", "RCP|I"])


@pytest.fixture
def client(rt: Runtime) -> Iterator[Client]:
    handle = serve_in_thread(rt)  # the real dispatch table, where audit_trail wraps ITI-8 and ITI-9
    c = Client(handle.port)
    yield c
    c.close()
    handle.stop()


def test_the_dispatch_table_audits_iti8_and_iti9() -> None:
    for key in audit_trail.TRANSACTIONS:
        assert handlers.HANDLERS[key].decode.__qualname__.startswith("audited."), key


def events(rt: Runtime, kind: str) -> list[AuditEvent]:
    with rt.read() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.id)))


def test_feeds_are_audited_in_their_transaction(rt: Runtime, client: Client) -> None:
    assert Hl7.of(client.send(adt("A04", f"AT-1^^^NIST2010&{NIST1}&ISO", "F1"))).msa1 == "AA"
    assert Hl7.of(client.send(adt("A08", f"AT-1^^^NIST2010&{NIST1}&ISO", "F2"))).msa1 == "AA"
    assert Hl7.of(client.send(adt("A04", f"AT-2^^^NIST2010&{NIST1}&ISO", "F3"))).msa1 == "AA"
    merge = adt("A40", f"AT-2^^^NIST2010&{NIST1}&ISO", "F4", extra=f"MRG|AT-1^^^NIST2010&{NIST1}&ISO")
    assert Hl7.of(client.send(merge)).msa1 == "AA"
    assert Hl7.of(client.send(adt("A01", "AT-3^^^NOWHERE&1.2.3&ISO", "F5"))).msa1 in ("AE", "AR")
    found = events(rt, "ITI-8")
    assert [(e.action, e.outcome, e.detail["control_id"]) for e in found] == [
        ("C", 0, "F1"), ("U", 0, "F2"), ("C", 0, "F3"), ("U", 0, "F4"), ("C", 8, "F5")]
    assert found[0].patient_ids == [f"AT-1^^^&{NIST1}&ISO"] and found[0].person_id is not None
    assert found[3].patient_ids == [f"AT-2^^^&{NIST1}&ISO", f"AT-1^^^&{NIST1}&ISO"]
    assert {e.actor for e in found} == {"HIS|HOSPA"}


def test_pix_queries_are_audited_with_what_they_disclosed(rt: Runtime, client: Client) -> None:
    client.send(adt("A04", f"AQ-1^^^NIST2010&{NIST1}&ISO", "F1"))
    client.send(adt("A04", f"AQ-2^^^IHE2010&{IHE}&ISO", "F2"))
    assert Hl7.of(client.send(q23(f"AQ-1^^^NIST2010&{NIST1}&ISO", "Q1"))).qak2 == "OK"
    assert Hl7.of(client.send(q23(f"NOPE^^^NIST2010&{NIST1}&ISO", "Q2"))).qak2 == "AE"
    ok, unknown = events(rt, "ITI-9")
    assert (ok.action, ok.outcome, ok.actor) == ("E", 0, "PIXC|TEST")
    assert ok.patient_ids == [f"AQ-1^^^&{NIST1}&ISO", f"AQ-2^^^&{IHE}&ISO"]
    assert (ok.query or "").startswith("QPD|IHE PIX Query|T-Q1|")
    assert (unknown.outcome, unknown.patient_ids) == (4, [])
