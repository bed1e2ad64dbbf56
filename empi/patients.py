"""Register, update, merge and delete source records, and (re)link them to persons.

Called by every feed: ITI-8 and ITI-30 over MLLP, ITI-104 over FHIR, bulk loads. The caller owns
the transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from empi import links, matching, review
from empi.commands import (
    FeedOutcome,
    FeedResult,
    LinkMethod,
    MergeRecords,
    RecordKey,
    RegisterSourceRecord,
)
from empi.errors import Conflict, InvalidInput, UnknownAuthority, UnknownIdentifier
from empi.models import Link, Person, SourceRecord
from empi.records import (
    NewRecord,
    apply_demographics,
    get_record,
    insert_new_record,
    lock_keys,
    refresh_search_rows,
    scoring_view,
)
from scoring import blocking_keys, record_keys

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from empi.runtime import Runtime

MAX_IDENTIFIER = 128


def _check_key(key: RecordKey, rt: Runtime, *, field: str = "identifier") -> RecordKey:
    domain = rt.registry.get(key.domain)
    if domain is None or domain.is_regional:
        raise UnknownAuthority("the record's domain is not a configured source domain", field=f"{field}.domain")
    value = (key.identifier or "").strip()
    if not value:
        raise InvalidInput("the record identifier is empty", field=field)
    if len(value) > MAX_IDENTIFIER:
        raise InvalidInput(f"the record identifier is longer than {MAX_IDENTIFIER} characters", field=field)
    return RecordKey(identifier=value, domain=domain.namespace)


def _keys_of(record: SourceRecord) -> set[str]:
    """The keys the record is stored under."""
    return set(blocking_keys(scoring_view(record)))


def register(session: Session, cmd: RegisterSourceRecord, *, rt: Runtime) -> FeedResult:
    """Create or update a source record, then run matching on it."""
    key = _check_key(cmd.key, rt)
    lock_keys(session, [f"rec:{key.domain}|{key.identifier}"])
    record = get_record(session, key)
    if record is not None and record.status == "merged":
        raise Conflict("the identifier was merged into another and may not be used again", field="identifier")
    created = record is None or record.status == "deleted"
    is_new = record is None  # nothing refers to it yet: no keys, link or exclusions to look up
    if record is None:  # built in memory and inserted with one statement below
        record = NewRecord(domain=key.domain, identifier=key.identifier, names=[], addresses=[], phones=[],
                           other_identifiers=[])
    record.status = "active"
    apply_demographics(record, cmd.demographics)
    # stored under one set of keys, looking candidates up by another (scoring.blocking); a writer locks
    # both, so two feeds that could find each other's record are serialised
    stored, keys = record_keys(scoring_view(record))
    if is_new:
        insert_new_record(session, record, sorted(stored), locks=stored | keys)
    else:
        lock_keys(session, stored | keys)
        session.flush()
        refresh_search_rows(session, record, sorted(stored))
    actor = cmd.source or "system"
    if created:
        result = _link_new(session, record, keys, rt=rt, actor=actor, fresh=is_new)
    else:
        result = _relink(session, record, keys, rt=rt, actor=actor)
    result.created = created
    rt.changed(session, result.changed_persons)
    return result


def _result(session: Session, record: SourceRecord, outcome: FeedOutcome, *, score: float | None = None,
            task: int | None = None, changed: tuple[int, ...] = ()) -> FeedResult:
    link = session.get(Link, record.id)
    assert link is not None
    person = session.get(Person, link.person_id)
    return FeedResult(record_id=record.id, person_id=link.person_id,
                      regional_id=person.regional_id if person else "", created=False, outcome=outcome,
                      score=score, review_task_id=task, changed_persons=changed)


def _apply_decision(session: Session, record: SourceRecord | NewRecord, decision: matching.Decision, *,
                    rt: Runtime, actor: str, action: str, fresh: bool = False) -> FeedResult:
    card = rt.card
    best = decision.best
    if decision.kind == "link" and best is not None:
        method = LinkMethod.DETERMINISTIC if decision.deterministic else LinkMethod.SCORECARD
        previous = links.set_link(session, record, best.person_id, method=method, action=action,
                                  score=best.total, card=card, breakdown=best.score.to_dict(), actor=actor,
                                  fresh=fresh)
        changed = tuple(p for p in (previous, best.person_id) if p is not None)
        return FeedResult(record_id=record.id, person_id=best.person_id, regional_id=best.regional_id or "",
                          created=False, outcome=FeedOutcome.LINKED, score=best.total, changed_persons=changed)
    previous = None if fresh else links.person_of(session, record.id)
    person = links.new_person(session, deferred=True)  # its regional ID is written with the link
    links.set_link(session, record, person.id, method=LinkMethod.NEW, action=action,
                   score=best.total if best else None, card=card,
                   breakdown=best.score.to_dict() if best else None, actor=actor, fresh=fresh,
                   regional_id=person.regional_id)
    changed = tuple(p for p in (previous, person.id) if p is not None)
    task_id = review.open_task(session, record, decision, card=card).id if decision.kind == "review" else None
    return FeedResult(record_id=record.id, person_id=person.id, regional_id=person.regional_id or "", created=False,
                      outcome=FeedOutcome.REVIEW if task_id else FeedOutcome.NEW_PERSON,
                      score=best.total if best else None, review_task_id=task_id, changed_persons=changed)


def _link_new(session: Session, record: SourceRecord | NewRecord, keys: set[str], *, rt: Runtime, actor: str,
              fresh: bool = False) -> FeedResult:
    # only what the decision and its link read: candidates that can't reach the lower threshold are
    # dropped on a cheap bound (the best one is still found and kept for the new person's link)
    cands = matching.candidates_for(session, record, keys, card=rt.card, limit=rt.settings.max_candidates,
                                    fresh=fresh, complete=False)
    decision = matching.decide(cands, card=rt.card, margin=rt.settings.review_margin)
    return _apply_decision(session, record, decision, rt=rt, actor=actor, action="link", fresh=fresh)


def _relink(session: Session, record: SourceRecord, keys: set[str], *, rt: Runtime, actor: str) -> FeedResult:
    """Re-evaluate an updated record's link. A manual (steward) link is never overridden."""
    link = session.get(Link, record.id)
    if link is None:  # a record that lost its link (should not happen): match it as new
        return _link_new(session, record, keys, rt=rt, actor=actor)
    if link.method == LinkMethod.MANUAL:
        return _result(session, record, FeedOutcome.UNCHANGED, changed=(link.person_id,))
    review.supersede_open_tasks(session, record.id)
    current = link.person_id
    cands = matching.candidates_for(session, record, keys, card=rt.card, limit=rt.settings.max_candidates)
    siblings = links.records_of(session, current, exclude=record.id)
    decision = matching.decide(cands, card=rt.card, margin=rt.settings.review_margin)
    mine = next((c for c in cands if c.person_id == current), None)
    if siblings:
        still_fits = mine is not None and (mine.score.decision == "match" or mine.rule == "health-card-match")
        if still_fits and (decision.best is None or decision.best.person_id == current or decision.kind != "link"):
            link.score = mine.total
            link.breakdown = mine.score.to_dict()
            return _result(session, record, FeedOutcome.UNCHANGED, score=mine.total, changed=(current,))
        # it no longer belongs with its siblings: decide afresh among the other persons
        others = [c for c in cands if c.person_id != current]
        decision = matching.decide(others, card=rt.card, margin=rt.settings.review_margin)
        return _apply_decision(session, record, decision, rt=rt, actor=actor, action="relink")
    # alone on its person: join a matching person, or stay (with a task if uncertain)
    if decision.kind == "link" and decision.best is not None:
        return _apply_decision(session, record, decision, rt=rt, actor=actor, action="relink")
    if decision.kind == "review":
        task = review.open_task(session, record, decision, card=rt.card)
        return _result(session, record, FeedOutcome.REVIEW, score=decision.best.total if decision.best else None,
                       task=task.id, changed=(current,))
    return _result(session, record, FeedOutcome.UNCHANGED, changed=(current,))


