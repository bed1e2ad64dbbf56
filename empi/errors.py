"""Transport-neutral errors raised by the domain core.

    EmpiError
    ├── InvalidInput            bad content in a command (a required value missing, a bad date)
    ├── UnknownAuthority        an assigning authority that is not configured
    │   └── MalformedAuthority  a partial authority (universal ID without its type, type alone)
    ├── NotFound                a well-formed key that names nothing
    │   └── UnknownIdentifier   (identifier, domain) is not a known source record
    └── Conflict                the request contradicts stored state (already resolved, merged away)
        └── AlreadyResolved     a review task decided by someone else first

Each adapter has one table mapping these to its own codes (HL7 ERR, HTTP status).
`field` names the offending input so the adapter can point at it (for example "identifier.domain").
"""

from __future__ import annotations


class EmpiError(Exception):
    def __init__(self, message: str, *, field: str | None = None, index: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.index = index  # 0-based repetition of a repeating input, where it matters


class InvalidInput(EmpiError):
    pass


class UnknownAuthority(EmpiError):
    pass


class MalformedAuthority(UnknownAuthority):
    pass


class NotFound(EmpiError):
    pass


class UnknownIdentifier(NotFound):
    pass


class Conflict(EmpiError):
    pass


class AlreadyResolved(Conflict):
    pass
