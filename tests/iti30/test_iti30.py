"""ITI-30 over a real MLLP socket: A28, A31, A47, A24 link, A37 unlink (manual decisions), audit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from api.mllp.server import serve_in_thread
from empi.commands import RecordKey
from empi.errors import UnknownIdentifier
from empi.models import AuditEvent, Link
from empi.records import get_record
from empi.runtime import Runtime
from empi.xref import cross_references
from tests.mllp.support import Client, Hl7

NIST1 = "NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO"
IHE = "IHE2010&1.3.6.1.4.1.21367.2010.1.1&ISO"
QUINCE = "QUINCEWORTH^ODALYS^^^^^L||19710409|F|||7 Larkspur Way^^Norbury^ON^K0K 1A0"
TARRANT = "TARRANTINE^BASTIEN^^^^^L||19500102|M|||99 Oxbow Rd^^Eastholm^ON^K0K 9Z9"


def msg(trigger: str, structure: str, *segments: str, ctrl: str = "M1") -> str:
    head = f"MSH|^~\\&|HIS|HOSPA|EMPI|EMPI|20260101120000||ADT^{trigger}^{structure}|{ctrl}|P|2.5"
    return "\r".join([head, "EVN||20260101120000", *segments])


def pid(ident: str, authority: str, demo: str = QUINCE) -> str:
    return f"PID|||{ident}^^^{authority}^PI||{demo}"


def a28(ident: str, authority: str, demo: str = QUINCE, ctrl: str = "M1") -> str:
    return msg("A28", "ADT_A05", pid(ident, authority, demo), "PV1||N", ctrl=ctrl)


@pytest.fixture
def mllp(rt: Runtime) -> Iterator[tuple[Runtime, Client]]:
    handle = serve_in_thread(rt)
    client = Client(handle.port)
    yield rt, client
    client.close()
    handle.stop()


def send(c: Client, text: str) -> Hl7:
    return Hl7.of(c.send(text))


def xref(rt: Runtime, ident: str, ns: str) -> set[str]:
    with rt.read() as s:
        return {f"{x.identifier}@{x.domain}" for x in cross_references(s, RecordKey(ident, ns), rt=rt).identifiers}


def method(rt: Runtime, ident: str, ns: str) -> str:
    with rt.read() as s:
        rec = get_record(s, RecordKey(ident, ns))
        assert rec is not None
        link = s.get(Link, rec.id)
        assert link is not None
        return link.method


class TestFeed:
    def test_a28_creates_and_a31_updates_with_v25_acks(self, mllp: tuple[Runtime, Client]) -> None:
        rt, c = mllp
        r = send(c, a28("P-1", NIST1))
        assert (r.msa1, r.get("MSH", 9), r.get("MSH", 12), r.get("MSA", 2)) == ("AA", "ACK^A28^ACK", "2.5", "M1")
        r = send(c, msg("A31", "ADT_A05", pid("P-1", NIST1, QUINCE.replace("19710409", "19710410")), "PV1||N",
                        ctrl="M2"))
        assert (r.msa1, r.get("MSH", 9)) == ("AA", "ACK^A31^ACK")
        with rt.read() as s:
            rec = get_record(s, RecordKey("P-1", "NIST2010"))
            assert rec is not None and rec.birth_date == "1971-04-10"
            events = s.scalars(select(AuditEvent).where(AuditEvent.event_type == "ITI-30")).all()
        assert [(e.action, e.outcome) for e in events] == [("C", 0), ("U", 0)]
        assert events[0].patient_ids == ["P-1^^^&2.16.840.1.113883.3.72.5.9.1&ISO"] and events[0].actor == "HIS|HOSPA"

    def test_unknown_domain_is_rejected_and_audited(self, mllp: tuple[Runtime, Client]) -> None:
        rt, c = mllp
        r = send(c, a28("P-9", "NOWHERE&1.2.3.4&ISO"))
        assert r.msa1 == "AE" and r.errors()[0][:2] == ("PID^1^3^1^4", "204")
        with rt.read() as s:
            (event,) = s.scalars(select(AuditEvent).where(AuditEvent.event_type == "ITI-30")).all()
        assert event.outcome == 8


class TestChangeIdentifier:
    def test_a47_renames_the_record(self, mllp: tuple[Runtime, Client]) -> None:
        rt, c = mllp
        send(c, a28("OLD-1", NIST1))
        send(c, a28("X-2", IHE, ctrl="M2"))
        assert xref(rt, "X-2", "IHE2010") == {"OLD-1@NIST2010"}
        r = send(c, msg("A47", "ADT_A30", pid("NEW-1", NIST1), f"MRG|OLD-1^^^{NIST1}", ctrl="M3"))
        assert (r.msa1, r.get("MSH", 9)) == ("AA", "ACK^A47^ACK")
        assert xref(rt, "X-2", "IHE2010") == {"NEW-1@NIST2010"}
        with rt.read() as s, pytest.raises(UnknownIdentifier):
            cross_references(s, RecordKey("OLD-1", "NIST2010"), rt=rt)

    def test_a47_to_an_identifier_in_use_is_refused(self, mllp: tuple[Runtime, Client]) -> None:
        rt, c = mllp
        send(c, a28("OLD-1", NIST1))
        send(c, a28("NEW-1", NIST1, TARRANT, ctrl="M2"))
        r = send(c, msg("A47", "ADT_A30", pid("NEW-1", NIST1), f"MRG|OLD-1^^^{NIST1}", ctrl="M3"))
        assert r.msa1 == "AE" and r.errors()[0][1] == "205"
        assert xref(rt, "OLD-1", "NIST2010") == set()


class TestLinkUnlink:
    def test_a24_links_different_looking_records_and_matching_keeps_the_link(
            self, mllp: tuple[Runtime, Client]) -> None:
        rt, c = mllp
        send(c, a28("L-1", NIST1))
        send(c, a28("L-2", IHE, TARRANT, ctrl="M2"))
        assert xref(rt, "L-1", "NIST2010") == set()
        r = send(c, msg("A24", "ADT_A24", pid("L-1", NIST1), "PV1||N", pid("L-2", IHE, TARRANT), ctrl="M3"))
        assert (r.msa1, r.get("MSH", 9)) == ("AA", "ACK^A24^ACK")
        assert xref(rt, "L-1", "NIST2010") == {"L-2@IHE2010"}
        assert method(rt, "L-2", "IHE2010") == "manual"
        send(c, msg("A31", "ADT_A05", pid("L-2", IHE, TARRANT), "PV1||N", ctrl="M4"))  # re-matching
        assert xref(rt, "L-1", "NIST2010") == {"L-2@IHE2010"}

    def test_a37_unlinks_and_matching_does_not_relink(self, mllp: tuple[Runtime, Client]) -> None:
        rt, c = mllp
        send(c, a28("U-1", NIST1))
        send(c, a28("U-2", IHE, ctrl="M2"))
        assert xref(rt, "U-1", "NIST2010") == {"U-2@IHE2010"}
        r = send(c, msg("A37", "ADT_A37", pid("U-1", NIST1), pid("U-2", IHE), ctrl="M3"))
        assert (r.msa1, r.get("MSH", 9)) == ("AA", "ACK^A37^ACK")
        assert xref(rt, "U-1", "NIST2010") == set()
        assert method(rt, "U-2", "IHE2010") == "manual" and method(rt, "U-1", "NIST2010") == "manual"
        send(c, msg("A31", "ADT_A05", pid("U-2", IHE), "PV1||N", ctrl="M4"))
        send(c, a28("U-3", "HOSPB", ctrl="M5"))  # a newcomer matching both joins one of them only
        assert "U-2@IHE2010" not in xref(rt, "U-1", "NIST2010")
        # a later A24 links them again
        send(c, msg("A24", "ADT_A24", pid("U-1", NIST1), pid("U-2", IHE), ctrl="M6"))
        assert "U-2@IHE2010" in xref(rt, "U-1", "NIST2010")

    def test_an_unknown_second_patient_is_located_in_the_second_pid(self, mllp: tuple[Runtime, Client]) -> None:
        _, c = mllp
        send(c, a28("K-1", NIST1))
        r = send(c, msg("A24", "ADT_A24", pid("K-1", NIST1), pid("NOPE-2", IHE), ctrl="M2"))
        assert r.msa1 == "AE" and r.errors()[0][:2] == ("PID^2^3^1^1", "204")
        r = send(c, msg("A24", "ADT_A24", pid("K-1", NIST1), pid("K-2", "ELSEWHERE"), ctrl="M3"))
        assert r.msa1 == "AE" and r.errors()[0][:2] == ("PID^2^3^1^4", "204")
        r = send(c, msg("A37", "ADT_A37", pid("K-1", NIST1), ctrl="M4"))
        assert r.msa1 == "AE" and r.errors()[0][1] == "101"
