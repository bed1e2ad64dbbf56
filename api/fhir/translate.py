"""Domain <-> FHIR (fhir.resources R4B): Patient to commands, source records and cross-references to
Patient, Parameters and Bundle resources.

Patient logical ids: a Patient resource is one source record, and its id is the record's database id
(``Patient/17``). It is URL-safe, never changes when the record's demographics change, and survives
an identifier change by merge; a record merged away or deleted answers 404.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, TypeVar

from fhir.resources.core.fhirabstractmodel import FHIRAbstractModel
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.parameters import Parameters, ParametersParameter
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.reference import Reference

from api.fhir.errors import FhirError
from empi.commands import Address, CrossReferences, Demographics, OtherIdentifier, PersonName, RecordKey
from empi.config import DomainRegistry
from empi.models import SourceRecord

MOTHERS_MAIDEN_NAME = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
SSN_SYSTEMS = ("http://hl7.org/fhir/sid/us-ssn", "urn:oid:2.16.840.1.113883.4.1")
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"

GENDER_TO_SEX = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
SEX_TO_GENDER = {"M": "male", "F": "female", "O": "other", "U": "unknown", "A": "other", "N": "unknown"}
NAME_USE_TO_V2 = {"official": "L", "maiden": "M", "nickname": "N", "usual": "D", "anonymous": "A", "temp": "T"}
V2_TO_NAME_USE = {v: k for k, v in NAME_USE_TO_V2.items()}
ADDRESS_USE_TO_V2 = {"home": "H", "work": "B", "temp": "C", "billing": "BI", "old": "BA"}
V2_TO_ADDRESS_USE = {v: k for k, v in ADDRESS_USE_TO_V2.items()}


def split_token(token: str, param: str) -> tuple[str | None, str | None]:
    """A FHIR token ``system|value``: ('s', 'v'); ``system|`` gives ('s', None); ``|value`` gives
    ('', 'v') (no system); ``value`` gives (None, 'v') (any system)."""
    if "|" not in token:
        return None, token or None
    system, _, value = token.partition("|")
    if not system and not value:
        raise FhirError(400, "invalid", f"{param}: an empty token", expression=param)
    return system, value or None


def record_key(token: str | None, registry: DomainRegistry, param: str = "identifier") -> RecordKey:
    """The source-record key named by ``system|value`` (conditional PUT/DELETE, sourceIdentifier)."""
    if not token:
        raise FhirError(400, "required", f"{param} is required as system|value", expression=param)
    system, value = split_token(token, param)
    if not system or not value:
        raise FhirError(400, "invalid", f"{param} must be system|value, with both parts", expression=param)
    domain = registry.by_system(system)
    if domain is None:
        raise FhirError(400, "code-invalid", f"{param} Assigning Authority not found", expression=param)
    return RecordKey(identifier=value, domain=domain.namespace)


# --- FHIR -> domain ------------------------------------------------------------------------------

def demographics(patient: Patient, key: RecordKey | None, registry: DomainRegistry) -> Demographics:
    """The Patient as a full replacement (FHIR update): anything absent is deleted. ``key``: the record
    the Patient is fed for, which its identifiers must include ($match input has none)."""
    mapped = _identifiers(patient, key, registry)
    if patient.gender and patient.gender not in GENDER_TO_SEX:
        raise FhirError(400, "code-invalid", "Patient.gender must be male, female, other or unknown",
                        expression="Patient.gender")
    born = patient.birthDate
    return Demographics(
        names=[_name(n) for n in patient.name or []],
        birth_date=born.isoformat() if isinstance(born, date) else (str(born) if born else None),
        sex=GENDER_TO_SEX[patient.gender] if patient.gender else None,
        addresses=[_address(a) for a in patient.address or []],
        phones=[t.value for t in patient.telecom or [] if t.value and t.system in (None, "phone", "sms")],
        mothers_maiden_name=_extension_string(patient, MOTHERS_MAIDEN_NAME),
        is_deceased=True if patient.deceasedBoolean or patient.deceasedDateTime else
        (False if patient.deceasedBoolean is False else None),
        **mapped,
    )


def _name(n: Any) -> PersonName:
    given = list(n.given or [])
    return PersonName(family=n.family, given=given[0] if given else None,
                      middle=" ".join(given[1:]) or None, prefix=(n.prefix or [None])[0],
                      suffix=(n.suffix or [None])[0], use=NAME_USE_TO_V2.get(n.use or ""))


def _address(a: Any) -> Address:
    lines = list(a.line or [])
    return Address(line1=lines[0] if lines else None, line2=" ".join(lines[1:]) or None, city=a.city,
                   province=a.state, postal_code=a.postalCode, country=a.country,
                   use=ADDRESS_USE_TO_V2.get(a.use or ""))


def _extension_string(patient: Patient, url: str) -> str | None:
    return next((e.valueString for e in patient.extension or [] if e.url == url and e.valueString), None)


def _type_code(ident: Any) -> str | None:
    codings = ident.type.coding if ident.type and ident.type.coding else []
    return next((c.code for c in codings if c.code), None)


def _identifiers(patient: Patient, key: RecordKey | None, registry: DomainRegistry) -> dict[str, Any]:
    """Split Patient.identifier into the record key (checked), health card, SSN, account and others."""
    found_key = False
    health_card = ssn = account = None
    others: list[OtherIdentifier] = []
    card_domain = registry.health_card
    for ident in patient.identifier or []:
        if not ident.value:
            continue
        domain = registry.by_system(ident.system) if ident.system else None
        code = _type_code(ident)
        if key is not None and domain is not None and (domain.namespace, ident.value) == (key.domain, key.identifier):
            found_key = True
        elif card_domain is not None and domain is card_domain:
            health_card = ident.value
        elif ident.system in SSN_SYSTEMS or code == "SS":
            ssn = ident.value
        elif code == "AN":
            account = ident.value
        else:
            others.append(OtherIdentifier(value=ident.value, domain=domain.namespace if domain else None,
                                          type=code, authority=None if domain else ident.system))
    if key is not None and patient.identifier and not found_key:
        raise FhirError(400, "invalid", "the Patient's identifiers do not include the identifier of the request URL",
                        expression="Patient.identifier")
    return {"health_card": health_card, "ssn": ssn, "account_number": account, "other_identifiers": others}


def replaced_by(patient: Patient, registry: DomainRegistry) -> tuple[str, str] | None:
    """The surviving identifier of a ``link[type=replaced-by]`` as (system, value), or a record id
    given as a reference ('ref', '17'); None when there is no such link."""
    for link in patient.link or []:
        if link.type != "replaced-by":
            continue
        other = link.other
        if other.identifier is not None and other.identifier.system and other.identifier.value:
            return other.identifier.system, other.identifier.value
        if other.reference and other.reference.startswith("Patient/"):
            return "ref", other.reference.split("/", 1)[1]
        raise FhirError(400, "invalid", "link replaced-by needs other.identifier (system and value) or a "
                                        "Patient reference", expression="Patient.link.other")
    return None


# --- domain -> FHIR ------------------------------------------------------------------------------

def patient(record: SourceRecord, registry: DomainRegistry, *, linked: Sequence[int] = (),
            domains: set[str] | None = None) -> Patient:
    """The source record as a Patient. ``linked``: record ids of the same person (Patient.link seealso).
    ``domains``: when given, identifiers outside these namespaces are left out (PDQm domain filter)."""
    data: dict[str, Any] = {"resourceType": "Patient", "id": str(record.id), "active": record.status == "active"}
    data["identifier"] = _out_identifiers(record, registry, domains)
    names = [_out_name(n) for n in record.names or []]
    if names:
        data["name"] = names
    if record.sex in SEX_TO_GENDER:
        data["gender"] = SEX_TO_GENDER[record.sex]
    if record.birth_date:
        data["birthDate"] = record.birth_date
    addresses = [_out_address(a) for a in record.addresses or []]
    if addresses:
        data["address"] = addresses
    if record.phones:
        data["telecom"] = [{"system": "phone", "value": p} for p in record.phones]
    if record.is_deceased is not None:
        data["deceasedBoolean"] = record.is_deceased
    if record.mothers_maiden_name:
        data["extension"] = [{"url": MOTHERS_MAIDEN_NAME, "valueString": record.mothers_maiden_name}]
    links = [{"other": {"reference": f"Patient/{rid}"}, "type": "seealso"} for rid in linked]
    if record.status == "merged" and record.merged_into_id:
        links.insert(0, {"other": {"reference": f"Patient/{record.merged_into_id}"}, "type": "replaced-by"})
    if links:
        data["link"] = links
    return Patient.parse_obj(data)


def _out_identifiers(record: SourceRecord, registry: DomainRegistry, domains: set[str] | None) -> list[dict[str, Any]]:
    def wanted(namespace: str | None) -> bool:
        return domains is None or (namespace is not None and namespace.upper() in domains)

    out: list[dict[str, Any]] = []
    own = registry.get(record.domain)
    if own is not None and wanted(own.namespace):
        out.append({"use": "usual", "system": own.system, "value": record.identifier})
    card = registry.health_card
    if record.health_card and card is not None and wanted(card.namespace):
        out.append({"system": card.system, "value": record.health_card})
    for other in record.other_identifiers or []:
        d = registry.get(other["domain"]) if other.get("domain") else None
        if not wanted(d.namespace if d else None):
            continue
        ident: dict[str, Any] = {"value": other["value"]}
        system = d.system if d else other.get("authority")
        if system and ":" in system and " " not in system:  # a URI (urn:oid:..., http...)
            ident["system"] = system
        elif system:  # an HL7 authority name that is not a configured domain
            ident["assigner"] = {"display": system}
        if other.get("type"):
            ident["type"] = {"coding": [{"system": V2_0203, "code": other["type"]}]}
        out.append(ident)
    if domains is None and record.ssn:
        out.append({"system": SSN_SYSTEMS[0], "value": record.ssn,
                    "type": {"coding": [{"system": V2_0203, "code": "SS"}]}})
    if domains is None and record.account_number:
        out.append({"value": record.account_number, "type": {"coding": [{"system": V2_0203, "code": "AN"}]}})
    return out


def _out_name(n: dict[str, Any]) -> dict[str, Any]:
    given = [g for g in (n.get("given"), *(n.get("middle") or "").split()) if g]
    out: dict[str, Any] = {k: v for k, v in (("family", n.get("family")), ("given", given),
                                             ("prefix", [n["prefix"]] if n.get("prefix") else None),
                                             ("suffix", [n["suffix"]] if n.get("suffix") else None),
                                             ("use", V2_TO_NAME_USE.get(n.get("use") or ""))) if v}
    return out


def _out_address(a: dict[str, Any]) -> dict[str, Any]:
    lines = [x for x in (a.get("line1"), a.get("line2")) if x]
    pairs = (("line", lines), ("city", a.get("city")), ("state", a.get("province")),
             ("postalCode", a.get("postal_code")), ("country", a.get("country")),
             ("use", V2_TO_ADDRESS_USE.get(a.get("use") or "")))
    return {k: v for k, v in pairs if v}


def pix_parameters(xrefs: CrossReferences, registry: DomainRegistry) -> Parameters:
    """ITI-83 response: a targetIdentifier per identifier and a targetId per source record.

    The hot path of PIXm, so the models are constructed without re-validating values that come
    from configuration and the database (:func:`construct`); the tests parse every response back."""
    params: list[ParametersParameter] = []
    for ref in xrefs.identifiers:
        domain = registry.get(ref.domain)
        if domain is None:
            continue
        params.append(construct(ParametersParameter, name="targetIdentifier",
                                valueIdentifier=construct(Identifier, system=domain.system, value=ref.identifier)))
        if ref.record_id is not None:
            params.append(construct(ParametersParameter, name="targetId",
                                    valueReference=construct(Reference, reference=f"Patient/{ref.record_id}")))
    return construct(Parameters, parameter=params) if params else construct(Parameters)


M = TypeVar("M", bound=FHIRAbstractModel)
_UNSET: dict[type[Any], dict[str, Any]] = {}


def construct(cls: type[M], **values: Any) -> M:
    """``cls.construct(**values)`` for field names, without its per-field default lookup.

    pydantic v1's ``construct`` copies the default of every field (ParametersParameter has 78, so about
    12 us an instance); FHIR element defaults are None or the constant resource type, so one dict of
    them per class is shared. Values are not validated: callers pass values they took from
    configuration and the database."""
    unset = _UNSET.get(cls)
    if unset is None:
        unset = _UNSET[cls] = {name: field.default for name, field in cls.__fields__.items() if not field.required}
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", {**unset, **values})
    object.__setattr__(model, "__fields_set__", set(values))
    return model


def searchset(entries: Iterable[dict[str, Any]], *, total: int, links: Sequence[tuple[str, str]]) -> Bundle:
    data: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": total,
                            "link": [{"relation": rel, "url": url} for rel, url in links]}
    entries = list(entries)
    if entries:
        data["entry"] = entries
    return Bundle.parse_obj(data)
