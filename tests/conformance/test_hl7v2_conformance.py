"""Conformance runner: plays ../shared/conformance/README.md §3.1-3.13 against a running listener.

Each scenario is one test: a fresh store with the scenario's profile (P-NIST or P-MESA, built with
``parse_settings``), one MLLP connection over a real socket, the steps in the listed order, and the
generic checks G1-G12 on every reply. Runs on SQLite and, when configured, PostgreSQL. The corpus is
read from ../shared/conformance; without it the tests skip, or fail when EMPI_REQUIRE_CONFORMANCE=1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from api.mllp import handlers
from api.mllp.server import ServerHandle, serve_in_thread
from empi.config import Settings, parse_settings
from empi.runtime import Runtime
from tests.conftest import CONFORMANCE, require
from tests.mllp.support import Checker, Client, Hl7, count_records, read_file, stored

pytestmark = pytest.mark.conformance

NIST_DOMAINS = {
    "NIST2010": "2.16.840.1.113883.3.72.5.9.1",
    "NIST2010-2": "2.16.840.1.113883.3.72.5.9.2",
    "NIST2010-3": "2.16.840.1.113883.3.72.5.9.3",
    "IHE2010": "1.3.6.1.4.1.21367.2010.1.1",
}
MESA_DOMAINS = {
    "HIMSS2005": "1.3.6.1.4.1.21367.2005.1.1",
    "XREF2005": "1.3.6.1.4.1.21367.2005.1.2",
    "HZLN": "2.16.840.1.113883.3.37.4.1.1.2.411.1",
    "PKLN": "2.16.840.1.113883.3.37.4.1.1.2.511.1",
    "MPI": "2.16.840.1.113883.3.37.4.1.1.2.1.1",
    "KHKN": "2.16.840.1.113883.3.37.4.1.1.2.611.1",
    "IHENA": "1.3.6.1.4.1.21367.2010.1.2.300",
}
MESA_SOURCES = ["MESA_ADT", "MESA_PD_SUPPLIER", "ICW_MPI|ICW", "TEST_HARNESS|TEST"]
REGIONAL = {"namespace": "EMPI", "universal_id": "2.25.271828182845904523536", "universal_id_type": "ISO",
            "publish_in_pix": False}


def p_nist() -> Settings:
    return parse_settings({"service": {"application": "EMPI", "facility": "EMPI"}, "regional": REGIONAL,
                           "domains": [{"namespace": ns, "universal_id": uid, "sources": ["NIST_SENDER|NIST"]}
                                       for ns, uid in NIST_DOMAINS.items()]}, "P-NIST")


def p_mesa() -> Settings:
    # SAP-ISH|HZL feeds HZLN only, so a missing CX-4 from it is filled with HZLN.
    return parse_settings({"service": {"application": "EMPI", "facility": "EMPI"}, "regional": REGIONAL,
                           "domains": [{"namespace": ns, "universal_id": uid,
                                        "sources": MESA_SOURCES + (["SAP-ISH|HZL"] if ns == "HZLN" else [])}
                                       for ns, uid in MESA_DOMAINS.items()]}, "P-MESA")


@pytest.fixture(scope="module")
def corpus() -> Path:
    directory = CONFORMANCE / "hl7v2"
    if not directory.is_dir():
        require("EMPI_REQUIRE_CONFORMANCE", f"conformance corpus not found at {directory}")
    return directory


class Scenario:
    """One scenario: its runtime, a listener, one client connection and the generic checker."""

    def __init__(self, rt: Runtime, corpus: Path, domains: dict[str, str]) -> None:
        self.rt = rt
        self.corpus = corpus
        self.handle: ServerHandle = serve_in_thread(rt)
        self.client = Client(self.handle.port)
        self.checker = Checker({ns: (uid, "ISO") for ns, uid in domains.items()})

    def send(self, name: str, data: bytes | None = None) -> Hl7:
        message = data if data is not None else read_file(self.corpus, name)
        reply = self.client.send(message)
        return self.checker.check(message, reply)

    def message(self, name: str) -> bytes:
        return read_file(self.corpus, name)

    def close(self) -> None:
        self.client.assert_nothing_more()
        self.client.close()
        self.handle.stop()


@pytest.fixture
def scenario(make_runtime: Callable[..., Runtime], corpus: Path) -> Iterator[Callable[[str], Scenario]]:
    opened: list[Scenario] = []

    def start(profile: str) -> Scenario:
        settings = p_nist() if profile == "P-NIST" else p_mesa()
        domains = NIST_DOMAINS if profile == "P-NIST" else MESA_DOMAINS
        s = Scenario(make_runtime(settings), corpus, domains)
        opened.append(s)
        return s

    yield start
    for s in opened:
        s.close()


def aa(r: Hl7, qak: str | None = None) -> None:
    assert r.msa1 == "AA", r.raw
    if qak is not None:
        assert r.qak2 == qak, r.raw


def ae(r: Hl7, erl: str | None = None, code: str = "204", *, allow_ar: bool = False, qak: bool = False) -> None:
    assert r.msa1 in (("AE", "AR") if allow_ar else ("AE",)), r.raw
    errors = r.errors()
    assert errors, r.raw
    if erl is not None:
        assert (erl, code) in [(e[0], e[1]) for e in errors], r.raw
    if qak:
        assert r.qak2 == "AE", r.raw
        assert "PID" not in r.names, "no PID on an error"


# --------------------------------------------------------------------------------------------------


def test_3_1_data_found(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-NIST")
    for f in ("iti8-adt-a04-nist-q1-s1-pix10501-nist2010.hl7", "iti8-adt-a04-nist-q1-s2-xyz10501-nist2010-2.hl7",
              "iti8-adt-a04-nist-q1-s3-abc10501-nist2010-3.hl7"):
        aa(s.send(f))
    r = s.send("iti9-qbp-q23-nist-q1-s4-qpd4-one-domain.hl7")
    aa(r, "OK")
    assert r.get("QAK", 1) == "QRY1248968460880"
    assert r.get("PID", 3) == "XYZ10501^^^NIST2010-2&2.16.840.1.113883.3.72.5.9.2&ISO"
    r = s.send("iti9-qbp-q23-nist-q1-s5-qpd4-two-domains.hl7")
    aa(r, "OK")
    assert sorted(r.pid3()) == ["ABC10501@NIST2010-3", "XYZ10501@NIST2010-2"]
    r = s.send("iti9-qbp-q23-nist-q1-s6-no-qpd4.hl7")
    aa(r, "OK")
    ids = r.pid3()
    assert {"XYZ10501@NIST2010-2", "ABC10501@NIST2010-3"} <= set(ids)
    assert not any(i.startswith("PIX10501@") for i in ids)


def test_3_1_concurrent_queries(scenario: Callable[[str], Scenario]) -> None:
    """G1: concurrent queries are handled, each on its own connection, each with its own answer."""
    s = scenario("P-NIST")
    for f in ("iti8-adt-a04-nist-q1-s1-pix10501-nist2010.hl7", "iti8-adt-a04-nist-q1-s2-xyz10501-nist2010-2.hl7"):
        aa(s.send(f))
    query = s.message("iti9-qbp-q23-nist-q1-s4-qpd4-one-domain.hl7")

    def ask(i: int) -> list[str]:
        with Client(s.handle.port) as c:
            out = []
            for j in range(5):
                message = query.replace(b"NIST-101101161157166", f"C{i}-{j}".encode())
                r = Hl7.of(c.send(message))
                assert r.get("MSA", 2) == f"C{i}-{j}"
                out.append(r.get("PID", 3))
            return out

    with ThreadPoolExecutor(8) as pool:
        results = [x for chunk in pool.map(ask, range(8)) for x in chunk]
    assert results == ["XYZ10501^^^NIST2010-2&2.16.840.1.113883.3.72.5.9.2&ISO"] * 40


def test_3_2_not_found(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-NIST")
    for f in ("iti8-adt-a04-nist-q2-s1-ld269-nist2010.hl7", "iti8-adt-a04-nist-q2-s2-gj789-nist2010-2.hl7",
              "iti8-adt-a04-nist-q2-s3-oj274-nist2010-3.hl7"):
        aa(s.send(f))
    for f in ("iti9-qbp-q23-nist-q2-s4-nf-msh11-D.hl7", "iti9-qbp-q23-nist-q2-s5-nf-msh11-T.hl7",
              "iti9-qbp-q23-nist-q2-s6-nf-no-qpd4.hl7"):
        r = s.send(f)
        aa(r, "NF")
        assert "PID" not in r.names


def test_3_3_unknown_patient(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-NIST")
    for f, tag in (("iti9-qbp-q23-nist-q3-s1-unknown-patient-qpd4.hl7", "QRY12434188486468"),
                   ("iti9-qbp-q23-nist-q3-s3-unknown-patient-no-qpd4.hl7", "QRY1243434596641")):
        r = s.send(f)
        ae(r, "QPD^1^3^1^1", qak=True)
        assert r.get("QAK", 1) == tag


def test_3_4_unknown_source_domain(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-NIST")
    for f in ("iti9-qbp-q23-nist-q4-s1-unknown-source-domain.hl7",
              "iti9-qbp-q23-nist-q4-s3-unknown-source-domain-no-qpd4.hl7"):
        ae(s.send(f), "QPD^1^3^1^4", qak=True)


def test_3_5_unknown_target_domain(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-NIST")
    aa(s.send("iti8-adt-a04-nist-q5-s1-kc51958-nist2010.hl7"))
    aa(s.send("iti8-adt-a04-nist-q5-s2-kc0000145-nist2010-2.hl7"))
    ae(s.send("iti9-qbp-q23-nist-q5-s3-unknown-target-domain.hl7"), "QPD^1^4^1", qak=True)
    ae(s.send("iti9-qbp-q23-nist-q5-s4-unknown-target-domain-rep2.hl7"), "QPD^1^4^2", qak=True)
    # the two records were linked (same person): a query to NIST2010-2 finds KC0000145
    query = s.message("iti9-qbp-q23-nist-q5-s4-unknown-target-domain-rep2.hl7").replace(
        b"~^^^UNKNOWNDOMAIN&2.16.840.1.113883.3.72.5.9.99&ISO", b"")
    r = s.send("", data=query)
    aa(r, "OK")
    assert r.pid3() == ["KC0000145@NIST2010-2"]


def test_3_6_several_ids_in_one_domain(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-NIST")
    for f in ("iti8-adt-a04-nist-q6-s1-mt100001-nist2010.hl7", "iti8-adt-a04-nist-q6-s2-mt100002-nist2010.hl7",
              "iti8-adt-a04-nist-q6-s3-mt100003-nist2010-2.hl7"):
        aa(s.send(f))
    r = s.send("iti9-qbp-q23-nist-q6-s4-multiple-ids-one-domain.hl7")
    aa(r, "OK")
    ids = r.pid3()
    assert ids and set(ids) <= {"MT-100-001@NIST2010", "MT-100-002@NIST2010"}
    assert "MT-100-003@NIST2010-2" not in ids


def test_3_7_merge(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-NIST")
    for f in ("iti8-adt-a04-nist-mrg-s1-mw10001-nist2010.hl7", "iti8-adt-a04-nist-mrg-s2-mw20002-ihe2010.hl7",
              "iti8-adt-a04-nist-mrg-s3-ml30003-nist2010.hl7"):
        aa(s.send(f))
    # step 2 linked MW-20002 with MW-10001 (identical demographics)
    probe = s.message("iti9-qbp-q23-nist-mrg-s5-query-after-merge.hl7")
    r = s.send("", data=probe.replace(b"NIST-101101161123790", b"PROBE-1"))
    aa(r, "OK")
    assert r.pid3() == ["MW-10001@NIST2010"]
    r = s.send("iti8-adt-a40-nist-mrg-s4-merge-mw10001-into-ml30003.hl7")
    aa(r)
    assert r.get("MSH", 9) == "ACK^A40^ACK"
    r = s.send("iti9-qbp-q23-nist-mrg-s5-query-after-merge.hl7")
    aa(r, "OK")
    assert "ML-30003@NIST2010" in r.pid3()
    assert not any(i.startswith("MW-10001@") for i in r.pid3())
    # step 6 (derived): the subsumed ID is no longer known
    old = probe.replace(b"MW-20002^^^IHE2010&1.3.6.1.4.1.21367.2010.1.1&ISO",
                        b"MW-10001^^^NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO").replace(
        b"|^^^NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO", b"|^^^IHE2010&1.3.6.1.4.1.21367.2010.1.1&ISO")
    ae(s.send("", data=old.replace(b"NIST-101101161123790", b"PROBE-2")), "QPD^1^3^1^1", qak=True)


def test_3_8_update_and_link(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-NIST")
    aa(s.send("iti8-adt-a04-nist-link-s1-tt444-nist2010.hl7"))
    aa(s.send("iti8-adt-a04-nist-link-s2-tt888-ihe2010-wrong-demo.hl7"))
    aa(s.send("iti9-qbp-q23-nist-link-s3-not-linked-nf.hl7"), "NF")
    aa(s.send("iti8-adt-a08-nist-link-s4-fix-demographics.hl7"))
    r = s.send("iti9-qbp-q23-nist-link-s5-linked-ok.hl7")
    aa(r, "OK")
    assert "TT444@NIST2010" in r.pid3()


def test_3_9_feed_from_unknown_domain(scenario: Callable[[str], Scenario]) -> None:
    for f in ("iti8-adt-a01-nist-unkdom-s1-full-aa.hl7", "iti8-adt-a01-nist-unkdom-s2-namespace-only.hl7",
              "iti8-adt-a01-nist-unkdom-s3-oid-only.hl7"):
        s = scenario("P-NIST")  # each alone
        r = s.send(f)
        ae(r, "PID^1^3^1^4", allow_ar=True)
        assert r.get("ERR", 1).startswith("PID^1^3^204&"), "2.3.1 ERR-1 ELD"
        assert count_records(s.rt) == 0, "nothing stored"


def test_3_10_assigning_authority_forms(scenario: Callable[[str], Scenario]) -> None:
    for f in ("iti8-adt-a05-nist-badaa-s1-oid-without-type.hl7", "iti8-adt-a05-nist-badaa-s2-type-only.hl7"):
        s = scenario("P-NIST")
        ae(s.send(f), allow_ar=True)
        assert count_records(s.rt) == 0
    s = scenario("P-NIST")
    aa(s.send("iti8-adt-a05-nist-validaa-s1-14583058-nist2010.hl7"))
    aa(s.send("iti8-adt-a05-nist-validaa-s2-wm903793299-nist2010-2.hl7"))
    r = s.send("iti9-qbp-q23-nist-validaa-s3-qpd4-oid-only.hl7")
    aa(r, "OK")
    assert r.get("PID", 3) == "WM-9037-93299^^^NIST2010-2&2.16.840.1.113883.3.72.5.9.2&ISO"
    aa(s.send("iti8-adt-a05-nist-validaa-s4-wmusto0001-nist2010-3.hl7"))
    r = s.send("iti9-qbp-q23-nist-validaa-s5-qpd4-namespace-only.hl7")
    aa(r, "OK")
    assert r.get("PID", 3) == "WMUSTO-0001^^^NIST2010-3&2.16.840.1.113883.3.72.5.9.3&ISO"


def test_3_11_update_valid_domain(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-NIST")
    aa(s.send("iti8-adt-a04-nist-upd-s1-td14415.hl7"))
    aa(s.send("iti8-adt-a08-nist-upd-s2-sex-change.hl7"))
    aa(s.send("iti8-adt-a08-nist-upd-s3-dob-change.hl7"))
    record = stored(s.rt, "TD14415", "NIST2010")
    assert record is not None and record.sex == "F" and record.birth_date == "1988-10-28"
    aa(s.send("iti8-adt-a08-nist-upd-s4-address-change.hl7"))
    record = stored(s.rt, "TD14415", "NIST2010")
    assert record is not None
    assert record.sex == "F"
    assert record.address_line == "12934 Rogers Street"
    # README §3.11 expects DOB 19881028 afterwards, but step 4 itself carries PID-7 = 19881128, and an
    # A08 sends the full current state: the store follows the last message.
    assert record.birth_date == "1988-11-28"


def test_3_12_update_in_unknown_domain(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-NIST")
    aa(s.send("iti8-adt-a04-nist-updunk-s1-tm111025.hl7"))
    before = _snapshot(stored(s.rt, "TM111025", "NIST2010"))
    for f in ("iti8-adt-a08-nist-updunk-s2-unknown-full-aa.hl7", "iti8-adt-a08-nist-updunk-s3-unknown-namespace.hl7",
              "iti8-adt-a08-nist-updunk-s4-unknown-oid.hl7"):
        ae(s.send(f), "PID^1^3^1^4", allow_ar=True)
    assert _snapshot(stored(s.rt, "TM111025", "NIST2010")) == before
    assert count_records(s.rt) == 1


def _snapshot(record: Any) -> dict[str, Any]:
    assert record is not None
    return {k: getattr(record, k) for k in ("family_name", "given_name", "birth_date", "sex", "address_line",
                                            "city", "ssn", "status", "updated_at")}


def test_3_13_mesa(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-MESA")
    aa(s.send("iti8-adt-a04-mesa-10502-s1-pix10502-himss2005.hl7"))
    r = s.send("iti9-qbp-q23-mesa-10502-s3-unknown-patient-abc10502.hl7")
    ae(r, "QPD^1^3^1^1", qak=True)
    r = s.send("iti9-qbp-q23-mesa-10503-unknown-namespace-xxxx.hl7")
    ae(r, qak=True)
    erl = r.errors()[0][0].split("^")
    assert erl[2] == "3" and erl[4] == "4" and r.errors()[0][1] == "204"


def test_3_13_mesa_pdq_wildcard(scenario: Callable[[str], Scenario]) -> None:
    """The ITI-21 step of §3.13 needs the PDQ handler (QBP^Q22), which belongs to the PDQ issue."""
    if ("QBP", "Q22") not in handlers.HANDLERS:
        pytest.skip("QBP^Q22 (ITI-21 PDQ) is not registered in api.mllp.handlers yet")
    s = scenario("P-MESA")
    r = s.send("iti21-qbp-q22-mesa-11315-wildcard-empty-msh7.hl7")
    assert r.get("MSH", 9).startswith("RSP^K22")
    if r.msa1 == "AA":
        assert r.qak2 in ("NF", "OK")
    else:
        ae(r, "MSH^1^7", "101")


# -------------------------------------------------------------------------------------------------- G9-G12


def test_g9_unsupported_type_and_trigger(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-NIST")
    feed = s.message("iti8-adt-a04-nist-q1-s1-pix10501-nist2010.hl7")
    r = s.send("", data=feed.replace(b"|ADT^A04^ADT_A01|", b"|ZZZ^A04^ADT_A01|"))
    assert r.msa1 == "AR" and r.errors()[0][:2] == ("MSH^1^9^1^1", "200")
    assert r.get("ERR", 3) == "200^Unsupported message type^HL70357"
    r = s.send("", data=feed.replace(b"|ADT^A04^ADT_A01|", b"|ADT^A99^ADT_A01|"))
    assert r.msa1 == "AR" and r.errors()[0][:2] == ("MSH^1^9^1^2", "201")
    assert r.get("ERR", 3) == "201^Unsupported trigger event^HL70357"
    assert count_records(s.rt) == 0


def test_g10_escapes_round_trip(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-NIST")
    feed = s.message("iti8-adt-a04-nist-q1-s1-pix10501-nist2010.hl7")
    aa(s.send("", data=feed.replace(b"PIX10501^", b"PIX\\F\\1\\S\\2\\T\\3\\R\\4\\E\\5^").replace(
        b"ALPHA^ALAN", b"O\\S\\ALPHA^ALAN")))
    record = stored(s.rt, "PIX|1^2&3~4\\5", "NIST2010")
    assert record is not None and record.family_name == "O^ALPHA"
    aa(s.send("", data=s.message("iti8-adt-a04-nist-q1-s2-xyz10501-nist2010-2.hl7")))
    query = s.message("iti9-qbp-q23-nist-q1-s4-qpd4-one-domain.hl7").replace(
        b"PIX10501^", b"PIX\\F\\1\\S\\2\\T\\3\\R\\4\\E\\5^").replace(
        b"^^^NIST2010-2&2.16.840.1.113883.3.72.5.9.2&ISO", b"^^^NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO")
    # the record key itself (escaped) is excluded; query from the other side instead
    q2 = s.message("iti9-qbp-q23-nist-q1-s4-qpd4-one-domain.hl7").replace(
        b"PIX10501^^^NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO", b"XYZ10501^^^NIST2010-2&2.16.840.1.113883.3.72.5.9.2&ISO"
    ).replace(b"|^^^NIST2010-2&2.16.840.1.113883.3.72.5.9.2&ISO", b"|^^^NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO")
    r = s.send("", data=q2)
    aa(r, "OK")
    assert r.get("PID", 3) == "PIX\\F\\1\\S\\2\\T\\3\\R\\4\\E\\5^^^NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO"
    r = s.send("", data=query)  # QPD with escapes is echoed byte for byte (checked by the Checker)
    assert r.segment_text("QPD") is not None and b"PIX\\F\\1" in r.raw.encode()


def test_g11_explicit_null_deletes_absent_keeps(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-NIST")
    feed = s.message("iti8-adt-a04-nist-q1-s1-pix10501-nist2010.hl7")
    aa(s.send("", data=feed))
    update = feed.replace(b"|ADT^A04^ADT_A01|", b"|ADT^A08^ADT_A01|").replace(b"NIST-101101161134113", b"U1")
    # PID-8 "" deletes the sex; PID-11 and PID-19 left empty keep the address and SSN
    pid = (b"PID|||PIX10501^^^NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO||ALPHA^ALAN^^^^^L|HOUSE^^^^^^L|19690908"
           b"|\"\"")
    lines = [pid if line.startswith(b"PID") else line for line in update.split(b"\r")]
    aa(s.send("", data=b"\r".join(lines)))
    record = stored(s.rt, "PIX10501", "NIST2010")
    assert record is not None
    assert record.sex is None
    assert record.address_line == "338 Apple Lane"
    assert record.ssn == "357-56-4113"


def test_g12_extra_segments_tolerated(scenario: Callable[[str], Scenario]) -> None:
    s = scenario("P-NIST")
    feed = s.message("iti8-adt-a04-nist-q1-s1-pix10501-nist2010.hl7")
    msh, rest = feed.split(b"\r", 1)
    extra = (msh + b"\rSFT|Vendor^L|1.0|EHR|b1\r" + rest.replace(b"\rPV1", b"\rPD1|||CLINIC^^1\rNK1|1|DOE^JO|SPO\rPV1")
             + b"\rZPI|custom|value")
    aa(s.send("", data=extra))
    assert stored(s.rt, "PIX10501", "NIST2010") is not None


def test_robustness_newline_separators(scenario: Callable[[str], Scenario]) -> None:
    """README §0.2 robustness pass: the raw file with \\n (or \\r\\n) separators is accepted too."""
    s = scenario("P-NIST")
    raw = (s.corpus / "iti8-adt-a04-nist-q1-s1-pix10501-nist2010.hl7").read_bytes()
    aa(Hl7.of(s.client.send(raw.replace(b"\r", b"\n") + b"\n")))
    aa(Hl7.of(s.client.send(raw.replace(b"\r", b"\r\n").replace(b"NIST-101101161134113", b"X2"))))
    assert stored(s.rt, "PIX10501", "NIST2010") is not None


def test_settings_profiles_are_valid() -> None:
    assert {d.namespace for d in p_nist().domains} == set(NIST_DOMAINS)
    mesa = p_mesa()
    assert [d.namespace for d in mesa.registry.for_source("SAP-ISH", "HZL")] == ["HZLN"]
    assert replace(mesa, publish_regional_id=False).publish_regional_id is False
