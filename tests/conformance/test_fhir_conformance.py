"""Conformance runner: plays ../shared/conformance/README.md §4 (PIXm ITI-83/ITI-104, PDQm ITI-78/ITI-119)
against the full HTTP app under uvicorn on a free port, over real HTTP.

The request files (.http, .json) are sent as stored, with their example base URL replaced by the live
one and a bearer token added. Every response body must parse with fhir.resources (JSON or XML, as
announced by its Content-Type). Each scenario starts from a fresh store with profile P-PIXm-IHE; runs on
SQLite and, when configured, PostgreSQL. Without the corpus the tests skip (fail with
EMPI_REQUIRE_CONFORMANCE=1).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B import construct_fhir_element, get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.resource import Resource

from empi.runtime import Runtime
from tests.conftest import CONFORMANCE, require
from tests.fhir.support import BLUE, GREEN, RED, LiveServer, auth, live_server, new_token, pixm_ihe

pytestmark = pytest.mark.conformance

EXAMPLE_BASES = ("http://example.org/fhir", "https://server.example.com/fhir", "[base]")


@pytest.fixture(scope="module")
def corpus() -> Path:
    directory = CONFORMANCE / "fhir"
    if not directory.is_dir():
        require("EMPI_REQUIRE_CONFORMANCE", f"conformance corpus not found at {directory}")
    return directory


@dataclass
class Reply:
    status: int
    resource: Resource | None
    response: httpx.Response

    def issue(self) -> Any:
        assert isinstance(self.resource, OperationOutcome), f"expected an OperationOutcome, got {self.resource}"
        return self.resource.issue[0]

    def identifiers(self) -> set[tuple[str, str]]:
        assert isinstance(self.resource, Parameters)
        return {(p.valueIdentifier.system, p.valueIdentifier.value) for p in self.resource.parameter or []
                if p.name == "targetIdentifier"}

    def target_ids(self) -> list[str]:
        assert isinstance(self.resource, Parameters)
        return [p.valueReference.reference for p in self.resource.parameter or [] if p.name == "targetId"]


@dataclass
class Manager:
    """The live server, one HTTP client with a token holding every scope, and the corpus."""

    server: LiveServer
    corpus: Path
    http: httpx.Client
    headers: dict[str, str]
    sent: list[str] = field(default_factory=list)

    def url(self, url: str) -> str:
        for base in EXAMPLE_BASES:
            url = url.replace(base, self.server.url)
        return url

    def send(self, method: str, url: str, *, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        h = {"Accept": "application/fhir+json", **self.headers, **(headers or {})}
        r = self.http.request(method, self.url(url), content=body, headers=h)
        self.sent.append(f"{method} {url} -> {r.status_code}")
        return Reply(r.status_code, parse_any(r), r)

    def play(self, name: str) -> Reply:
        """Send a stored .http request (request line, headers, blank line, body)."""
        text = (self.corpus / name).read_text(encoding="utf-8")
        head, _, body = text.partition("\n\n")
        lines = [ln.strip() for ln in head.strip().splitlines()]
        method, url = lines[0].split()[:2]
        headers = dict(ln.split(":", 1) for ln in lines[1:] if ":" in ln)
        headers = {k.strip(): v.strip() for k, v in headers.items()}
        return self.send(method, url, body=body.strip().encode() or None, headers=headers)

    def put_patient(self, name: str) -> Reply:
        """A stored Patient body, fed as a conditional PUT on its own (first) identifier."""
        raw = (self.corpus / name).read_bytes()
        ident = json.loads(raw)["identifier"][0]
        return self.send("PUT", f"[base]/Patient?identifier={ident['system']}|{ident['value']}", body=raw,
                         headers={"Content-Type": "application/fhir+json"})

    def pix(self, query: str) -> Reply:
        return self.send("GET", f"[base]/Patient/$ihe-pix?{query}")


def parse_any(r: httpx.Response) -> Resource | None:
    """Every response body must be a FHIR resource that fhir.resources accepts."""
    if not r.content:
        assert r.status_code in (200, 204), f"empty body with status {r.status_code}"
        return None
    media = r.headers["content-type"].split(";")[0].strip()
    if media == "application/fhir+xml":
        from lxml import etree

        kind = etree.QName(etree.fromstring(r.content)).localname
        cls = get_fhir_model_class(kind)
        return cls.parse_raw(r.content, content_type="text/xml")  # type: ignore[no-any-return]
    assert media == "application/fhir+json", f"unexpected Content-Type {media}"
    data = r.json()
    return construct_fhir_element(data["resourceType"], data)  # type: ignore[no-any-return]


@pytest.fixture
def manager(make_runtime: Callable[..., Runtime], corpus: Path) -> Iterator[Manager]:
    rt = make_runtime(pixm_ihe())
    token = new_token(rt, "conformance-runner")
    with live_server(rt) as server, httpx.Client(timeout=30) as http:
        yield Manager(server=server, corpus=corpus, http=http, headers=auth(token))


def feed_mohr(m: Manager) -> None:
    """§4.1 steps 1-3: Red (ALISSA, then ALICE), then Blue and Green."""
    assert m.play("iti104-put-ihe-pixm-add-alissa.http").status == 201
    assert m.play("iti104-put-ihe-pixm-revise-alice.http").status == 200
    for colour in ("blue", "green"):
        reply = m.put_patient(f"iti104-patient-ihe-pixm-mohralice-{colour}.json")
        assert reply.status == 201, reply.resource


def reference_identifiers(corpus: Path, name: str) -> set[tuple[str, str]]:
    ref = Parameters.parse_raw((corpus / name).read_bytes(), content_type="text/xml")
    return {(p.valueIdentifier.system, p.valueIdentifier.value) for p in ref.parameter if p.name == "targetIdentifier"}


class TestPixmFeedThenQuery:
    """§4.1 P-PIXm-IHE, steps 0-9 in order."""

    def test_scenario(self, manager: Manager, corpus: Path) -> None:
        m = manager
        # 0: CapabilityStatement, without a token
        cs = m.http.get(f"{m.server.url}/metadata", headers={"Accept": "application/fhir+json"})
        statement = parse_any(cs)
        patient = statement.rest[0].resource[0]  # type: ignore[union-attr]
        assert cs.status_code == 200 and patient.type == "Patient"
        assert patient.conditionalUpdate is True and patient.conditionalDelete in ("single", "multiple")
        assert "ihe-pix" in {op.name for op in patient.operation}
        # 1-3
        feed_mohr(m)
        # 4: all targets; never the source identifier; >= 1 targetId
        red_all = m.play("iti83-get-ihe-pixm-red-all.http")
        assert red_all.status == 200
        assert red_all.identifiers() == reference_identifiers(corpus, "iti83-response-ihe-pixm-red-all.xml")
        assert (RED, "IHERED-994") not in red_all.identifiers()
        assert len(red_all.target_ids()) >= 1
        # 5: Red to Blue only
        to_blue = m.play("iti83-get-ihe-pixm-red-to-blue.http")
        assert to_blue.status == 200
        assert to_blue.identifiers() == reference_identifiers(corpus, "iti83-response-ihe-pixm-red-to-blue.xml")
        assert to_blue.target_ids()
        # 6: two targetSystems, XML by _format
        doc = m.play("iti83-get-ihe-pixm-doc-example-format.http")
        assert doc.status == 200
        assert doc.response.headers["content-type"].startswith("application/fhir+xml")
        assert doc.identifiers() == {(BLUE, "IHEBLUE-994"), (GREEN, "IHEGREEN-994")}
        # 7: Maiden Alice, then resolve the duplicate (replaced-by)
        assert m.put_patient("iti104-patient-ihe-pixm-maidenalice-red.json").status == 201
        assert m.play("iti104-put-ihe-pixm-resolve-duplicate-replaced-by.http").status == 200
        # 8: the subsumed identifier is no longer referenced (404 by policy)
        gone = m.pix(f"sourceIdentifier={RED}|IHERED-m94")
        assert gone.status == 404 and gone.issue().code == "not-found"
        assert (RED, "IHERED-m94") not in m.pix(f"sourceIdentifier={BLUE}|IHEBLUE-994").identifiers()
        # 9: Remove Patient, then IHERED-994 is unknown
        removed = m.play("iti104-delete-ihe-pixm-remove.http")
        assert removed.status in (200, 204)
        after = m.pix(f"sourceIdentifier={RED}|IHERED-994")
        assert after.status == 404 and after.issue().code == "not-found"


class TestIti83ErrorCodes:
    """§4.2 and IHE-RULES §7: status codes and OperationOutcome issue codes."""

    def test_error_codes(self, manager: Manager, corpus: Path) -> None:
        m = manager
        feed_mohr(m)
        expected_404 = OperationOutcome.parse_file(corpus / "iti83-response-ihe-pixm-404-operationoutcome.json")
        cases = [
            (f"sourceIdentifier={RED}|IHERED-000", 404, "not-found", expected_404.issue[0].details.text),
            ("sourceIdentifier=urn:oid:1.2.3.4|IHERED-994", 400, "code-invalid",
             "sourceIdentifier Assigning Authority not found"),
            (f"sourceIdentifier={RED}|IHERED-994&targetSystem=urn:oid:1.2.3.4", 403, "code-invalid",
             "targetSystem not found"),
            ("targetSystem=urn:oid:1.2.3.4", 400, None, None),
        ]
        for query, status, code, text in cases:
            reply = m.pix(query)
            assert reply.status == status, query
            issue = reply.issue()
            assert issue.severity == "error"
            if code:
                assert issue.code == code
            if text:
                assert issue.details.text == text
        # several errors at once: any applicable code, 400 > 403 > 404 recommended
        both = m.pix("sourceIdentifier=urn:oid:1.2.3.4|X&targetSystem=urn:oid:9.9.9")
        assert both.status in (400, 403)
        # a known patient with no identifier in the requested target: 200, zero results
        assert m.put_patient("iti104-patient-ihe-pixm-maidenalice-red.json").status == 201
        lonely = m.send("PUT", f"[base]/Patient?identifier={RED}|LONELY-1",
                        body=json.dumps({"resourceType": "Patient", "identifier": [{"system": RED, "value": "LONELY-1"}],
                                         "name": [{"family": "ZZYZX", "given": ["QUORRA"]}],
                                         "birthDate": "2001-02-03", "gender": "other"}).encode(),
                        headers={"Content-Type": "application/fhir+json"})
        assert lonely.status == 201
        empty = m.pix(f"sourceIdentifier={RED}|LONELY-1&targetSystem={BLUE}")
        assert empty.status == 200 and empty.identifiers() == set()
        # the POST form with a Parameters body (XML, from the corpus) answers like GET
        post = m.send("POST", "[base]/Patient/$ihe-pix",
                      body=(corpus / "iti83-params-ihe-pixm-red-to-blue-and-green.xml").read_bytes(),
                      headers={"Content-Type": "application/fhir+xml"})
        assert post.status == 200
        assert post.identifiers() == {(BLUE, "IHEBLUE-994"), (GREEN, "IHEGREEN-994")}


class TestPdqm:
    """§4.3 ITI-78 and ITI-119, after §4.1 steps 1-3."""

    def test_iti78(self, manager: Manager) -> None:
        m = manager
        feed_mohr(m)
        found = m.play("iti78-get-ihe-pdqm-family-given-active-gender.http")
        assert found.status == 200 and isinstance(found.resource, Bundle)
        assert found.resource.type == "searchset" and found.resource.total == 3
        assert all(e.resource.resource_type == "Patient" and e.search.mode == "match" for e in found.resource.entry)
        for name in ("iti78-get-ihe-pdqm-family-and-domain-filter.http", "iti78-get-ihe-pdqm-domain-or-filter.http"):
            reply = m.play(name)
            if reply.status == 404:  # preferred: Case 4
                assert (reply.issue().severity, reply.issue().code) == ("warning", "not-found")
                assert reply.issue().diagnostics == "targetSystem not found"
            else:
                assert reply.status == 200
        # known domains: identifiers outside them are removed from each Patient
        filtered = m.send("GET", f"[base]/Patient?family=MOHR&identifier={BLUE}|,{GREEN}|")
        assert filtered.status == 200 and filtered.resource.total == 2  # type: ignore[union-attr]
        for e in filtered.resource.entry:  # type: ignore[union-attr]
            assert {i.system for i in e.resource.identifier} <= {BLUE, GREEN}
        # Case 3: no match
        none = m.send("GET", "[base]/Patient?family=NOBODY-AT-ALL")
        assert none.status == 200 and none.resource.total == 0 and not none.resource.entry  # type: ignore[union-attr]
        # Case 5: unsupported _format
        bad = m.send("GET", "[base]/Patient?family=MOHR&_format=text/csv")
        assert bad.status == 406 and bad.issue().code == "not-supported"
        # read: a found Patient, and an unknown id
        first = found.resource.entry[0].resource
        assert m.send("GET", f"[base]/Patient/{first.id}").status == 200
        unknown = m.send("GET", "[base]/Patient/987654321")
        assert unknown.status == 404 and unknown.issue().code == "not-found"
        # POST search
        posted = m.send("POST", "[base]/Patient/_search", body=b"family=MOHR&given=ALICE&gender=female",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert posted.status == 200 and posted.resource.total == 3  # type: ignore[union-attr]
        # XML as well
        xml = m.send("GET", "[base]/Patient?family=MOHR", headers={"Accept": "application/fhir+xml"})
        assert xml.status == 200 and xml.resource.total == 3  # type: ignore[union-attr]

    def test_iti119(self, manager: Manager, corpus: Path) -> None:
        m = manager
        feed_mohr(m)

        def match(body: bytes) -> Bundle:
            reply = m.send("POST", "[base]/Patient/$match", body=body, headers={"Content-Type": "application/fhir+json"})
            assert reply.status == 200 and isinstance(reply.resource, Bundle)
            for e in reply.resource.entry or []:
                if e.resource.resource_type == "OperationOutcome":
                    assert all(i.severity not in ("error", "fatal") for i in e.resource.issue)
                    continue
                assert 0 <= e.search.score <= 1
                grades = [x.valueCode for x in e.search.extension or []
                          if x.url == "http://hl7.org/fhir/StructureDefinition/match-grade"]
                assert grades and grades[0] in {"certain", "probable", "possible", "certainly-not"}
            return reply.resource

        patient_only = match((corpus / "iti119-post-ihe-pdqm-match-patient-only.json").read_bytes())
        certain = match((corpus / "iti119-post-ihe-pdqm-match-only-certain.json").read_bytes())
        assert all(e.search.extension[0].valueCode == "certain" for e in certain.entry or [])
        assert len(match((corpus / "iti119-post-ihe-pdqm-match-count-1.json").read_bytes()).entry or []) <= 1
        assert patient_only.entry is None or patient_only.total == len(patient_only.entry)
        # the IG's inputs (SCHMIDT JOHN) meet nobody here; a MOHR ALICE probe meets all three
        mohr = (corpus / "iti104-patient-ihe-pixm-mohralice-blue.json").read_bytes()
        found = match(mohr)  # a bare Patient body
        assert len(found.entry) == 3
        assert found.entry[0].search.extension[0].valueCode == "certain"
        counted = json.dumps({"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": json.loads(mohr)}, {"name": "count", "valueInteger": 1}]}).encode()
        assert len(match(counted).entry) == 1