def merge(session: Session, cmd: MergeRecords, *, rt: Runtime) -> FeedResult:
    """Subsume one identifier into another of the same domain (ITI-8 A40, ITI-104 replaced-by).

    References to the subsumed record are replaced by the surviving one: the records linked to the
    subsumed record's person join the surviving record's person, and the subsumed identifier is never
    returned again.
    """
    surviving = _check_key(cmd.surviving, rt, field="surviving")
    subsumed = _check_key(cmd.subsumed, rt, field="subsumed")
    if surviving.domain != subsumed.domain:
        raise InvalidInput("the subsumed identifier must be in the surviving identifier's domain",
                           field="subsumed.domain")
    if surviving == subsumed:
        raise InvalidInput("the subsumed identifier is the surviving identifier", field="subsumed")
    lock_keys(session, [f"rec:{k.domain}|{k.identifier}" for k in (surviving, subsumed)])
    old = get_record(session, subsumed)
    if old is None or old.status != "active":
        raise UnknownIdentifier("the subsumed identifier is not known", field="subsumed")
    actor = cmd.source or "system"
    target = get_record(session, surviving)
    if target is not None and target.status == "merged":
        raise Conflict("the surviving identifier was itself merged away", field="surviving")
    if target is None or target.status == "deleted":
        if target is not None:  # a deleted record with that key: reuse the key for the renamed record
            target.identifier = f"{target.identifier}#deleted-{target.id}"
            session.flush()
        # the surviving identifier is new: the subsumed record is renamed (an identifier change)
        old.identifier = surviving.identifier
        if cmd.demographics is not None:
            apply_demographics(old, cmd.demographics)
        session.flush()
        refresh_search_rows(session, old, sorted(_keys_of(old)))
        person = links.person_of(session, old.id)
        result = _result(session, old, FeedOutcome.UNCHANGED, changed=(person,) if person else ())
        rt.changed(session, result.changed_persons)
        return result
    old_person = links.person_of(session, old.id)
    old.status = "merged"
    old.merged_into_id = target.id
    links.remove_link(session, old, action="merge", actor=actor, reason="subsumed by a merge")
    refresh_search_rows(session, old, [])
    review.supersede_open_tasks(session, old.id)
    if cmd.demographics is not None:
        apply_demographics(target, cmd.demographics)
        session.flush()
        refresh_search_rows(session, target, sorted(_keys_of(target)))
    target_person = links.person_of(session, target.id)
    assert target_person is not None
    if old_person is not None and old_person != target_person:
        links.move_person(session, old_person, target_person, method=LinkMethod.MERGE, actor=actor,
                          reason="the subsumed record's person joins the surviving record's person")
    changed = tuple(p for p in (old_person, target_person) if p is not None)
    result = _result(session, target, FeedOutcome.LINKED, changed=changed)
    rt.changed(session, changed)
    return result


def delete(session: Session, key: RecordKey, *, rt: Runtime, source: str = "") -> tuple[int, ...]:
    """Remove a source record (FHIR Remove Patient). Its identifier is no longer cross-referenced."""
    key = _check_key(key, rt)
    lock_keys(session, [f"rec:{key.domain}|{key.identifier}"])
    record = get_record(session, key)
    if record is None or record.status != "active":
        raise UnknownIdentifier("the identifier is not known", field="identifier")
    record.status = "deleted"
    person = links.remove_link(session, record, action="delete", actor=source or "system")
    refresh_search_rows(session, record, [])
    review.supersede_open_tasks(session, record.id)
    changed = (person,) if person else ()
    rt.changed(session, changed)
    return changed


def describe(record: SourceRecord) -> dict[str, Any]:
    """The record's demographics as a plain mapping (for review pages and exports)."""
    view = scoring_view(record)
    view.update(domain=record.domain, identifier=record.identifier, id=record.id, status=record.status,
                ssn=record.ssn, account_number=record.account_number,
                health_card_version=record.health_card_version, names=record.names,
                addresses=record.addresses, phones=record.phones, other_identifiers=record.other_identifiers)
    return view
