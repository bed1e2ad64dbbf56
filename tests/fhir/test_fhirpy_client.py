"""A real FHIR client library (fhirpy, from PyPI) against the app under uvicorn: conditional update,
search with paging, read, $ihe-pix, $match, conditional delete and error handling."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.patient import Patient
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome as FhirpyOutcome
from fhirpy.base.exceptions import ResourceNotFound

from empi.runtime import Runtime
from tests.fhir.support import BLUE, GREEN, RED, live_server, new_token, pixm_ihe


def _patient(system: str, value: str) -> dict[str, object]:
    return {"resourceType": "Patient", "identifier": [{"system": system, "value": value}],
            "name": [{"family": "MOHR", "given": ["ALICE"]}], "gender": "female", "birthDate": "1958-01-30"}


def test_fhirpy_round_trip_when_talking_to_the_live_server(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime(pixm_ihe())
    token = new_token(rt, "fhirpy-device")
    with live_server(rt) as server:
        client = SyncFHIRClient(server.url, authorization=f"Bearer {token}",
                                extra_headers={"Accept": "application/fhir+json"})
        # ITI-104 through fhirpy's conditional update: created, then updated
        created = {}
        for system, value in ((RED, "FP-RED"), (BLUE, "FP-BLUE"), (GREEN, "FP-GREEN")):
            resource = client.resource("Patient", **_patient(system, value))
            saved, was_created = client.resources("Patient").search(identifier=f"{system}|{value}").update(resource)
            assert was_created
            created[value] = saved["id"]
        _, was_created = client.resources("Patient").search(identifier=f"{RED}|FP-RED").update(
            client.resource("Patient", **_patient(RED, "FP-RED")))
        assert not was_created

        # ITI-78: search, following the server's paging links one Patient at a time
        found = client.resources("Patient").search(family="MOHR", gender="female").limit(1).fetch_all()
        assert sorted(p["id"] for p in found) == sorted(created.values())
        assert client.resources("Patient").search(family="MOHR").count() == 3
        raw = client.resources("Patient").search(family="MOHR").fetch_raw()
        assert Bundle.parse_obj(raw).total == 3
        red = client.reference("Patient", created["FP-RED"]).to_resource()
        assert Patient.parse_obj(red.serialize()).identifier[0].value == "FP-RED"

        # ITI-83 and ITI-119 through fhirpy's operation call
        pix = client.execute("Patient/$ihe-pix", method="get", params={"sourceIdentifier": f"{RED}|FP-RED"})
        params = Parameters.parse_obj(pix)
        assert {p.valueIdentifier.value for p in params.parameter if p.name == "targetIdentifier"} == {
            "FP-BLUE", "FP-GREEN"}
        bundle = client.execute("Patient/$match", data={"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": _patient(BLUE, "probe")}, {"name": "count", "valueInteger": 2}]})
        assert len(Bundle.parse_obj(bundle).entry) == 2

        # errors arrive as OperationOutcomes that fhirpy understands
        with pytest.raises(ResourceNotFound):
            client.reference("Patient", "424242").to_resource()
        with pytest.raises(FhirpyOutcome) as bad:
            client.execute("Patient/$ihe-pix", method="get", params={"sourceIdentifier": "urn:oid:9.9|X"})
        assert "Assigning Authority not found" in str(bad.value)

        # conditional delete
        client.resources("Patient").search(identifier=f"{GREEN}|FP-GREEN").delete()
        assert client.resources("Patient").search(family="MOHR").count() == 2
