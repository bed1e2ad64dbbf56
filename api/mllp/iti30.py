"""ITI-30 Patient Identity Management (HL7 v2.5): A28 create, A31 update, A47 change identifier,
A24 link and A37 unlink. (A40 merge is shared with ITI-8 and served by ``handlers.MERGE``.)

[ITI TF-2 3.30] A28/A31 carry one PID and feed the record like ITI-8 A04/A08. A47 carries the new
identifier in PID-3 and the incorrect one in MRG-1; it renames the record, and answers AE 205 when the
new identifier is already in use (that would be a merge, A40). A24 and A37 carry two PID segments:
the second patient is linked to (or unlinked from) the first one's person, as a manual decision that
automatic matching respects (see :mod:`empi.linkage`). Every message is audited (ITI-30, C for A28,
U otherwise), in the same transaction as the change, or after a rejection.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from api.mllp import acks, hl7v2
from api.mllp.acks import Failure, Location
from api.mllp.hl7v2 import Message, QueryError
from empi import audit, linkage, patients
from empi.commands import MergeRecords, RecordKey, RegisterSourceRecord
from empi.errors import Conflict, EmpiError, InvalidInput
from empi.records import get_record
from empi.runtime import Runtime

EVENT = "ITI-30"


def _ids(rt: Runtime, *keys: RecordKey) -> list[str]:
    out = []
    for key in keys:
        domain = rt.registry.get(key.domain)
        out.append(f"{key.identifier}^^^&{domain.universal_id if domain else key.domain}&ISO")
    return out


def _audit(session: Session, msg: Message, rt: Runtime, *, keys: tuple[RecordKey, ...] = (),
           person_id: int | None = None, outcome: int = audit.OUTCOME_SUCCESS) -> None:
    audit.record(session, event_type=EVENT, action="C" if msg.trigger == "A28" else "U",
                 actor="|".join(msg.sender) or "unknown", outcome=outcome, patient_ids=_ids(rt, *keys),
                 person_id=person_id, detail={"control_id": msg.control_id, "trigger": msg.trigger})


def _ack(msg: Message, rt: Runtime, _result: Any = None) -> str:
    return acks.ack(msg.context, application=rt.settings.application, facility=rt.settings.facility)


def _fail(msg: Message, rt: Runtime, failure: Failure) -> str:
    with rt.write() as session:
        _audit(session, msg, rt, outcome=audit.OUTCOME_MAJOR if failure.code == acks.INTERNAL_ERROR
               else audit.OUTCOME_SERIOUS)
    return acks.ack(msg.context, application=rt.settings.application, facility=rt.settings.facility,
                    ack_code=failure.ack_code, failures=(failure,))


def _placed(exc: EmpiError, sequence: int) -> QueryError:
    """An error in the ``sequence``-th PID segment, placed there (ERR-2 PID^<sequence>^3^...)."""
    failure = acks.failure_for(exc, Location("PID", 3, 1, 1))
    loc = failure.location or Location("PID", 3, 1, 1)
    return QueryError(exc.message, Location(loc.segment, loc.field, loc.repetition, loc.component, sequence),
                      failure.code)


# --- A28 / A31 --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedCommand:
    register: RegisterSourceRecord
    msg: Message


def _feed_decode(msg: Message, rt: Runtime) -> FeedCommand:
    return FeedCommand(hl7v2.register_command(msg, rt.registry), msg)


def _feed_run(session: Session, cmd: FeedCommand, rt: Runtime) -> Any:
    result = patients.register(session, cmd.register, rt=rt)
    _audit(session, cmd.msg, rt, keys=(cmd.register.key,), person_id=result.person_id)
    return result


def _feed_locate(exc: EmpiError) -> Location | None:
    field = exc.field or ""
    return Location("PID", 3, 1, 4 if field.endswith(".domain") else 1) if field.startswith("identifier") else None


# --- two-PID messages (A24, A37) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairCommand:
    first: RecordKey
    second: RecordKey
    msg: Message


def _pair_decode(msg: Message, rt: Runtime) -> PairCommand:
    pids = [s for s in msg.segments if s[:3] == "PID"]
    if len(pids) < 2:
        raise QueryError("A24/A37 need two PID segments", Location("PID", 3, sequence=len(pids) + 1),
                         acks.REQUIRED_FIELD_MISSING)
    keys = []
    for n, pid in enumerate(pids[:2], start=1):
        try:
            keys.append(hl7v2.register_command(replace(msg, segments=[msg.segments[0], pid]), rt.registry).key)
        except EmpiError as exc:
            raise _placed(exc, n) from None
    return PairCommand(keys[0], keys[1], msg)


def _pair_locate(exc: EmpiError) -> Location | None:
    return Location("PID", 3, 1, 1, sequence=2 if (exc.field or "").startswith("second") else 1)


def _link_run(session: Session, cmd: PairCommand, rt: Runtime) -> Any:
    changed = linkage.link_records(session, cmd.first, cmd.second, rt=rt, actor="|".join(cmd.msg.sender))
    _audit(session, cmd.msg, rt, keys=(cmd.first, cmd.second), person_id=changed[-1] if changed else None)
    return changed


def _unlink_run(session: Session, cmd: PairCommand, rt: Runtime) -> Any:
    changed = linkage.unlink_records(session, cmd.first, cmd.second, rt=rt, actor="|".join(cmd.msg.sender))
    _audit(session, cmd.msg, rt, keys=(cmd.first, cmd.second), person_id=changed[0] if changed else None)
    return changed


# --- A47 -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeIdentifier:
    merge: MergeRecords
    msg: Message


def _change_decode(msg: Message, rt: Runtime) -> ChangeIdentifier:
    return ChangeIdentifier(hl7v2.merge_command(msg, rt.registry), msg)


def _change_run(session: Session, cmd: ChangeIdentifier, rt: Runtime) -> Any:
    new, old = cmd.merge.surviving, cmd.merge.subsumed
    existing = get_record(session, RecordKey(new.identifier, new.domain))
    if existing is not None and existing.status != "deleted":
        raise Conflict("the new identifier is already in use (use A40 to merge)", field="surviving")
    if old.domain != new.domain:
        raise InvalidInput("MRG-1 must be in PID-3's domain", field="subsumed.domain")
    result = patients.merge(session, cmd.merge, rt=rt)
    _audit(session, cmd.msg, rt, keys=(old, new), person_id=result.person_id)
    return result


def _change_locate(exc: EmpiError) -> Location | None:
    field = exc.field or ""
    if field.startswith("subsumed"):
        return Location("MRG", 1, 1, 4 if field.endswith(".domain") else 1)
    return Location("PID", 3, 1, 4 if field.endswith(".domain") else 1)


# Handler fields for api.mllp.handlers (which imports this module, so this one cannot import it).
_FEED: dict[str, Any] = {"decode": _feed_decode, "run": _feed_run, "reply": _ack, "fail": _fail, "locate": _feed_locate}
HANDLERS: dict[tuple[str, str], dict[str, Any]] = {
    ("ADT", "A28"): _FEED,
    ("ADT", "A31"): _FEED,
    ("ADT", "A47"): {"decode": _change_decode, "run": _change_run, "reply": _ack, "fail": _fail, "locate": _change_locate},
    ("ADT", "A24"): {"decode": _pair_decode, "run": _link_run, "reply": _ack, "fail": _fail, "locate": _pair_locate},
    ("ADT", "A37"): {"decode": _pair_decode, "run": _unlink_run, "reply": _ack, "fail": _fail, "locate": _pair_locate},
}
