"""``GET /fhir/metadata``: the CapabilityStatement, declaring exactly what this server supports
(PIXm Manager, PDQm Supplier; conditional update and delete; the search parameters of pdqm.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from api.fhir.auth import SCOPES
from api.fhir.formats import negotiate, render
from api.fhir.router import PREFIX, fhir_router

router = fhir_router()

SEARCH_PARAMS = (
    ("_id", "token"), ("active", "token"), ("family", "string"), ("given", "string"), ("name", "string"),
    ("identifier", "token"), ("telecom", "token"), ("birthdate", "date"), ("gender", "token"),
    ("address", "string"), ("address-city", "string"), ("address-country", "string"),
    ("address-postalcode", "string"), ("address-state", "string"), ("mothersMaidenName", "string"),
)
MOTHERS_MAIDEN_SP = "https://profiles.ihe.net/ITI/PDQm/SearchParameter/PatientMothersMaidenName"


def capability_statement(base: str) -> CapabilityStatement:
    params: list[dict[str, Any]] = []
    for name, kind in SEARCH_PARAMS:
        p: dict[str, Any] = {"name": name, "type": kind}
        if name == "mothersMaidenName":
            p["definition"] = MOTHERS_MAIDEN_SP
        params.append(p)
    patient = {
        "type": "Patient",
        "profile": "http://hl7.org/fhir/StructureDefinition/Patient",
        "documentation": "A Patient is one source record; its id is the record's id. update and delete are "
                         "conditional only (?identifier=system|value, ITI-104); a Patient with link "
                         "replaced-by merges its identifier into the surviving one.",
        "interaction": [{"code": c} for c in ("read", "search-type", "update", "delete")],
        "versioning": "no-version",
        "updateCreate": True,
        "conditionalCreate": False,
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "searchParam": params,
        "operation": [
            {"name": "ihe-pix", "definition": "https://profiles.ihe.net/ITI/PIXm/OperationDefinition/IHE.PIXm.pix"},
            {"name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match"},
        ],
    }
    scopes = "; ".join(f"{k}: {v}" for k, v in SCOPES.items())
    return CapabilityStatement.parse_obj({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "publisher": "EMPI",
        "kind": "instance",
        "instantiates": ["https://profiles.ihe.net/ITI/PIXm/CapabilityStatement/IHE.PIXm.Manager",
                         "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.Supplier"],
        "software": {"name": "EMPI", "version": "0.1.0"},
        "implementation": {"description": "EMPI PIXm Manager and PDQm Supplier", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/fhir+xml", "json", "xml"],
        "rest": [{
            "mode": "server",
            "documentation": "PIXm (ITI-83, ITI-104 with Remove Patient) and PDQm (ITI-78, ITI-119).",
            "security": {
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                         "code": "OAuth"}]}],
                "description": "Bearer token of a registered client (empi clients add NAME --scope ...). "
                               f"Scopes are IHE IUA transaction scopes: {scopes}. Only /metadata is open.",
            },
            "resource": [patient],
            "operation": [
                {"name": "ihe-pix", "definition": "https://profiles.ihe.net/ITI/PIXm/OperationDefinition/IHE.PIXm.pix"},
                {"name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match"},
            ],
        }],
    })


@router.get("/metadata")
def metadata(request: Request) -> Response:
    fmt = negotiate(request)
    return render(capability_statement(f"{str(request.base_url).rstrip('/')}{PREFIX}"), fmt)
