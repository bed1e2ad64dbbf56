"""Reply building blocks for ITI TF-2 Appendix C: MSH, MSA and ERR segments, and the ACK itself.

This module also holds the adapter's one mapping table from :class:`~empi.errors.EmpiError` to an
acknowledgment code and an HL7 table 0357 error code. Replies are always written with the standard
encoding characters ``|^~\\&``; values are escaped here, never by callers.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from empi.errors import (
    Conflict,
    EmpiError,
    InvalidInput,
    MalformedAuthority,
    NotFound,
    UnknownAuthority,
    UnknownIdentifier,
)

# HL7 table 0357 (message error condition codes) used by this adapter.
SEGMENT_SEQUENCE = 100
REQUIRED_FIELD_MISSING = 101
DATA_TYPE_ERROR = 102
UNSUPPORTED_MESSAGE_TYPE = 200
UNSUPPORTED_EVENT = 201
UNKNOWN_KEY = 204
DUPLICATE_KEY = 205
INTERNAL_ERROR = 207

ERROR_TEXT = {
    SEGMENT_SEQUENCE: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT: "Unsupported trigger event",
    UNKNOWN_KEY: "Unknown key identifier",
    DUPLICATE_KEY: "Duplicate key identifier",
    INTERNAL_ERROR: "Application internal error",
}

# The one EmpiError -> (MSA-1, 0357 code) table; the most specific class comes first.
ERROR_TABLE: tuple[tuple[type[EmpiError], str, int], ...] = (
    (MalformedAuthority, "AE", UNKNOWN_KEY),
    (UnknownAuthority, "AE", UNKNOWN_KEY),
    (UnknownIdentifier, "AE", UNKNOWN_KEY),
    (NotFound, "AE", UNKNOWN_KEY),
    (InvalidInput, "AE", DATA_TYPE_ERROR),
    (Conflict, "AE", DUPLICATE_KEY),
    (EmpiError, "AE", INTERNAL_ERROR),
)

ENC = "^~\\&"
_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def escape(value: str) -> str:
    """Encode a text value for the standard separators (HL7 v2.5 ch. 2.7)."""
    for char, seq in _ESCAPES:
        if char in value:
            value = value.replace(char, seq)
    return value


@dataclass(frozen=True, slots=True)
class Location:
    """An ERR-2 error location (ERL): segment, sequence, field, repetition, component."""

    segment: str
    field: int
    repetition: int | None = None
    component: int | None = None
    sequence: int = 1

    def erl(self) -> str:
        parts = [self.segment, str(self.sequence), str(self.field)]
        if self.repetition is not None or self.component is not None:
            parts.append(str(self.repetition or 1))
        if self.component is not None:
            parts.append(str(self.component))
        return "^".join(parts)

    @classmethod
    def parse(cls, spec: str | None, index: int = 0) -> Location | None:
        """``"PID-3.4"`` with a 0-based repetition ``index`` -> PID^1^3^<index+1>^4."""
        if not spec or "-" not in spec:
            return None
        seg, _, rest = spec.partition("-")
        field, _, comp = rest.partition(".")
        if len(seg) != 3 or not seg.isalnum() or not field.isdigit():
            return None
        component = int(comp) if comp.isdigit() else None
        repetition = index + 1 if component is not None or index else None
        return cls(seg.upper(), int(field), repetition, component)


@dataclass(frozen=True, slots=True)
class Failure:
    """An error to report: MSA-1, the 0357 code, where it is, and a PHI-free diagnostic."""

    ack_code: str
    code: int
    location: Location | None = None
    text: str = ""


def failure_for(exc: EmpiError, default: Location | None = None) -> Failure:
    """Map a domain error through :data:`ERROR_TABLE`; ``default`` locates errors without a usable field."""
    for kind, ack_code, code in ERROR_TABLE:
        if isinstance(exc, kind):
            location = Location.parse(exc.field, exc.index) or default
            return Failure(ack_code, code, location, exc.message)
    raise AssertionError("EmpiError is the last row")  # pragma: no cover


_counter = itertools.count(1)
_PREFIX = f"{os.getpid() % 100000:05d}"


def control_id() -> str:
    """A unique MSH-10 (fits the 20 characters of v2.3.1 ST)."""
    return f"E{_PREFIX}{time.time_ns() // 1_000_000 % 10**9:09d}{next(_counter) % 100000:05d}"


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What a reply copies from its request (all raw, already-encoded text)."""

    sending_application: str = ""  # request MSH-3.1 -> reply MSH-5
    sending_facility: str = ""  # request MSH-4.1 -> reply MSH-6
    control_id: str = ""  # request MSH-10 -> MSA-2, verbatim
    processing_id: str = "P"
    version: str = "2.5"
    trigger: str = ""


def msh(ctx: ReplyContext, *, application: str, facility: str, message_type: str, version: str) -> str:
    return "|".join(["MSH", ENC, escape(application), escape(facility), ctx.sending_application,
                     ctx.sending_facility, timestamp(), "", message_type, control_id(),
                     ctx.processing_id or "P", version])


def msa(ack_code: str, ctx: ReplyContext) -> str:
    return f"MSA|{ack_code}|{ctx.control_id}"


def err(failure: Failure, *, version: str) -> str:
    """ERR with ERR-2/3/4 (v2.5) and, for v2.4 and earlier requests, also the ERR-1 ELD."""
    text = ERROR_TEXT.get(failure.code, "Error")
    loc = failure.location
    eld = ""
    if _before_25(version):
        where = f"{loc.segment}^{loc.sequence}^{loc.field}" if loc else "^^"
        eld = f"{where}^{failure.code}&{text}&HL70357"
    erl = loc.erl() if loc else ""
    return f"ERR|{eld}|{erl}|{failure.code}^{text}^HL70357|E"


def _before_25(version: str) -> bool:
    parts = version.split(".")
    try:
        return (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0) < (2, 5)
    except ValueError:
        return False


def ack(ctx: ReplyContext, *, application: str, facility: str, ack_code: str = "AA",
        failures: tuple[Failure, ...] = ()) -> str:
    """An original-mode ACK: MSH-9 ``ACK^<trigger>^ACK``, MSH-12 echoing the request version."""
    version = ctx.version or "2.5"
    message_type = f"ACK^{ctx.trigger}^ACK" if ctx.trigger else "ACK"
    segments = [msh(ctx, application=application, facility=facility, message_type=message_type, version=version),
                msa(ack_code, ctx)]
    segments += [err(f, version=version) for f in failures]
    return "\r".join(segments) + "\r"
