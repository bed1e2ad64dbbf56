"""ORM models: one module, as patients, records and links reference each other too much to split."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


TZ = DateTime(timezone=True)


class Person(Base):
    """An enterprise identity; every active source record is linked to exactly one."""

    __tablename__ = "person"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    regional_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow, onupdate=utcnow)


class SourceRecord(Base):
    """One system's record of a patient, keyed by (domain, identifier)."""

    __tablename__ = "source_record"
    __table_args__ = (
        UniqueConstraint("domain", "identifier"),
        Index("ix_source_record_family_norm", "family_norm"),
        Index("ix_source_record_birth_date", "birth_date"),
        Index("ix_source_record_account_number", "account_number"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | merged | deleted
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("source_record.id"))
    # primary demographics, as received (the first name / address / phone repetition)
    family_name: Mapped[str | None] = mapped_column(String(128))
    given_name: Mapped[str | None] = mapped_column(String(128))
    middle_name: Mapped[str | None] = mapped_column(String(128))
    name_prefix: Mapped[str | None] = mapped_column(String(32))
    name_suffix: Mapped[str | None] = mapped_column(String(32))
    birth_date: Mapped[str | None] = mapped_column(String(10))
    sex: Mapped[str | None] = mapped_column(String(1))
    address_line: Mapped[str | None] = mapped_column(String(256))
    city: Mapped[str | None] = mapped_column(String(128))
    province: Mapped[str | None] = mapped_column(String(64))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    country: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(64))
    health_card: Mapped[str | None] = mapped_column(String(32), index=True)
    health_card_version: Mapped[str | None] = mapped_column(String(4))
    ssn: Mapped[str | None] = mapped_column(String(32))
    mothers_maiden_name: Mapped[str | None] = mapped_column(String(128))
    account_number: Mapped[str | None] = mapped_column(String(64))
    is_deceased: Mapped[bool | None] = mapped_column(Boolean)
    # every repetition, as received
    names: Mapped[list[Any]] = mapped_column(JSON, default=list)
    addresses: Mapped[list[Any]] = mapped_column(JSON, default=list)
    phones: Mapped[list[Any]] = mapped_column(JSON, default=list)
    other_identifiers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # search helpers (upper-case, accents and punctuation removed)
    family_norm: Mapped[str | None] = mapped_column(String(128))
    given_norm: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow, onupdate=utcnow)


class RecordName(Base):
    """Every name a record carries (legal, maiden, alias), normalised for demographic search."""

    __tablename__ = "record_name"
    __table_args__ = (Index("ix_record_name_family_given", "family_norm", "given_norm"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"), index=True)
    family_norm: Mapped[str | None] = mapped_column(String(128))
    given_norm: Mapped[str | None] = mapped_column(String(128))
    use: Mapped[str | None] = mapped_column(String(8))


class BlockingKey(Base):
    """Candidate-selection keys of a record (see scoring.blocking_keys)."""

    __tablename__ = "blocking_key"
    __table_args__ = (Index("ix_blocking_key_key_record_id", "key", "record_id"),)  # covering: candidates
    record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(96), primary_key=True)


class Link(Base):
    """The current link of a record to its person and how it was made."""

    __tablename__ = "link"
    record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))  # LinkMethod
    score: Mapped[float | None] = mapped_column(Float)
    scorecard_id: Mapped[str | None] = mapped_column(String(64))
    scorecard_version: Mapped[str | None] = mapped_column(String(32))
    breakdown: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128), default="system")
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class LinkEvent(Base):
    """History of every link change, append-only."""

    __tablename__ = "link_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # link | relink | unlink | merge | delete
    from_person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    to_person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    method: Mapped[str | None] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    scorecard_id: Mapped[str | None] = mapped_column(String(64))
    scorecard_version: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128), default="system")
    at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class ReviewTask(Base):
    """An uncertain link waiting for a steward."""

    __tablename__ = "review_task"
    __table_args__ = (Index("ix_review_task_status_created", "status", "created_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(32))  # uncertain | ambiguous | health_card_conflict
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved | superseded
    best_score: Mapped[float | None] = mapped_column(Float)
    candidates: Mapped[list[Any]] = mapped_column(JSON, default=list)
    scorecard_id: Mapped[str | None] = mapped_column(String(64))
    scorecard_version: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(TZ)
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolution: Mapped[str | None] = mapped_column(String(32))
    resolution_reason: Mapped[str | None] = mapped_column(Text)


class MatchExclusion(Base):
    """A steward's "different person": these two records are never linked or queued together again."""

    __tablename__ = "match_exclusion"
    record_a_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True)
    record_b_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True,
                                             index=True)
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class AuditEvent(Base):
    """Append-only record of every query and change: who, when, which patient, what, outcome."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_at", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    actor_type: Mapped[str] = mapped_column(String(16), default="system")  # system | user | client
    source_address: Mapped[str | None] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(32), index=True)  # ITI-9, ITI-8, review-decision ...
    action: Mapped[str] = mapped_column(String(1))  # C R U D E (DICOM/FHIR AuditEvent action)
    outcome: Mapped[int] = mapped_column(Integer, default=0)  # 0 success, 4 minor, 8 serious, 12 major
    patient_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ["ID^^^&OID&ISO", ...] / record ids
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    query: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AppUser(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))  # steward | viewer
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class UserSession(Base):
    __tablename__ = "user_session"
    token_hash: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TZ)


class ApiClient(Base):
    """An edge device or application allowed to call the FHIR API."""

    __tablename__ = "api_client"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    secret_hash: Mapped[str | None] = mapped_column(String(256))
    scopes: Mapped[str] = mapped_column(String(512))  # space-separated
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class OutboxMessage(Base):
    """A durable outgoing message (ITI-10 notification), delivered with retries."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_status_next", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consumer: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32), default="ITI-10")
    person_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(TZ)
