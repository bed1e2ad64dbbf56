"""ITI-21 over a real MLLP socket: wildcards, domain filter, continuation, cancel, approximate mode, audit."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from api.mllp.server import serve_in_thread
from empi import patients
from empi.commands import Address, Demographics, PersonName, RecordKey, RegisterSourceRecord
from empi.models import AuditEvent
from empi.runtime import Runtime
from tests.mllp.support import Client, Hl7

NIST1 = "2.16.840.1.113883.3.72.5.9.1"


def register(rt: Runtime, ident: str, domain: str, family: str, given: str, dob: str, sex: str = "F",
             **extra: object) -> None:
    demo = Demographics(names=[PersonName(family=family, given=given)], birth_date=dob, sex=sex,
                        addresses=[Address(line1="7 Larkspur Way", city="Norbury", province="ON",
                                           postal_code="K0K 1A0")], **extra)  # type: ignore[arg-type]
    with rt.write() as s:
        patients.register(s, RegisterSourceRecord(key=RecordKey(ident, domain), demographics=demo, source="T"), rt=rt)


def q22(qpd3: str, *, tag: str = "Q1", qpd8: str = "", rcp2: str = "", dsc: str = "", ctrl: str = "C1",
        qpd4: str = "", qpd5: str = "") -> str:
    segs = [f"MSH|^~\\&|PDC|TEST|EMPI|EMPI|20260101120000||QBP^Q22^QBP_Q21|{ctrl}|P|2.5",
            f"QPD|IHE PDQ Query|{tag}|{qpd3}|{qpd4}|{qpd5}|||{qpd8}", f"RCP|I|{rcp2}"]
    if dsc:
        segs.append(f"DSC|{dsc}|I")
    return "\r".join(segs)


@pytest.fixture
def world(make_runtime: Callable[..., Runtime]) -> Iterator[tuple[Runtime, Client]]:
    rt = make_runtime()
    # five distinct Quennells (different given names and birth dates), one linked pair across domains
    for i, given in enumerate(["ADA", "BRYN", "CORA", "DELPH", "EMRYS"]):
        register(rt, f"QN-{i}", "NIST2010", "QUENNELL", given, f"19{60 + i}-0{i + 1}-1{i}")
    register(rt, "QN-0B", "IHE2010", "QUENNELL", "ADA", "1960-01-10")
    register(rt, "ZX-1", "HOSPA", "ZOLLERBY", "WREN", "1977-07-07", account_number="AC-77")
    handle = serve_in_thread(rt)
    client = Client(handle.port)
    yield rt, client
    client.close()
    handle.stop()


def given_names(r: Hl7) -> list[str]:
    return [pid[5].split("^")[1] for pid in r.all("PID")]


class TestSearch:
    def test_a_trailing_wildcard_matches_name_prefixes(self, world: tuple[Runtime, Client]) -> None:
        _, c = world
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUEN*")))
        assert (r.msa1, r.qak2) == ("AA", "OK")
        assert sorted(given_names(r)) == ["ADA", "BRYN", "CORA", "DELPH", "EMRYS"]  # one group per person
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUEN")))
        assert (r.msa1, r.qak2) == ("AA", "NF") and "PID" not in r.names

    def test_one_group_per_person_with_every_domain_unless_qpd8_narrows(self, world: tuple[Runtime, Client]) -> None:
        _, c = world
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUENNELL~@PID.5.2^ADA")))
        assert r.pid3() == ["QN-0B@IHE2010", "QN-0@NIST2010"]
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUENNELL~@PID.5.2^ADA", qpd8=f"^^^&{NIST1}&ISO")))
        assert r.pid3() == ["QN-0@NIST2010"]
        # a recognised domain in which the person has no identifier: the group is left out
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUENNELL~@PID.5.2^ADA", qpd8="^^^HOSPB")))
        assert (r.msa1, r.qak2) == ("AA", "NF")

    def test_every_unknown_qpd8_domain_gets_its_own_err(self, world: tuple[Runtime, Client]) -> None:
        _, c = world
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUENNELL", qpd8="^^^NOPE~^^^NIST2010~^^^&1.2.3&ISO")))
        assert (r.msa1, r.qak2) == ("AE", "AE")
        assert [(e[0], e[1]) for e in r.errors()] == [("QPD^1^8^1", "204"), ("QPD^1^8^3", "204")]

    def test_identifier_with_domain_and_account_number(self, world: tuple[Runtime, Client]) -> None:
        _, c = world
        r = Hl7.of(c.send(q22("@PID.3.1^QN-0B~@PID.3.4.1^IHE2010")))
        assert r.pid3() == ["QN-0B@IHE2010", "QN-0@NIST2010"]
        r = Hl7.of(c.send(q22("@PID.3.1^QN-0B~@PID.3.4^NIST2010")))
        assert r.qak2 == "NF"
        r = Hl7.of(c.send(q22("@PID.3.1^QN-0B~@PID.3.4.1^ELSEWHERE")))
        assert r.msa1 == "AE" and r.errors()[0][:2] == ("QPD^1^3^2^1", "204")
        r = Hl7.of(c.send(q22("@PID.18^AC-77")))
        assert r.pid3() == ["ZX-1@HOSPA"] and r.get("PID", 18) == "AC-77"

    def test_bad_criteria_are_answered_with_ae(self, world: tuple[Runtime, Client]) -> None:
        _, c = world
        r = Hl7.of(c.send(q22("@PID.22^X")))
        assert r.msa1 == "AE" and r.errors()[0][:2] == ("QPD^1^3^1^1", "103")
        r = Hl7.of(c.send(q22("@PID.7^19991399")))
        assert r.msa1 == "AE" and r.errors()[0][1] == "102"
        r = Hl7.of(c.send(q22("")))
        assert r.msa1 == "AE" and r.errors()[0][1] == "101"
        assert r.get("MSH", 9) == "RSP^K22^RSP_K21"


class TestContinuation:
    def test_increments_follow_the_pointer_until_none_remain(self, world: tuple[Runtime, Client]) -> None:
        _, c = world
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUENNELL", rcp2="2^RD", ctrl="C1")))
        seen = given_names(r)
        assert len(seen) == 2 and r.get("QAK", 4) == "5" and r.get("QAK", 6) == "3"
        pointer = r.get("DSC", 1)
        assert pointer and r.get("DSC", 2) == "I" and r.names[-1] == "DSC"
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUENNELL", rcp2="2^RD", dsc=pointer, ctrl="C2")))
        seen += given_names(r)
        second = r.get("DSC", 1)
        assert second and second != pointer
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUENNELL", rcp2="2^RD", dsc=second, ctrl="C3")))
        seen += given_names(r)
        assert "DSC" not in r.names and r.get("QAK", 6) == "0"
        assert sorted(seen) == ["ADA", "BRYN", "CORA", "DELPH", "EMRYS"]
        # a used pointer is gone
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUENNELL", rcp2="2^RD", dsc=pointer, ctrl="C4")))
        assert r.msa1 == "AE" and r.errors()[0][:2] == ("DSC^1^1", "204")

    def test_qcn_j01_cancels_the_query(self, world: tuple[Runtime, Client]) -> None:
        _, c = world
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUENNELL", rcp2="1^RD", tag="TAGX")))
        pointer = r.get("DSC", 1)
        ack = Hl7.of(c.send("MSH|^~\\&|PDC|TEST|EMPI|EMPI|20260101120000||QCN^J01^QCN_J01|K1|P|2.5\r"
                            "QID|TAGX|IHE PDQ Query"))
        assert ack.get("MSH", 9).startswith("ACK^J01") and ack.msa1 == "AA"
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUENNELL", rcp2="1^RD", tag="TAGX", dsc=pointer, ctrl="C9")))
        assert r.msa1 == "AE"


class TestApproximate:
    def test_a_misspelt_name_is_found_and_ranked_by_the_scorecard(self, world: tuple[Runtime, Client]) -> None:
        rt, c = world
        exact = Hl7.of(c.send(q22("@PID.5.1.1^QUENELL~@PID.5.2^CORA~@PID.7^19620312")))
        assert exact.qak2 == "NF"
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUENELL~@PID.5.2^CORA~@PID.7^19620312~@PID.8^F", qpd5="APPROXIMATE")))
        assert (r.msa1, r.qak2) == ("AA", "OK")
        assert given_names(r)[0] == "CORA"
        scores = [float(q[1]) for q in r.all("QRI")]
        assert len(scores) == len(r.all("PID")) and scores == sorted(scores, reverse=True)
        assert r.all("QRI")[0][3] == f"{rt.card.id}^{rt.card.version}"
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUENELL~@PID.5.2^CORA~@PID.7^19620312", qpd4="999", qpd5="APPROXIMATE")))
        assert r.qak2 == "NF"
        r = Hl7.of(c.send(q22("@PID.5.1.1^QUENELL", qpd5="SOUNDEX")))
        assert r.msa1 == "AE" and r.errors()[0][:2] == ("QPD^1^5^1^1", "103")


def test_every_query_is_audited(world: tuple[Runtime, Client]) -> None:
    rt, c = world
    c.send(q22("@PID.5.1.1^QUENNELL~@PID.5.2^BRYN", ctrl="AUD1"))
    c.send(q22("@PID.5.1.1^QUENNELL", qpd8="^^^NOPE", ctrl="AUD2"))
    with rt.read() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.event_type == "ITI-21").order_by(AuditEvent.id)))
    assert [(e.action, e.outcome, e.detail["control_id"]) for e in events] == [("E", 0, "AUD1"), ("E", 4, "AUD2")]
    assert events[0].patient_ids == [f"QN-1^^^&{NIST1}&ISO"]
    assert events[0].actor == "PDC|TEST" and "@PID.5.2^BRYN" in (events[0].query or "")
