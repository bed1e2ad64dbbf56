"""PIXm/PDQm endpoints through the FastAPI app (TestClient), on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.patient import Patient
from sqlalchemy import select

from api.fhir.errors import TABLE, from_core
from api.fhir.pdqm import grade, score01
from empi import errors as core
from empi.models import ApiClient, AuditEvent, SourceRecord
from empi.runtime import Runtime
from tests.fhir.support import BLUE, GREEN, RED, auth, new_token

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def patient(system: str, value: str, family: str = "MOHR", given: str = "ALICE", born: str = "1958-01-30",
            gender: str = "female", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": system, "value": value}],
            "name": [{"family": family, "given": [given]}], "gender": gender, "birthDate": born, **extra}


def put(client: TestClient, headers: dict[str, str], system: str, value: str, body: dict[str, Any] | str,
        **kw: Any) -> Any:
    content = body if isinstance(body, str) else json.dumps(body)
    return client.put(f"/fhir/Patient?identifier={system}|{value}", content=content,
                      headers={**headers, **FHIR_JSON, **kw.pop("extra_headers", {})}, **kw)


def pix(client: TestClient, headers: dict[str, str], query: str) -> Any:
    return client.get(f"/fhir/Patient/$ihe-pix?{query}", headers=headers)


def outcome(response: Any) -> OperationOutcome:
    return OperationOutcome.parse_raw(response.content)


@pytest.fixture
def mohr(client: TestClient, headers: dict[str, str]) -> TestClient:
    """Red, Blue and Green MOHR ALICE (one person) and an unrelated Red patient."""
    for system, value in ((RED, "IHERED-994"), (BLUE, "IHEBLUE-994"), (GREEN, "IHEGREEN-994")):
        assert put(client, headers, system, value, patient(system, value)).status_code == 201
    body = patient(RED, "IHERED-777", family="NXEAL", given="RUTH", born="1972-03-06",
                   extension=[{"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
                               "valueString": "VASXQUEZ"}],
                   address=[{"line": ["4670 Raver Croft Drive"], "city": "HAMPTON", "state": "TN",
                             "postalCode": "37658"}], telecom=[{"system": "phone", "value": "555-123-4567"}])
    assert put(client, headers, RED, "IHERED-777", body).status_code == 201
    return client


class TestAuthentication:
    def test_metadata_is_open_when_no_token(self, client: TestClient) -> None:
        r = client.get("/fhir/metadata")
        assert r.status_code == 200
        cs = CapabilityStatement.parse_raw(r.content)
        resource = cs.rest[0].resource[0]
        assert resource.conditionalUpdate is True
        assert resource.conditionalDelete == "single"
        assert {o.name for o in resource.operation} == {"ihe-pix", "match"}
        assert {"family", "birthdate", "identifier", "mothersMaidenName"} <= {p.name for p in resource.searchParam}

    def test_401_when_no_token(self, client: TestClient) -> None:
        for path in ["/fhir/Patient/$ihe-pix?sourceIdentifier=a|b", "/fhir/Patient?family=X", "/fhir/Patient/1"]:
            r = client.get(path)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert outcome(r).issue[0].code == "login"

    def test_401_when_token_unknown(self, client: TestClient) -> None:
        r = client.get("/fhir/Patient?family=X", headers=auth("empi_not-a-real-token"))
        assert r.status_code == 401

    def test_403_when_scope_missing(self, client: TestClient, pixm_rt: Runtime) -> None:
        query_only = auth(new_token(pixm_rt, "viewer", ("ITI-83", "ITI-78")))
        r = put(client, query_only, RED, "X1", patient(RED, "X1"))
        assert r.status_code == 403
        assert outcome(r).issue[0].code == "forbidden"
        feed_only = auth(new_token(pixm_rt, "feeder", ("ITI-104",)))
        assert put(client, feed_only, RED, "X1", patient(RED, "X1")).status_code == 201
        assert pix(client, feed_only, f"sourceIdentifier={RED}|X1").status_code == 403
        assert client.get("/fhir/Patient?family=MOHR", headers=feed_only).status_code == 403
        assert client.post("/fhir/Patient/$match", headers=feed_only,
                           content=json.dumps(patient(RED, "X1"))).status_code == 403

    def test_tokens_are_stored_hashed_when_created(self, pixm_rt: Runtime) -> None:
        token = new_token(pixm_rt, "device-1", ("ITI-83",))
        with pixm_rt.read() as s:
            row = s.scalars(select(ApiClient).where(ApiClient.name == "device-1")).one()
            assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
            assert token not in (row.token_hash, row.secret_hash, row.scopes)

    def test_revoked_client_gets_401(self, client: TestClient, pixm_rt: Runtime) -> None:
        from api.fhir.auth import revoke_client

        token = new_token(pixm_rt, "lost-phone", ("ITI-78",))
        assert client.get("/fhir/Patient?family=X", headers=auth(token)).status_code == 200
        with pixm_rt.write() as s:
            revoke_client(s, "lost-phone")
        assert client.get("/fhir/Patient?family=X", headers=auth(token)).status_code == 200  # cached for a while
        client.app.state.fhir_tokens.clear()  # type: ignore[attr-defined]
        assert client.get("/fhir/Patient?family=X", headers=auth(token)).status_code == 401

    def test_unknown_scope_is_refused_when_creating(self, pixm_rt: Runtime) -> None:
        with pytest.raises(core.InvalidInput):
            new_token(pixm_rt, "bad", ("ITI-9999",))


class TestFormats:
    def test_xml_when_format_parameter(self, mohr: TestClient, headers: dict[str, str]) -> None:
        r = pix(mohr, headers, f"sourceIdentifier={RED}|IHERED-994&_format=application/fhir+xml")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/fhir+xml")
        params = Parameters.parse_raw(r.content, content_type="text/xml")
        assert len([p for p in params.parameter if p.name == "targetIdentifier"]) == 2

    def test_xml_when_accept_header(self, mohr: TestClient, headers: dict[str, str]) -> None:
        r = mohr.get("/fhir/Patient?family=MOHR", headers={**headers, "Accept": "application/fhir+xml"})
        assert r.headers["content-type"].startswith("application/fhir+xml")
        assert Bundle.parse_raw(r.content, content_type="text/xml").total == 3

    @pytest.mark.parametrize(("query", "accept"), [("_format=text/turtle", "application/fhir+json"),
                                                   ("", "text/plain")])
    def test_406_when_format_unsupported(self, client: TestClient, headers: dict[str, str], query: str,
                                         accept: str) -> None:
        r = client.get(f"/fhir/Patient?family=X&{query}", headers={**headers, "Accept": accept})
        assert r.status_code == 406
        assert outcome(r).issue[0].code == "not-supported"

    def test_xml_body_is_accepted_when_feeding(self, client: TestClient, headers: dict[str, str]) -> None:
        xml = Patient.parse_obj(patient(RED, "XML-1")).xml()
        r = client.put(f"/fhir/Patient?identifier={RED}|XML-1", content=xml.encode(),
                       headers={**headers, "Content-Type": "application/fhir+xml"})
        assert r.status_code == 201
        assert Patient.parse_raw(r.content).name[0].family == "MOHR"

    def test_415_when_body_is_not_fhir(self, client: TestClient, headers: dict[str, str]) -> None:
        r = client.put(f"/fhir/Patient?identifier={RED}|X", content=b"hello",
                       headers={**headers, "Content-Type": "text/plain"})
        assert r.status_code == 415

    def test_unknown_paths_get_an_operation_outcome(self, client: TestClient, headers: dict[str, str]) -> None:
        r = client.get("/fhir/Observation", headers=headers)
        assert r.status_code == 404
        assert outcome(r).issue[0].code == "not-supported"
        assert client.post("/fhir/Patient", headers=headers, content=b"{}").status_code == 405


class TestPixQuery:
    def test_cross_references_without_the_source_when_linked(self, mohr: TestClient, headers: dict[str, str]) -> None:
        r = pix(mohr, headers, f"sourceIdentifier={RED}|IHERED-994")
        assert r.status_code == 200
        params = Parameters.parse_raw(r.content)
        idents = {(p.valueIdentifier.system, p.valueIdentifier.value) for p in params.parameter
                  if p.name == "targetIdentifier"}
        assert idents == {(BLUE, "IHEBLUE-994"), (GREEN, "IHEGREEN-994")}
        refs = [p.valueReference.reference for p in params.parameter if p.name == "targetId"]
        assert len(refs) == 2
        for ref in refs:
            assert mohr.get(f"/fhir/{ref}", headers=headers).status_code == 200

    def test_only_requested_targets_when_target_system(self, mohr: TestClient, headers: dict[str, str]) -> None:
        r = pix(mohr, headers, f"sourceIdentifier={RED}|IHERED-994&targetSystem={BLUE}")
        params = Parameters.parse_raw(r.content)
        assert [p.valueIdentifier.value for p in params.parameter if p.name == "targetIdentifier"] == ["IHEBLUE-994"]

    def test_post_with_parameters_body(self, mohr: TestClient, headers: dict[str, str]) -> None:
        body = {"resourceType": "Parameters", "parameter": [
            {"name": "sourceIdentifier", "valueString": f"{RED}|IHERED-994"},
            {"name": "targetSystem", "valueString": GREEN}]}
        r = mohr.post("/fhir/Patient/$ihe-pix", content=json.dumps(body), headers={**headers, **FHIR_JSON})
        assert r.status_code == 200
        values = [p.valueIdentifier.value for p in Parameters.parse_raw(r.content).parameter
                  if p.name == "targetIdentifier"]
        assert values == ["IHEGREEN-994"]

    def test_empty_parameters_when_no_identifier_in_target(self, mohr: TestClient, headers: dict[str, str]) -> None:
        r = pix(mohr, headers, f"sourceIdentifier={RED}|IHERED-777&targetSystem={BLUE}")
        assert r.status_code == 200
        assert not Parameters.parse_raw(r.content).parameter

    ERRORS: ClassVar[list[tuple[str, int, str, str | None]]] = [
        ("sourceIdentifier=urn:oid:1.2.3|X", 400, "code-invalid", "sourceIdentifier Assigning Authority not found"),
        ("", 400, "invalid", None),
        ("sourceIdentifier=IHERED-994", 400, "invalid", None),
        (f"sourceIdentifier={RED}|IHERED-994&targetSystem=urn:oid:9.9", 403, "code-invalid", "targetSystem not found"),
        (f"sourceIdentifier={RED}|NOPE", 404, "not-found", "sourceIdentifier Patient Identifier not found"),
        ("sourceIdentifier=urn:oid:1.2.3|X&targetSystem=urn:oid:9.9", 400, "code-invalid", None),
        (f"sourceIdentifier={RED}|NOPE&targetSystem=urn:oid:9.9", 403, "code-invalid", None),
    ]

    def test_errors_when_bad_query(self, mohr: TestClient, headers: dict[str, str]) -> None:
        for query, status, code, text in self.ERRORS:
            r = pix(mohr, headers, query)
            assert r.status_code == status, query
            issue = outcome(r).issue[0]
            assert (issue.severity, issue.code) == ("error", code), query
            if text:
                assert issue.details.text == text, query

    def test_queries_are_audited_with_the_client_name(self, mohr: TestClient, headers: dict[str, str],
                                                      pixm_rt: Runtime) -> None:
        pix(mohr, headers, f"sourceIdentifier={RED}|IHERED-994")
        pix(mohr, headers, f"sourceIdentifier={RED}|NOPE")
        with pixm_rt.read() as s:
            events = s.scalars(select(AuditEvent).where(AuditEvent.event_type == "ITI-83")
                               .order_by(AuditEvent.id)).all()
            assert [(e.actor, e.action, e.outcome) for e in events] == [("all-scopes", "E", 0),
                                                                         ("all-scopes", "E", 4)]
            assert events[0].patient_ids == ["IHERED-994^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"]


class TestFeed:
    def test_201_then_200_when_the_identifier_is_known(self, client: TestClient, headers: dict[str, str],
                                                      pixm_rt: Runtime) -> None:
        first = put(client, headers, RED, "F-1", patient(RED, "F-1", given="ALISSA"))
        assert first.status_code == 201
        assert first.headers["location"].endswith(f"/fhir/Patient/{Patient.parse_raw(first.content).id}")
        second = put(client, headers, RED, "F-1", patient(RED, "F-1", given="ALICE"))
        assert second.status_code == 200
        assert Patient.parse_raw(second.content).name[0].given == ["ALICE"]
        with pixm_rt.read() as s:
            rec = s.scalars(select(SourceRecord).where(SourceRecord.identifier == "F-1")).one()
            assert (rec.given_name, rec.sex, rec.birth_date) == ("ALICE", "F", "1958-01-30")
            actions = s.scalars(select(AuditEvent.action).where(AuditEvent.event_type == "ITI-104")
                                .order_by(AuditEvent.id)).all()
            assert actions == ["C", "U"]

    def test_update_replaces_the_demographics(self, client: TestClient, headers: dict[str, str],
                                              pixm_rt: Runtime) -> None:
        body = patient(RED, "F-2", address=[{"line": ["1 Main St"], "city": "OAK BROOK"}])
        put(client, headers, RED, "F-2", body)
        put(client, headers, RED, "F-2", patient(RED, "F-2"))
        with pixm_rt.read() as s:
            rec = s.scalars(select(SourceRecord).where(SourceRecord.identifier == "F-2")).one()
            assert rec.city is None and rec.addresses == []

    BAD: ClassVar[list[tuple[str, int, str]]] = [
        ("{not json", 400, "well-formed"),
        (json.dumps({"resourceType": "Observation"}), 400, "expected a Patient"),
        (json.dumps(patient(RED, "F-3", born="1958-13-45")), 400, "birthDate"),
        (json.dumps(patient(RED, "OTHER")), 400, "identifier"),
        (json.dumps({**patient(RED, "F-3"), "gender": "martian"}), 400, "gender"),
        ("", 400, "body"),
    ]

    def test_bad_resources_are_refused_and_nothing_is_stored(self, client: TestClient, headers: dict[str, str],
                                                             pixm_rt: Runtime) -> None:
        for body, status, needle in self.BAD:
            r = put(client, headers, RED, "F-3", body)
            assert r.status_code == status, body
            assert needle in outcome(r).issue[0].diagnostics, body
        with pixm_rt.read() as s:
            assert s.scalars(select(SourceRecord).where(SourceRecord.identifier == "F-3")).first() is None
            outcomes = s.scalars(select(AuditEvent.outcome).where(AuditEvent.event_type == "ITI-104")).all()
            assert outcomes == [8] * len(self.BAD)

    def test_conditional_criteria_must_name_one_identifier(self, client: TestClient, headers: dict[str, str]) -> None:
        for query, status in [("", 400), ("identifier=F-4", 400), ("identifier=urn:oid:1.2.3|F-4", 400),
                              ("family=MOHR", 400), (f"identifier={RED}|A,{RED}|B", 412)]:
            r = client.put(f"/fhir/Patient?{query}", content=json.dumps(patient(RED, "F-4")),
                           headers={**headers, **FHIR_JSON})
            assert r.status_code == status, query

    def test_replaced_by_merges_into_the_surviving_identifier(self, mohr: TestClient, headers: dict[str, str]) -> None:
        assert put(mohr, headers, RED, "IHERED-m94", patient(RED, "IHERED-m94")).status_code == 201
        body = patient(RED, "IHERED-m94", given="MAIDEN", active=False,
                       link=[{"other": {"identifier": {"system": RED, "value": "IHERED-994"}}, "type": "replaced-by"}])
        r = put(mohr, headers, RED, "IHERED-m94", body)
        assert r.status_code == 200
        merged = Patient.parse_raw(r.content)
        assert merged.active is False and merged.link[0].type == "replaced-by"
        assert pix(mohr, headers, f"sourceIdentifier={RED}|IHERED-m94").status_code == 404
        params = Parameters.parse_raw(pix(mohr, headers, f"sourceIdentifier={BLUE}|IHEBLUE-994").content)
        values = {p.valueIdentifier.value for p in params.parameter if p.name == "targetIdentifier"}
        assert values == {"IHERED-994", "IHEGREEN-994"}

    def test_replaced_by_unknown_subsumed_gives_404(self, mohr: TestClient, headers: dict[str, str]) -> None:
        body = patient(RED, "NEVER-FED", link=[{"other": {"identifier": {"system": RED, "value": "IHERED-994"}},
                                                "type": "replaced-by"}])
        assert put(mohr, headers, RED, "NEVER-FED", body).status_code == 404

    def test_conditional_delete_removes_the_identifier(self, mohr: TestClient, headers: dict[str, str]) -> None:
        r = mohr.delete(f"/fhir/Patient?identifier={RED}|IHERED-994", headers=headers)
        assert r.status_code == 204
        assert pix(mohr, headers, f"sourceIdentifier={RED}|IHERED-994").status_code == 404
        params = Parameters.parse_raw(pix(mohr, headers, f"sourceIdentifier={BLUE}|IHEBLUE-994").content)
        assert {p.valueIdentifier.value for p in params.parameter if p.name == "targetIdentifier"} == {"IHEGREEN-994"}
        again = mohr.delete(f"/fhir/Patient?identifier={RED}|IHERED-994", headers=headers)
        assert again.status_code == 404


class TestSearch:
    def bundle(self, client: TestClient, headers: dict[str, str], query: str) -> Bundle:
        r = client.get(f"/fhir/Patient?{query}", headers=headers)
        assert r.status_code == 200, r.text
        return Bundle.parse_raw(r.content)

    def ids(self, client: TestClient, headers: dict[str, str], query: str) -> set[str]:
        return {e.resource.identifier[0].value for e in self.bundle(client, headers, query).entry or []}

    def test_family_given_active_gender(self, mohr: TestClient, headers: dict[str, str]) -> None:
        b = self.bundle(mohr, headers, "family=MOHR&given=ALICE&active=true&gender=female")
        assert b.type == "searchset" and b.total == 3
        assert all(e.search.mode == "match" for e in b.entry)
        assert {e.resource.identifier[0].value for e in b.entry} == {"IHERED-994", "IHEBLUE-994", "IHEGREEN-994"}
        red = next(e.resource for e in b.entry if e.resource.identifier[0].value == "IHERED-994")
        assert len([lk for lk in red.link if lk.type == "seealso"]) == 2

    CASES: ClassVar[list[tuple[str, set[str]]]] = [
        ("family=moh", {"IHERED-994", "IHEBLUE-994", "IHEGREEN-994"}),
        ("family:exact=MOH", set()),
        ("family:exact=NXEAL", {"IHERED-777"}),
        ("name=ruth", {"IHERED-777"}),
        ("birthdate=1972-03-06", {"IHERED-777"}),
        ("birthdate=lt1960&family=NXEAL", set()),
        ("birthdate=ge1972&birthdate=le1972-12", {"IHERED-777"}),
        (f"identifier={BLUE}|IHEBLUE-994", {"IHEBLUE-994"}),
        ("identifier=IHEGREEN-994", {"IHEGREEN-994"}),
        (f"identifier={BLUE}|IHEBLUE-994,{GREEN}|IHEGREEN-994", {"IHEBLUE-994", "IHEGREEN-994"}),
        ("address-city=hamp", {"IHERED-777"}),
        ("address-postalcode=37658", {"IHERED-777"}),
        ("address=raver", {"IHERED-777"}),
        ("address-state=TN", {"IHERED-777"}),
        ("telecom=phone|5551234567", {"IHERED-777"}),
        ("mothersMaidenName=vasx", {"IHERED-777"}),
        ("gender=male", set()),
        ("family=MOHR&gender=male,female&_id=1", {"IHERED-994"}),
        ("unknownparam=1&family=NXEAL", {"IHERED-777"}),
    ]

    def test_parameters(self, mohr: TestClient, headers: dict[str, str]) -> None:
        for query, expected in self.CASES:
            assert self.ids(mohr, headers, query) == expected, query

    def test_domain_filter_removes_other_identifiers(self, mohr: TestClient, headers: dict[str, str]) -> None:
        b = self.bundle(mohr, headers, f"family=MOHR&identifier={BLUE}|")
        assert b.total == 1
        assert [i.system for i in b.entry[0].resource.identifier] == [BLUE]

    def test_404_warning_when_domain_unknown(self, mohr: TestClient, headers: dict[str, str]) -> None:
        r = mohr.get("/fhir/Patient?family=SMITH&identifier=urn:oid:1.2.3.4.5|", headers=headers)
        assert r.status_code == 404
        issue = outcome(r).issue[0]
        assert (issue.severity, issue.code, issue.diagnostics) == ("warning", "not-found", "targetSystem not found")

    def test_empty_bundle_when_no_match(self, mohr: TestClient, headers: dict[str, str]) -> None:
        b = self.bundle(mohr, headers, "family=NOBODY")
        assert b.total == 0 and not b.entry

    def test_paging_links_when_more_than_count(self, mohr: TestClient, headers: dict[str, str]) -> None:
        b = self.bundle(mohr, headers, "family=MOHR&_count=2")
        assert b.total == 3 and len(b.entry) == 2
        nxt = next(lk.url for lk in b.link if lk.relation == "next")
        assert "family=MOHR" in nxt
        r = mohr.get(nxt.replace("http://testserver", ""), headers=headers)
        last = Bundle.parse_raw(r.content)
        assert len(last.entry) == 1 and not any(lk.relation == "next" for lk in last.link)
        seen = {e.resource.id for e in b.entry} | {e.resource.id for e in last.entry}
        assert len(seen) == 3

    def test_post_search_with_form_body(self, mohr: TestClient, headers: dict[str, str]) -> None:
        r = mohr.post("/fhir/Patient/_search", data={"family": "NXEAL", "gender": "female"}, headers=headers)
        assert r.status_code == 200
        assert Bundle.parse_raw(r.content).total == 1

    def test_400_when_parameter_invalid(self, client: TestClient, headers: dict[str, str]) -> None:
        for query in ["gender=martian", "birthdate=yesterday", "_count=-1", "family:fuzzy=X", "active=maybe"]:
            assert client.get(f"/fhir/Patient?{query}", headers=headers).status_code == 400, query

    def test_read_by_id_and_404_when_unknown(self, mohr: TestClient, headers: dict[str, str]) -> None:
        b = self.bundle(mohr, headers, "family=NXEAL")
        pid = b.entry[0].resource.id
        r = mohr.get(f"/fhir/Patient/{pid}", headers=headers)
        assert r.status_code == 200
        p = Patient.parse_raw(r.content)
        assert p.extension[0].valueString == "VASXQUEZ" and p.telecom[0].value == "555-123-4567"
        for missing in ("999999", "abc"):
            r = mohr.get(f"/fhir/Patient/{missing}", headers=headers)
            assert r.status_code == 404
            assert outcome(r).issue[0].code == "not-found"


class TestMatch:
    def match(self, client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> Bundle:
        r = client.post("/fhir/Patient/$match", content=json.dumps(body), headers={**headers, **FHIR_JSON})
        assert r.status_code == 200, r.text
        return Bundle.parse_raw(r.content)

    def params(self, resource: dict[str, Any], **options: Any) -> dict[str, Any]:
        extra = [{"name": "onlyCertainMatches", "valueBoolean": options["only"]}] if "only" in options else []
        extra += [{"name": "count", "valueInteger": options["count"]}] if "count" in options else []
        return {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": resource}, *extra]}

    def test_scores_and_grades_when_candidates(self, mohr: TestClient, headers: dict[str, str]) -> None:
        probe = patient(BLUE, "ANY", address=[{"line": ["820 JORIE BLVD."], "city": "OAK BROOK", "postalCode": "60523"}])
        b = self.match(mohr, headers, self.params(probe))
        assert b.entry
        for e in b.entry:
            assert 0 <= e.search.score <= 1
            assert e.search.extension[0].url == "http://hl7.org/fhir/StructureDefinition/match-grade"
            assert e.search.extension[0].valueCode in {"certain", "probable", "possible", "certainly-not"}
        scores = [e.search.score for e in b.entry]
        assert scores == sorted(scores, reverse=True)
        assert b.entry[0].search.extension[0].valueCode == "certain"

    def test_bare_patient_is_accepted(self, mohr: TestClient, headers: dict[str, str]) -> None:
        assert self.match(mohr, headers, patient(RED, "ANY", family="NXEAL", given="RUTH", born="1972-03-06")).entry

    def test_count_limits_the_entries(self, mohr: TestClient, headers: dict[str, str]) -> None:
        assert len(self.match(mohr, headers, self.params(patient(RED, "ANY"), count=1)).entry) == 1

    def test_only_certain_matches_when_asked(self, mohr: TestClient, headers: dict[str, str]) -> None:
        b = self.match(mohr, headers, self.params(patient(RED, "ANY", family="NXEAL", given="RUTH",
                                                          born="1972-03-06"), only=True))
        assert [e.search.extension[0].valueCode for e in b.entry] == ["certain"]
        # three equally certain MOHR ALICE records: none is *the* certain match
        assert not self.match(mohr, headers, self.params(patient(RED, "ANY"), only=True)).entry

    def test_empty_bundle_when_nobody_matches(self, mohr: TestClient, headers: dict[str, str]) -> None:
        b = self.match(mohr, headers, self.params(patient(RED, "ANY", family="SCHMIDT", given="JOHN",
                                                          born="1923-07-25", gender="other")))
        assert b.total == 0 and not b.entry

    def test_400_when_parameters_lack_a_patient(self, client: TestClient, headers: dict[str, str]) -> None:
        r = client.post("/fhir/Patient/$match", content=json.dumps({"resourceType": "Parameters"}),
                        headers={**headers, **FHIR_JSON})
        assert r.status_code == 400

    def test_score_mapping_is_monotonic_and_agrees_with_grades(self, pixm_rt: Runtime) -> None:
        card = pixm_rt.card
        totals = [-20, 0, card.lower / 2, card.lower, (card.lower + card.upper) / 2, card.upper, card.upper + 0.1,
                  card.upper + 20, 500]
        mapped = [score01(card, t) for t in totals]
        assert mapped == sorted(mapped) and mapped[0] == 0 and mapped[-1] == 1
        assert score01(card, card.lower) == pytest.approx(0.5) and score01(card, card.upper) == pytest.approx(0.8)

        class S:
            rule = None

            def __init__(self, total: float) -> None:
                self.total = total

        assert grade(card, S(card.upper + 0.1)) == "certain"
        assert grade(card, S(card.upper)) == "probable"
        assert grade(card, S(card.lower - 0.1)) == "possible"
        assert grade(card, S(card.lower - (card.upper - card.lower) - 0.1)) == "certainly-not"


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_all_subclasses(sub)]
    return out


@pytest.mark.parametrize("error_class", [core.EmpiError, *_all_subclasses(core.EmpiError)])
def test_every_core_error_has_a_fhir_mapping(error_class: type[core.EmpiError]) -> None:
    assert any(issubclass(error_class, cls) for cls, _ in TABLE)
    mapped = from_core(error_class("boom", field="x"))
    assert 400 <= mapped.status < 500
    assert OperationOutcome.parse_obj({"resourceType": "OperationOutcome",
                                       "issue": [{"severity": "error", "code": mapped.code}]})
