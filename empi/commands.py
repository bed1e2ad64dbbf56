"""Typed commands and results that adapters (MLLP, FHIR, CLI, web) hand to the domain core.

Demographic fields follow HL7 update semantics: a field left as ``UNSET`` keeps the stored value,
``None`` (or an empty list) deletes it, anything else replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Final


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset()


@dataclass(frozen=True, slots=True)
class RecordKey:
    """A source record's key: the identifier and the namespace of its (resolved) domain."""

    identifier: str
    domain: str


@dataclass(slots=True)
class PersonName:
    family: str | None = None
    given: str | None = None
    middle: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    use: str | None = None  # HL7 table 0200: L legal, M maiden, A alias, D display ...

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    province: str | None = None
    postal_code: str | None = None
    country: str | None = None
    use: str | None = None  # H home, M mailing, ...

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class OtherIdentifier:
    """An identifier the record carries besides its key (SSN, driver's licence, another domain's MRN)."""

    value: str
    domain: str | None = None  # namespace when the authority is a configured domain
    type: str | None = None  # HL7 table 0203 (SS, DL, PI, JHN, AN, ...)
    authority: str | None = None  # the raw authority when it is not a configured domain

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class Demographics:
    names: list[PersonName] | None | Any = UNSET  # first is the primary (legal) name
    birth_date: str | None | Any = UNSET  # ISO date, possibly partial (YYYY or YYYY-MM)
    sex: str | None | Any = UNSET  # HL7 0001: M F O U A N
    addresses: list[Address] | None | Any = UNSET
    phones: list[str] | None | Any = UNSET
    health_card: str | None | Any = UNSET
    health_card_version: str | None | Any = UNSET
    ssn: str | None | Any = UNSET
    mothers_maiden_name: str | None | Any = UNSET
    account_number: str | None | Any = UNSET
    other_identifiers: list[OtherIdentifier] | None | Any = UNSET
    is_deceased: bool | None | Any = UNSET

    def given(self) -> dict[str, Any]:
        """The fields that were given (set or deleted), by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not UNSET}


class FeedEvent(StrEnum):
    CREATE = "create"  # A01 A04 A05 A28, FHIR create
    UPDATE = "update"  # A08 A31, FHIR update: creates the record when it is unknown


@dataclass(slots=True)
class RegisterSourceRecord:
    key: RecordKey
    demographics: Demographics = field(default_factory=Demographics)
    event: FeedEvent = FeedEvent.CREATE
    source: str = ""  # who sent it (MSH-3|MSH-4, a FHIR client name), for the link history


@dataclass(slots=True)
class MergeRecords:
    """The subsumed record's identifier is replaced by the surviving one (ITI-8 A40, ITI-104 replaced-by)."""

    surviving: RecordKey
    subsumed: RecordKey
    demographics: Demographics | None = None
    source: str = ""


class LinkMethod(StrEnum):
    NEW = "new"  # no candidate: a new person
    DETERMINISTIC = "deterministic"  # same valid health-card number
    SCORECARD = "scorecard"  # total above the upper threshold
    MANUAL = "manual"  # a steward or an explicit link message
    MERGE = "merge"  # an A40 / replaced-by merge


class FeedOutcome(StrEnum):
    LINKED = "linked"  # joined an existing person
    NEW_PERSON = "new_person"
    REVIEW = "review"  # a new person and a review task
    UNCHANGED = "unchanged"  # kept its link (manual, or still the best)


@dataclass(slots=True)
class FeedResult:
    record_id: int
    person_id: int
    regional_id: str
    created: bool
    outcome: FeedOutcome
    score: float | None = None
    review_task_id: int | None = None
    changed_persons: tuple[int, ...] = ()  # persons whose cross-references changed (for ITI-10)


@dataclass(frozen=True, slots=True)
class CrossReference:
    """One identifier of the person, in a domain."""

    identifier: str
    domain: str
    record_id: int | None  # None for the regional ID


@dataclass(slots=True)
class CrossReferences:
    person_id: int
    regional_id: str
    identifiers: list[CrossReference]
