"""FHIR errors: the one table mapping core errors to an HTTP status and an OperationOutcome issue code.

Adapter-level problems (a malformed parameter, a missing token, an unsupported format) raise
:class:`FhirError` directly with their own status; everything from ``empi`` goes through ``TABLE``.
"""

from __future__ import annotations

from dataclasses import dataclass

from empi import errors as core


class FhirError(Exception):
    """An error answered with an OperationOutcome."""

    def __init__(self, status: int, code: str, diagnostics: str, *, severity: str = "error",
                 expression: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code  # http://hl7.org/fhir/issue-type
        self.diagnostics = diagnostics
        self.severity = severity
        self.expression = expression
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class Mapping:
    status: int
    code: str


# Most specific class first: the first isinstance match wins.
TABLE: tuple[tuple[type[core.EmpiError], Mapping], ...] = (
    (core.MalformedAuthority, Mapping(400, "code-invalid")),
    (core.UnknownAuthority, Mapping(400, "code-invalid")),
    (core.UnknownIdentifier, Mapping(404, "not-found")),
    (core.NotFound, Mapping(404, "not-found")),
    (core.AlreadyResolved, Mapping(409, "conflict")),
    (core.Conflict, Mapping(409, "conflict")),
    (core.InvalidInput, Mapping(422, "invalid")),
    (core.EmpiError, Mapping(400, "processing")),
)


def from_core(exc: core.EmpiError) -> FhirError:
    mapping = next(m for cls, m in TABLE if isinstance(exc, cls))
    return FhirError(mapping.status, mapping.code, exc.message, expression=exc.field)
