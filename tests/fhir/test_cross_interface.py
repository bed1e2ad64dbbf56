"""Both interfaces give the same answer: feed over ITI-8 (MLLP) and query over ITI-83 (FHIR), feed over
ITI-104 (FHIR) and query over ITI-9 (MLLP). Real sockets: the MLLP listener and uvicorn, one store."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters

from api.mllp.server import serve_in_thread
from empi.runtime import Runtime
from tests.conftest import nist_settings
from tests.fhir.support import LiveServer, auth, live_server, new_token
from tests.mllp.messages import NIST, NIST2, NIST3, adt, q23
from tests.mllp.support import Client, Hl7

SYSTEMS = {"NIST2010": "urn:oid:2.16.840.1.113883.3.72.5.9.1", "NIST2010-2": "urn:oid:2.16.840.1.113883.3.72.5.9.2",
           "NIST2010-3": "urn:oid:2.16.840.1.113883.3.72.5.9.3"}


class Both:
    def __init__(self, rt: Runtime, server: LiveServer, mllp: Client, token: str) -> None:
        self.rt, self.server, self.mllp = rt, server, mllp
        self.http = httpx.Client(base_url=server.url, headers={**auth(token), "Accept": "application/fhir+json"},
                                 timeout=30)

    def iti8(self, pid3: str, control_id: str, **demo: str) -> None:
        ack = Hl7.of(self.mllp.send(adt("A04", control_id=control_id, pid3=pid3, **demo)))
        assert ack.msa1 == "AA", ack.raw

    def iti9(self, identifier: str, domain_cx4: str, domains: str = "") -> set[tuple[str, str]]:
        rsp = Hl7.of(self.mllp.send(q23(f"{identifier}^^^{domain_cx4}", domains=domains)))
        assert rsp.msa1 == "AA", rsp.raw
        return {(SYSTEMS[ns], value) for value, ns in (r.split("@") for r in rsp.pid3())}

    def iti104(self, domain: str, identifier: str, family: str, given: str, born: str) -> int:
        body = {"resourceType": "Patient", "identifier": [{"system": SYSTEMS[domain], "value": identifier}],
                "name": [{"family": family, "given": [given]}], "birthDate": born, "gender": "female",
                "address": [{"line": ["12 Sample Street"], "city": "TESTVILLE", "state": "ON", "postalCode": "K0K0K0"}],
                "telecom": [{"system": "phone", "value": "555-555-0100"}]}
        r = self.http.put(f"/Patient?identifier={SYSTEMS[domain]}|{identifier}", content=json.dumps(body),
                          headers={"Content-Type": "application/fhir+json"})
        return r.status_code

    def iti83(self, domain: str, identifier: str, targets: tuple[str, ...] = ()) -> tuple[int, set[tuple[str, str]]]:
        params = [("sourceIdentifier", f"{SYSTEMS[domain]}|{identifier}")] + [("targetSystem", SYSTEMS[t])
                                                                                 for t in targets]
        r = self.http.get("/Patient/$ihe-pix", params=params)
        if r.status_code != 200:
            return r.status_code, set()
        found = Parameters.parse_raw(r.content)
        return 200, {(p.valueIdentifier.system, p.valueIdentifier.value) for p in found.parameter or []
                     if p.name == "targetIdentifier"}


@pytest.fixture
def both(make_runtime: Callable[..., Runtime]) -> Iterator[Both]:
    rt = make_runtime(nist_settings())
    token = new_token(rt, "cross-interface")
    handle = serve_in_thread(rt)
    try:
        with live_server(rt) as server, Client(handle.port) as mllp:
            b = Both(rt, server, mllp, token)
            yield b
            b.http.close()
    finally:
        handle.stop()


def test_iti8_feed_then_iti83_and_iti9_agree(both: Both) -> None:
    both.iti8(f"XI-100^^^{NIST}", "X1")
    both.iti8(f"XI-200^^^{NIST2}", "X2")
    both.iti8(f"XI-300^^^{NIST3}", "X3", name="OTHERSON^OLGA^^^^^L", dob="19510607", address="9 Far Lane^^ELSEWHERE^BC^V0V0V0",
              phone="^PRN^PH^^^604^5550199")
    status, fhir = both.iti83("NIST2010", "XI-100")
    assert status == 200
    assert fhir == {(SYSTEMS["NIST2010-2"], "XI-200")}
    assert fhir == both.iti9("XI-100", NIST)
    # the same restriction to a target domain on both sides
    assert both.iti83("NIST2010-2", "XI-200", ("NIST2010",))[1] == both.iti9("XI-200", NIST2, f"^^^{NIST}")
    # records fed over MLLP read as Patients over PDQm (ITI-78), with the other record linked
    r = both.http.get("/Patient", params={"identifier": f"{SYSTEMS['NIST2010']}|XI-100"})
    bundle = Bundle.parse_raw(r.content)
    assert r.status_code == 200 and bundle.total == 1
    found = bundle.entry[0].resource
    assert (found.name[0].family, found.gender, str(found.birthDate)) == ("TESTER", "female", "1980-01-02")
    assert [lk.type for lk in found.link] == ["seealso"]
    # unknown patient in a known domain: 404 on FHIR, AE on MLLP
    assert both.iti83("NIST2010", "XI-999")[0] == 404
    assert Hl7.of(both.mllp.send(q23(f"XI-999^^^{NIST}"))).msa1 == "AE"


def test_iti104_feed_then_iti9_and_iti83_agree(both: Both) -> None:
    assert both.iti104("NIST2010", "XF-100", "SAMPLEMAN", "TINA", "1980-01-02") == 201
    assert both.iti104("NIST2010-2", "XF-200", "SAMPLEMAN", "TINA", "1980-01-02") == 201
    assert both.iti104("NIST2010-3", "XF-300", "DIFFERENT", "DORA", "1945-11-30") == 201
    over_mllp = both.iti9("XF-100", NIST)
    assert over_mllp == {(SYSTEMS["NIST2010-2"], "XF-200")}
    assert over_mllp == both.iti83("NIST2010", "XF-100")[1]
    assert both.iti9("XF-300", NIST3) == both.iti83("NIST2010-3", "XF-300")[1] == set()
    # an ITI-104 update then an ITI-8 update of the other record keep both views identical
    assert both.iti104("NIST2010-2", "XF-200", "SAMPLEMAN", "TINA", "1980-01-02") == 200
    both.iti8(f"XF-100^^^{NIST}", "X4", name="SAMPLEMAN^TINA^^^^^L", dob="19800102",
              address="12 Sample Street^^TESTVILLE^ON^K0K0K0")
    assert both.iti9("XF-200", NIST2) == both.iti83("NIST2010-2", "XF-200")[1] == {(SYSTEMS["NIST2010"], "XF-100")}
