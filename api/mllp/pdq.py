"""ITI-21 Patient Demographics Query: QBP^Q22 -> RSP^K22, continuation, and QCN^J01 cancel.

[ITI TF-2 3.21] QPD-3 holds ``@PID.<field>[.<comp>[.<sub>]]^<value>`` pairs, all of which must hold.
Supported: PID.3 (identifier, with PID.3.4 its domain), PID.5.1/5.2 (family, given), PID.6 (mother's
maiden name), PID.7 (birth date), PID.8 (sex), PID.11.x (address; PID.11 alone: any part), PID.13
(phone) and PID.18 (account number). A trailing (or any) ``*`` is a wildcard. QPD-8 limits the domains
returned in PID-3; an unknown domain answers AE with ERR 204 at ``QPD^1^8^<rep>``.

One PID group per matching person: PID-3 holds the person's identifiers (in the QPD-8 domains when
given; a person with none there is left out), the other fields come from the matching record.
Approximate mode (QPD-5 ``APPROXIMATE`` or ``SCORECARD``) scores the query as a transient record with the
scorecard, keeps persons at or above QPD-4 (scorecard points; default the card's lower threshold) and
ranks them best first, with a QRI segment (score, ``SS`` reason, card id and version).

Continuation: with RCP-2 (``n^RD``) and more persons than ``n``, the reply carries ``n`` groups and a
DSC whose DSC-1 is a fresh pointer; re-sending the query with ``DSC|<pointer>|I`` returns the next
increment of the same snapshot. QCN^J01 (QID-1 = the query tag) drops the snapshot. Snapshots live in
this process for ``SNAPSHOT_TTL`` seconds. A query considers at most ``empi.search.MAX_LIMIT``
matching records (narrow it beyond that). Every query is audited (ITI-21, action E) after it ran.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.mllp import acks, hl7v2
from api.mllp.acks import Failure, Location, ReplyContext, err, escape, msa, msh
from api.mllp.hl7v2 import Message, QueryError, unescape
from empi import audit, search
from empi.config import Domain
from empi.errors import EmpiError, UnknownAuthority
from empi.models import Link, Person, SourceRecord
from empi.runtime import Runtime
from empi.search import IdentifierCriterion, Match, PatientQuery, Text
from empi.xref import person_identifiers

SNAPSHOT_TTL = 900.0
MAX_SNAPSHOTS = 1000
APPROXIMATE = {"APPROXIMATE", "SCORECARD"}
TABLE_VALUE_NOT_FOUND = 103


# --------------------------------------------------------------------------------------------------
# request


@dataclass(slots=True)
class PdqQuery:
    tag: str  # QPD-2
    criteria: PatientQuery
    domains: tuple[str, ...] | None  # QPD-8 namespaces, None: every domain
    quantity: int | None  # RCP-2, None: everything
    pointer: str | None  # DSC-1 of a continuation request
    approximate: bool = False
    threshold: float | None = None  # QPD-4 in approximate mode
    probe: dict[str, Any] = field(default_factory=dict)  # SourceRecord attributes for approximate mode


_PATH = re.compile(r"^@?(PID|PD1)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?$", re.IGNORECASE)


def _location(rep: int, component: int | None = 1) -> Location:
    return Location("QPD", 3, rep, component)


def _qpd3(msg: Message) -> list[tuple[int, str, int, int | None, int | None, str]]:
    """QPD-3 repetitions as (rep, segment, field, component, subcomponent, value), values unescaped."""
    enc = msg.enc
    out = []
    for i, rep in enumerate(msg.raw_field("QPD", 3).split(enc.repetition), start=1):
        if not rep:
            continue
        name, _, value = rep.partition(enc.component)
        m = _PATH.match(unescape(name, enc).strip())
        if m is None:
            raise QueryError("QPD-3 names a field this supplier does not search", _location(i), TABLE_VALUE_NOT_FOUND)
        seg, fld = m.group(1).upper(), int(m.group(2))
        comp, sub = (int(m.group(3)) if m.group(3) else None), (int(m.group(4)) if m.group(4) else None)
        value = value.split(enc.component)[0]
        value = value if (fld, comp) == (3, 4) and sub is None else unescape(value, enc)
        out.append((i, seg, fld, comp, sub, value.strip()))
    return out


_ADDRESS = {1: "address_line", 2: "address_line", 3: "city", 4: "province", 5: "postal_code", 6: "country"}


def _text(value: str, approximate: bool) -> Text:
    return Text.of(value.replace("*", "") if approximate else value, match=Match.WILDCARD)


def _criteria(msg: Message, rt: Runtime, *, approximate: bool) -> tuple[PatientQuery, dict[str, Any]]:
    q = PatientQuery()
    probe: dict[str, Any] = {}
    id_value: str | None = None
    authority = ["", "", ""]
    authority_rep = 0
    for rep, seg, fld, comp, sub, value in _qpd3(msg):
        if not value:
            continue
        key = (seg, fld)
        if key == ("PID", 3) and comp in (None, 1):
            id_value = value
        elif key == ("PID", 3) and comp == 4:
            if sub is None:  # @PID.3.4^NS&UID&TYPE
                authority[:] = (value.split(msg.enc.subcomponent) + ["", ""])[:3]
            elif 1 <= sub <= 3:  # @PID.3.4.1^NS, @PID.3.4.2^UID, @PID.3.4.3^TYPE
                authority[sub - 1] = value
            authority_rep = authority_rep or rep
        elif key == ("PID", 5) and comp in (None, 1):
            q.family.append(_text(value, approximate))
            probe["family_name"] = value.replace("*", "")
        elif key == ("PID", 5) and comp == 2:
            q.given.append(_text(value, approximate))
            probe["given_name"] = value.replace("*", "")
        elif key == ("PID", 6):
            q.mothers_maiden_name.append(_text(value, approximate))
            probe["mothers_maiden_name"] = value.replace("*", "")
        elif key == ("PID", 7):
            try:
                iso = hl7v2.parse_hl7_date(value, field="QPD-3")
            except EmpiError:
                raise QueryError("the birth date is not an HL7 date", _location(rep, 2), acks.DATA_TYPE_ERROR) from None
            q.birth_date.append(search.DateCriterion(iso))
            probe["birth_date"] = iso
        elif key == ("PID", 8):
            q.sex = (*q.sex, value.upper())
            probe["sex"] = value.upper()[:1]
        elif key == ("PID", 11):
            attr = _ADDRESS.get(comp or 0, "address")
            getattr(q, attr).append(_text(value, approximate))
            probe[attr if attr != "address" else "address_line"] = value.replace("*", "")
        elif key == ("PID", 13):
            q.phone.append(Text.of(value))
            probe["phone"] = value
        elif key == ("PID", 18):
            q.account_number = (*q.account_number, value)
            probe["account_number"] = value
        else:
            raise QueryError("QPD-3 names a field this supplier does not search", _location(rep),
                             TABLE_VALUE_NOT_FOUND)
    domain = None
    if any(authority):
        try:
            domain = rt.registry.resolve(*authority)
        except UnknownAuthority:
            domain = None
        if domain is None or domain.is_regional:
            raise QueryError("the identifier's assigning authority is not known", _location(authority_rep, 1))
    if id_value is not None or domain is not None:
        q.identifiers.append((IdentifierCriterion(id_value, domain.namespace if domain else None),))
    if q.is_empty():
        raise QueryError("QPD-3 holds no search criterion", Location("QPD", 3), acks.REQUIRED_FIELD_MISSING)
    return q, probe


def _domains(msg: Message, rt: Runtime) -> tuple[str, ...] | None:
    """QPD-8 (only CX-4 is used). Every unknown repetition is reported."""
    enc = msg.enc
    wanted: list[str] = []
    unknown: list[int] = []
    for i, rep in enumerate(msg.raw_field("QPD", 8).split(enc.repetition), start=1):
        comps = rep.split(enc.component)
        hd = [unescape(p, enc) for p in (comps[3] if len(comps) > 3 else "").split(enc.subcomponent)]
        hd += [""] * (3 - len(hd))
        try:
            domain = rt.registry.resolve(hd[0], hd[1], hd[2])
        except UnknownAuthority:
            unknown.append(i)
            continue
        if domain is not None:
            wanted.append(domain.namespace)
    if unknown:
        raise DomainsError(unknown)
    return tuple(dict.fromkeys(wanted)) or None


class DomainsError(QueryError):
    """ITI-21 case 3: one or more QPD-8 domains are not recognised (one ERR each)."""

    def __init__(self, repetitions: Sequence[int]) -> None:
        super().__init__("QPD-8 names a domain that is not known", Location("QPD", 8, repetitions[0]))
        self.repetitions = tuple(repetitions)


def _quantity(msg: Message) -> int | None:
    raw = msg.raw_field("RCP", 2).split(msg.enc.component)[0].strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise QueryError("RCP-2 must be a positive number of records", Location("RCP", 2, 1, 1), acks.DATA_TYPE_ERROR)
    return int(raw)


def decode(msg: Message, rt: Runtime) -> PdqQuery:
    if msg.segment("QPD") is None:
        raise QueryError("the QPD segment is missing", Location("QPD", 1), acks.REQUIRED_FIELD_MISSING)
    algorithm = unescape(msg.raw_field("QPD", 5).split(msg.enc.component)[0], msg.enc).strip().upper()
    if algorithm and algorithm not in APPROXIMATE:
        raise QueryError("QPD-5 names an unknown algorithm", Location("QPD", 5, 1, 1), TABLE_VALUE_NOT_FOUND)
    approximate = bool(algorithm)
    threshold = None
    raw_conf = msg.raw_field("QPD", 4).split(msg.enc.component)[0].strip()
    if approximate and raw_conf:
        try:
            threshold = float(raw_conf)
        except ValueError:
            raise QueryError("QPD-4 must be a number", Location("QPD", 4, 1, 1), acks.DATA_TYPE_ERROR) from None
    domains = _domains(msg, rt)
    criteria, probe = _criteria(msg, rt, approximate=approximate)
    pointer = msg.raw_field("DSC", 1).strip() or None
    return PdqQuery(tag=msg.raw_field("QPD", 2), criteria=criteria, domains=domains, quantity=_quantity(msg),
                    pointer=pointer, approximate=approximate, threshold=threshold, probe=probe)


# --------------------------------------------------------------------------------------------------
# continuation snapshots


@dataclass(slots=True)
class Hit:
    person_id: int
    record_id: int
    score: float | None = None


@dataclass(slots=True)
class Snapshot:
    tag: str
    hits: list[Hit]
    expires: float


_snapshots: dict[str, Snapshot] = {}
_lock = threading.Lock()


def _store(tag: str, hits: list[Hit]) -> str:
    pointer = secrets.token_hex(10)
    now = time.monotonic()
    with _lock:
        for key in [k for k, s in _snapshots.items() if s.expires < now]:
            del _snapshots[key]
        while len(_snapshots) >= MAX_SNAPSHOTS:
            del _snapshots[next(iter(_snapshots))]
        _snapshots[pointer] = Snapshot(tag, hits, now + SNAPSHOT_TTL)
    return pointer


def _take(pointer: str, tag: str) -> list[Hit]:
    with _lock:
        snap = _snapshots.pop(pointer, None)
    if snap is None or snap.expires < time.monotonic() or snap.tag != tag:
        raise QueryError("the continuation pointer is unknown, expired or cancelled", Location("DSC", 1))
    return snap.hits


def cancel(tag: str) -> int:
    """Drop every snapshot of the query ``tag`` (QCN^J01)."""
    with _lock:
        keys = [k for k, s in _snapshots.items() if s.tag == tag]
        for k in keys:
            del _snapshots[k]
    return len(keys)


# --------------------------------------------------------------------------------------------------
# running the query


@dataclass(slots=True)
class Group:
    record: SourceRecord
    identifiers: list[tuple[str, Domain]]
    score: float | None


@dataclass(slots=True)
class PdqResult:
    groups: list[Group]
    total: int
    remaining: int
    pointer: str | None


def _exact_hits(session: Session, q: PdqQuery, rt: Runtime) -> list[Hit]:
    page = search.find(session, q.criteria, rt=rt, limit=search.MAX_LIMIT)
    ids = [r.id for r in page.records]
    rows = session.execute(select(Link.record_id, Link.person_id).where(Link.record_id.in_(ids))) if ids else []
    persons = {record_id: person_id for record_id, person_id in rows}
    hits: dict[int, Hit] = {}
    for rec in page.records:
        pid = persons.get(rec.id)
        if pid is not None and pid not in hits:
            hits[pid] = Hit(pid, rec.id)
    return list(hits.values())


def _approximate_hits(session: Session, q: PdqQuery, rt: Runtime) -> list[Hit]:
    probe = SourceRecord(names=[], addresses=[], phones=[], other_identifiers=[], **q.probe)
    floor = q.threshold if q.threshold is not None else float(rt.card.lower)
    hits: dict[int, Hit] = {}
    for cand in search.scored_candidates(session, probe, rt=rt):
        total = float(cand.score.total)
        if cand.person_id is not None and total >= floor and cand.person_id not in hits:
            hits[cand.person_id] = Hit(cand.person_id, cand.record.id, total)
    return sorted(hits.values(), key=lambda h: -(h.score or 0.0))


def _identifiers(session: Session, person_id: int, domains: tuple[str, ...] | None,
                 rt: Runtime) -> list[tuple[str, Domain]]:
    wanted = {d.upper() for d in domains} if domains else None
    out = []
    for ref in person_identifiers(session, person_id):  # grouped by domain
        domain = rt.registry.get(ref.domain)
        if domain is not None and (wanted is None or domain.namespace.upper() in wanted):
            out.append((ref.identifier, domain))
    regional = rt.registry.regional
    if regional is not None and ((wanted is None and rt.settings.publish_regional_id)
                                 or (wanted is not None and regional.namespace.upper() in wanted)):
        person = session.get(Person, person_id)
        if person is not None and person.regional_id:
            out.append((person.regional_id, regional))
    return out


def run(session: Session, q: PdqQuery, rt: Runtime) -> PdqResult:
    if q.pointer:
        hits = _take(q.pointer, q.tag)
    else:
        hits = _approximate_hits(session, q, rt) if q.approximate else _exact_hits(session, q, rt)
    groups: list[Group] = []
    consumed = 0
    for hit in hits:  # a person with no identifier in the requested domains is left out (case 2)
        if q.quantity is not None and len(groups) >= q.quantity:
            break
        consumed += 1
        ids = _identifiers(session, hit.person_id, q.domains, rt)
        record = session.get(SourceRecord, hit.record_id)
        if ids and record is not None and record.status == "active":
            groups.append(Group(record, ids, hit.score))
    rest = hits[consumed:]
    pointer = _store(q.tag, rest) if rest else None
    return PdqResult(groups=groups, total=len(hits), remaining=len(rest), pointer=pointer)


# --------------------------------------------------------------------------------------------------
# reply


def _date(iso: str | None) -> str:
    return (iso or "").replace("-", "")


def _xpn(names: list[dict[str, Any]]) -> str:
    reps = []
    for n in names:
        parts = [n.get(k) or "" for k in ("family", "given", "middle", "suffix", "prefix")] + ["", n.get("use") or ""]
        reps.append("^".join(escape(p) for p in parts).rstrip("^"))
    return "~".join(r for r in reps if r)


def _xad(addresses: list[dict[str, Any]]) -> str:
    reps = []
    for a in addresses:
        parts = [a.get(k) or "" for k in ("line1", "line2", "city", "province", "postal_code", "country", "use")]
        reps.append("^".join(escape(p) for p in parts).rstrip("^"))
    return "~".join(r for r in reps if r)


def pid_segment(n: int, group: Group) -> str:
    rec = group.record
    fields = [""] * 31
    fields[1] = str(n)
    fields[3] = "~".join(hl7v2.pid_cx(i, d) for i, d in group.identifiers)
    fields[5] = _xpn(rec.names or []) or escape(rec.family_name or "")
    fields[6] = escape(rec.mothers_maiden_name or "")
    fields[7] = _date(rec.birth_date)
    fields[8] = escape(rec.sex or "")
    fields[11] = _xad(rec.addresses or [])
    fields[13] = "~".join(escape(p) for p in rec.phones or [])
    fields[18] = escape(rec.account_number or "")
    fields[19] = escape(rec.ssn or "")
    fields[30] = {True: "Y", False: "N"}.get(rec.is_deceased, "") if rec.is_deceased is not None else ""
    return "|".join(["PID", *fields[1:]]).rstrip("|")


def rsp_k22(msg: Message, rt: Runtime, *, result: PdqResult | None = None,
            failures: Sequence[Failure] = ()) -> str:
    """RSP^K22^RSP_K21: MSH, MSA, [ERR], QAK, QPD (echoed), {PID [QRI]}, [DSC]. MSH-3 = request MSH-5."""
    ctx = ReplyContext(sending_application=msg.context.sending_application,
                       sending_facility=msg.context.sending_facility, control_id=msg.control_id,
                       processing_id=msg.context.processing_id, version="2.5")
    receiving = unescape(msg.raw_field("MSH", 5).split(msg.enc.component)[0], msg.enc).strip()
    segments = [msh(ctx, application=receiving or rt.settings.application, facility=rt.settings.facility,
                    message_type="RSP^K22^RSP_K21", version="2.5")]
    tag = msg.raw_field("QPD", 2)
    qpd = msg.segment("QPD") or "QPD"
    if failures:
        segments += [msa(failures[0].ack_code, ctx), *(err(f, version="2.5") for f in failures),
                     f"QAK|{tag}|{failures[0].ack_code}", qpd]
        return "\r".join(segments) + "\r"
    assert result is not None
    status = "OK" if result.groups else "NF"
    segments += [msa("AA", ctx), f"QAK|{tag}|{status}||{result.total}|{len(result.groups)}|{result.remaining}", qpd]
    for n, group in enumerate(result.groups, start=1):
        segments.append(pid_segment(n, group))
        if group.score is not None:
            segments.append(f"QRI|{group.score:.2f}|SS|{escape(str(rt.card.id))}^{escape(str(rt.card.version))}")
    if result.pointer:
        segments.append(f"DSC|{result.pointer}|I")
    return "\r".join(segments) + "\r"


# --------------------------------------------------------------------------------------------------
# audit and handlers


def _audit(msg: Message, rt: Runtime, *, result: PdqResult | None, outcome: int) -> None:
    ids = [f"{i}^^^&{d.universal_id}&{d.universal_id_type}" for g in (result.groups if result else [])
           for i, d in g.identifiers]
    query = "\r".join(s for s in msg.segments if s[:3] in ("QPD", "RCP", "DSC"))
    sender = "|".join(msg.sender)
    with rt.write() as session:
        audit.record(session, event_type="ITI-21", action="E", actor=sender or "unknown", actor_type="system",
                     outcome=outcome, patient_ids=ids, query=query,
                     detail={"control_id": msg.control_id, "matches": len(result.groups) if result else 0})


def _reply(msg: Message, rt: Runtime, result: PdqResult) -> str:
    _audit(msg, rt, result=result, outcome=audit.OUTCOME_SUCCESS)
    return rsp_k22(msg, rt, result=result)


def _fail(msg: Message, rt: Runtime, failure: Failure) -> str:
    outcome = audit.OUTCOME_MAJOR if failure.code == acks.INTERNAL_ERROR else audit.OUTCOME_MINOR
    _audit(msg, rt, result=None, outcome=outcome)
    return rsp_k22(msg, rt, failures=[failure])


def _fail_domains(msg: Message, rt: Runtime, failure: Failure) -> str:
    """Case 3 reports every unknown QPD-8 repetition, so the failure is rebuilt from the message."""
    try:
        _domains(msg, rt)
    except DomainsError as exc:
        failures = [Failure("AE", acks.UNKNOWN_KEY, Location("QPD", 8, rep), exc.message) for rep in exc.repetitions]
        _audit(msg, rt, result=None, outcome=audit.OUTCOME_MINOR)
        return rsp_k22(msg, rt, failures=failures)
    except EmpiError:
        pass
    return _fail(msg, rt, failure)


def _run(session: Session, q: Any, rt: Runtime) -> Any:
    return run(session, q, rt)


def _cancel_decode(msg: Message, rt: Runtime) -> str:
    tag = msg.raw_field("QID", 1)
    if not tag:
        raise QueryError("QID-1 (the query tag) is required", Location("QID", 1), acks.REQUIRED_FIELD_MISSING)
    return tag


def _cancel_run(_session: Session, tag: Any, _rt: Runtime) -> Any:
    return cancel(str(tag))


def _ack(msg: Message, rt: Runtime, failure: Failure | None = None) -> str:
    s = rt.settings
    return acks.ack(msg.context, application=s.application, facility=s.facility,
                    ack_code=failure.ack_code if failure else "AA", failures=(failure,) if failure else ())


# Handler fields for api.mllp.handlers (which imports this module, so this one cannot import it).
PDQ_QUERY: dict[str, Any] = {"decode": decode, "run": _run, "reply": _reply, "fail": _fail_domains, "writes": False,
                                 "locate": lambda exc: Location("QPD", 3)}
PDQ_CANCEL: dict[str, Any] = {"decode": _cancel_decode, "run": _cancel_run, "reply": lambda m, rt, _r: _ack(m, rt),
                                  "fail": _ack, "writes": False}
HANDLERS = {("QBP", "Q22"): PDQ_QUERY, ("QCN", "J01"): PDQ_CANCEL}
