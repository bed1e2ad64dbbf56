"""FHIR wire formats: JSON and XML out (``_format`` first, then ``Accept``) and in (``Content-Type``).

Unsupported output formats get 406, unsupported request bodies 415; both as OperationOutcomes.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fhir.resources.R4B import construct_fhir_element, get_fhir_model_class
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.resource import Resource
from pydantic.v1 import ValidationError

from api.fhir.errors import FhirError

JSON, XML = "json", "xml"
MEDIA = {JSON: "application/fhir+json; charset=utf-8", XML: "application/fhir+xml; charset=utf-8"}
_FORMATS = {
    "json": JSON, "application/json": JSON, "application/fhir+json": JSON, "application/json+fhir": JSON,
    "xml": XML, "text/xml": XML, "application/xml": XML, "application/fhir+xml": XML,
    "application/xml+fhir": XML,
}
_ANY = {"*/*", "application/*", ""}


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def negotiate(request: Request) -> str:
    """The response format: ``_format`` wins over ``Accept``; JSON when the client does not care."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        chosen = _FORMATS.get(_media_type(fmt.replace(" ", "+")))  # '+' arrives as a space when unescaped
        if chosen is None:
            raise FhirError(406, "not-supported", "_format is not supported; use json or xml")
        return chosen
    accept = request.headers.get("accept", "")
    for part in (p for p in accept.split(",")):
        media = _media_type(part)
        if media in _FORMATS:
            return _FORMATS[media]
        if media in _ANY or media.startswith("text/html"):
            return JSON
    if not accept.strip():
        return JSON
    raise FhirError(406, "not-supported", "none of the Accept media types is supported; use FHIR JSON or XML")


def safe_format(request: Request) -> str:
    """The format for an error reply: the negotiated one when possible, JSON otherwise."""
    try:
        return negotiate(request)
    except FhirError:
        return JSON


def render(resource: Resource, fmt: str, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = resource.xml() if fmt == XML else resource.json()
    return Response(content=body, status_code=status, media_type=MEDIA[fmt], headers=headers)


def outcome(error: FhirError) -> OperationOutcome:
    issue: dict[str, Any] = {"severity": error.severity, "code": error.code, "diagnostics": error.diagnostics,
                             "details": {"text": error.diagnostics}}
    if error.expression:
        issue["expression"] = [error.expression]
    return OperationOutcome(issue=[issue])


def render_error(error: FhirError, fmt: str) -> Response:
    return render(outcome(error), fmt, status=error.status, headers=error.headers)


def body_format(request: Request) -> str:
    """The request body's format from Content-Type (JSON when absent); 415 when unsupported."""
    fmt = _FORMATS.get(_media_type(request.headers.get("content-type", "application/fhir+json")))
    if fmt is None:
        raise FhirError(415, "not-supported", "the request body must be FHIR JSON or XML")
    return fmt


async def read_resource(request: Request, expected: tuple[str, ...]) -> Resource:
    """Parse the request body as one of the ``expected`` resource types (JSON or XML)."""
    fmt = body_format(request)
    raw = await request.body()
    if not raw.strip():
        raise FhirError(400, "required", "the request body is empty")
    return parse_resource(raw, fmt, expected)


def parse_resource(raw: bytes, fmt: str, expected: tuple[str, ...]) -> Resource:
    try:
        if fmt == XML:
            kind = _xml_root(raw)
            if kind not in expected:
                raise FhirError(400, "structure", f"expected a {' or '.join(expected)} resource, got {kind}")
            cls = get_fhir_model_class(kind)
            return cls.parse_raw(raw, content_type="text/xml")  # type: ignore[no-any-return]
        import json

        data = json.loads(raw)
        kind = data.get("resourceType") if isinstance(data, dict) else None
        if kind not in expected:
            raise FhirError(400, "structure", f"expected a {' or '.join(expected)} resource, got {kind or 'none'}")
        return construct_fhir_element(kind, data)  # type: ignore[no-any-return]
    except FhirError:
        raise
    except ValidationError as exc:
        raise FhirError(400, "structure", "the resource is not valid FHIR: " + _validation_text(exc)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise FhirError(400, "structure", f"the request body is not well-formed {fmt.upper()}: "
                                          f"{str(exc).splitlines()[0][:200]}") from None


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        parts.append(f"{where or 'resource'}: {err.get('msg')}")
    return "; ".join(parts)


def _xml_root(raw: bytes) -> str:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(raw, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise FhirError(400, "structure", f"the request body is not well-formed XML: {exc}") from None
    return str(etree.QName(root).localname)
