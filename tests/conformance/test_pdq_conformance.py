"""Conformance: ../shared/conformance/README.md §3.14 (NIST ITI-21 PDQ) over a real MLLP socket.

P-NIST with the Connectathon patients of §3.14 preloaded into NIST2010 (built from the listed facts,
the original CSV is not public), then the iti21 files in order on one connection. Every reply is
checked against G7: RSP^K22^RSP_K21, MSH-3 = request MSH-5, QAK-1 = QPD-2, the QPD echoed, PID-3 and
PID-5 in every PID, a DSC only when more remain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from api.mllp.server import serve_in_thread
from empi import patients
from empi.commands import Address, Demographics, PersonName, RecordKey, RegisterSourceRecord
from empi.runtime import Runtime
from tests.conformance.test_hl7v2_conformance import corpus, p_nist  # noqa: F401  (fixture)
from tests.mllp.support import Client, Hl7, read_file

pytestmark = pytest.mark.conformance

# (identifier, family, given, birth date, sex, extra demographics): §3.14's facts; the rest invented.
PATIENTS = [
    ("JN-018", "NXEAL", "JERMAINO", "1961-02-11", "M", {}),
    ("BL-180", "LXEIGHTON", "BARBARA", "1958-07-23", "F", {}),
    ("SN-032", "NXEAL", "SHAQUILLO", "1972-03-06", "M", {}),
    ("RN-480", "NXEAL", "RUTH", "1949-12-01", "F", {}),
    ("DV-301", "VASXQUEZ", "DAVID", "1983-05-17", "M", {"account_number": "1007240"}),
    ("KM-375", "MARXCHANT", "KATHRINE", "1966-09-30", "F",
     {"addresses": [Address(line1="4670 Raver Croft Drive", city="HAMPTON", province="TN", postal_code="37658")]}),
    ("GB-481", "BXRACK", "GERALD", "1990-01-04", "M", {}),
]


def preload(rt: Runtime) -> None:
    with rt.write() as session:
        for ident, family, given, dob, sex, extra in PATIENTS:
            demo = Demographics(names=[PersonName(family=family, given=given)], birth_date=dob, sex=sex, **extra)
            patients.register(session, RegisterSourceRecord(key=RecordKey(ident, "NIST2010"), demographics=demo,
                                                            source="NIST_SENDER|NIST"), rt=rt)


@pytest.fixture
def pdq(make_runtime: Callable[..., Runtime], corpus: Path) -> Iterator[Callable[[str], Hl7]]:  # noqa: F811
    rt = make_runtime(p_nist())
    preload(rt)
    handle = serve_in_thread(rt)
    client = Client(handle.port)

    def send(name: str) -> Hl7:
        request = read_file(corpus, name)
        reply = Hl7.of(client.send(request))
        check_g7(Hl7.of(request), reply)
        return reply

    yield send
    client.assert_nothing_more()
    client.close()
    handle.stop()


def check_g7(req: Hl7, rep: Hl7) -> None:
    assert rep.get("MSH", 9) == "RSP^K22^RSP_K21", rep.raw
    assert rep.get("MSH", 12) == "2.5"
    assert rep.get("MSH", 3) == req.get("MSH", 5).split("^")[0]
    assert rep.get("MSA", 2) == req.get("MSH", 10)
    assert rep.get("QAK", 1) == req.get("QPD", 2)
    assert rep.segment_text("QPD") == req.segment_text("QPD")
    names = rep.names
    assert names[:2] == ["MSH", "MSA"]
    assert names[names.index("QAK") + 1] == "QPD"
    for pid in rep.all("PID"):
        assert pid[3] and pid[5]
        for cx in pid[3].split("~"):
            ns, uid, typ = cx.split("^")[3].split("&")
            assert ns and uid and typ == "ISO", cx
    assert ("DSC" in names) == (rep.get("QAK", 6) not in ("", "0"))


def people(rep: Hl7) -> list[tuple[str, str]]:
    return [tuple(pid[5].split("~")[0].split("^")[:2]) for pid in rep.all("PID")]  # type: ignore[misc]


def test_3_14_pdq(pdq: Callable[[str], Hl7]) -> None:
    r = pdq("iti21-qbp-q22-nist-pdq1-s1-pid3-only.hl7")
    assert (r.msa1, r.qak2) == ("AA", "OK")
    assert ("LXEIGHTON", "BARBARA") in people(r)

    r = pdq("iti21-qbp-q22-nist-pdq1-s2-family-given.hl7")
    assert (r.msa1, r.qak2) == ("AA", "OK")
    assert ("NXEAL", "JERMAINO") in people(r)

    r = pdq("iti21-qbp-q22-nist-pdq1-s3-family-dob.hl7")
    assert (r.msa1, r.qak2) == ("AA", "OK")
    assert people(r) == [("NXEAL", "SHAQUILLO")]
    assert r.get("PID", 7) == "19720306"

    r = pdq("iti21-qbp-q22-nist-pdq1-s4-family-sex-qpd8-namespace.hl7")
    assert (r.msa1, r.qak2) == ("AA", "OK")
    assert people(r) == [("NXEAL", "RUTH")]
    assert all(cx.split("^")[3].startswith("NIST2010&") for pid in r.all("PID") for cx in pid[3].split("~"))

    r = pdq("iti21-qbp-q22-nist-pdq1-s5-address.hl7")
    assert (r.msa1, r.qak2) == ("AA", "OK")
    assert people(r) == [("MARXCHANT", "KATHRINE")]
    assert r.get("PID", 11).startswith("4670 Raver Croft Drive^^HAMPTON^TN^37658")

    r = pdq("iti21-qbp-q22-nist-pdq1-s6-account-number.hl7")
    assert (r.msa1, r.qak2) == ("AA", "OK")
    assert people(r) == [("VASXQUEZ", "DAVID")]
    assert r.get("PID", 18) == "1007240"

    r = pdq("iti21-qbp-q22-nist-pdq2-s1-name-qpd8.hl7")
    assert (r.msa1, r.qak2) == ("AA", "OK")
    assert people(r) == [("BXRACK", "GERALD")]
    assert r.pid3() == ["GB-481@NIST2010"]

    r = pdq("iti21-qbp-q22-nist-pdq3-s1-qpd8-unknown-domain.hl7")
    assert (r.msa1, r.qak2) == ("AE", "AE")
    assert [(e[0], e[1]) for e in r.errors()] == [("QPD^1^8^1", "204")]
    assert "PID" not in r.names
