"""A feed's candidate list with the cheap bound (`complete=False`) leads to the same decision, the same
best candidate and the same review candidates as the complete list, on both databases."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select

from empi import links, matching, patients
from empi.commands import LinkMethod
from empi.models import SourceRecord
from empi.runtime import Runtime
from tests.core.factories import feed, person

GIVEN = ["Maria", "Mary", "Marie", "Anna", "Ana", "Jonathan", "Jon", "Liam", "Noah", "Olga", "Priya", "M"]
FAMILY = ["Kowalczyk", "Kowalczik", "Tremblay", "Tremblai", "Nguyen", "Singh", "Okafor", "Lindqvist", "Haddad"]
BORN = ["1980-03-04", "1980-04-03", "1980-03-05", "1981-03-04", "2010-06-01", "1955-12-30", "1947-07-19",
        "1993-10-10", "1993-10-01"]
STREET = [("12 Lakeshore Rd", "K7L 3N6"), ("12 Lakeshore Road", "K7L 3N6"), ("14 Lakeshore Rd", "K7L 3N6"),
          ("3 King St", "K7K 1A1"), ("3 King St", "K7K 1A2"), ("77 Princess St", "K7L 1B2"), (None, None)]
PHONE = ["613-555-0101", "613-555-0199", "613-555-0142", None]
CARD = ["9876543217", "1234567897", None, None, None, None]  # valid synthetic numbers (Ontario check digit)


def invented(rng: random.Random) -> str:
    return "".join(rng.choice(["Bar", "Cor", "Del", "Fen", "Gal", "Hol", "Kir", "Lom", "Nov", "Pel"]) for _ in range(3))


def stranger(rng: random.Random) -> dict[str, Any]:
    """Somebody from the same few streets, dates and names; one in four is a neighbour sharing only the
    postal code (names and a birth date nobody else has)."""
    if rng.random() < 0.25:
        return person(given_name=invented(rng), family_name=invented(rng), sex=rng.choice("MF"),
                      birth_date=f"{rng.randint(1930, 2010)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                      address_line=f"{rng.randint(100, 999)} Lakeshore Rd", postal_code="K7L 3N6", phone=None)
    line, postal = rng.choice(STREET)
    return person(given_name=rng.choice(GIVEN), family_name=rng.choice(FAMILY), birth_date=rng.choice(BORN),
                  sex=rng.choice("MFF"), address_line=line, postal_code=postal, city="Kingston" if line else None,
                  phone=rng.choice(PHONE), health_card=rng.choice(CARD), middle_name=rng.choice([None, None, "J"]))


def relative(rng: random.Random, of: dict[str, Any]) -> dict[str, Any]:
    """The same person or a housemate as another source recorded them: one to three fields differ."""
    other = stranger(rng)
    changed = rng.sample(sorted(other), rng.randint(1, 3))
    return {**of, **{name: other[name] for name in changed}}


def synthetic(rng: random.Random, earlier: list[dict[str, Any]]) -> dict[str, Any]:
    """A relative of an earlier record, the same record sent alike by another site, or a stranger."""
    draw = rng.random()
    if earlier and draw < 0.15:  # alike, or alike but for a maiden name (a family-name alias)
        return {**rng.choice(earlier), **({"maiden_name": rng.choice(FAMILY)} if draw < 0.05 else {})}
    return relative(rng, rng.choice(earlier)) if earlier and draw < 0.6 else stranger(rng)


def summary(decision: matching.Decision) -> tuple[Any, ...]:
    def one(c: matching.Candidate | None) -> Any:
        return None if c is None else (c.person_id, c.record.id, c.total, c.score.to_dict())

    return decision.kind, decision.reason, one(decision.best), [one(c) for c in decision.candidates]


def test_the_bounded_candidate_list_decides_exactly_as_the_complete_one(rt: Runtime) -> None:
    rng = random.Random(20261128)
    fed: list[dict[str, Any]] = []
    for n in range(200):
        fed.append(synthetic(rng, fed))
        with rt.write() as s:
            patients.register(s, feed(f"R{n}", rng.choice(["HOSPA", "HOSPB"]), fed[-1]), rt=rt)
    seen = {"pruned": 0, "near the threshold": 0, "best below the threshold": 0, "link or review": 0,
            "candidate records alike": 0, "alike but for an alias": 0}
    margin = rt.settings.review_margin
    with rt.read() as s:
        for record in s.scalars(select(SourceRecord).order_by(SourceRecord.id)):
            keys = patients._keys_of(record)
            full = matching.candidates_for(s, record, keys, card=rt.card, limit=rt.settings.max_candidates)
            bounded = matching.candidates_for(s, record, keys, card=rt.card, limit=rt.settings.max_candidates,
                                              complete=False)
            expected = summary(matching.decide(full, card=rt.card, margin=margin))
            assert summary(matching.decide(bounded, card=rt.card, margin=margin)) == expected
            seen["pruned"] += len(bounded) < len(full)
            seen["near the threshold"] += any(rt.card.lower <= c.total < rt.card.lower + 5 for c in full)
            seen["best below the threshold"] += bool(full) and full[0].total < rt.card.lower
            seen["link or review"] += expected[0] != "new"
            rows = matching._candidate_rows(s, sorted(keys), record.id, 200)
            views = [row[matching._VIEW] for row in rows]
            seen["candidate records alike"] += len(set(views)) < len(views)
            seen["alike but for an alias"] += len({*views}) < len({(v, str(r[matching._NAMES][1:]))
                                                                    for v, r in zip(views, rows, strict=True)})
    print(seen)
    assert min(seen.values()) >= 5, seen  # every case the bound has to get right came up


def test_a_same_card_conflict_hidden_by_the_persons_closer_record_stays_hidden(rt: Runtime) -> None:
    """The complete list keeps a person's highest-scoring record: when that is a plain low score, the
    same person's weaker same-card conflict does not surface (and the bounded list must agree)."""
    card_holder = person(given_name="Priya", family_name="Singh", birth_date="1947-07-19", sex="M",
                         health_card="9876543217", address_line=None, city=None, postal_code=None, phone=None)
    namesake = person(given_name="Olga", family_name="Haddad", birth_date="1955-12-30", sex="F",
                      address_line=None, city=None, postal_code=None, phone=None)
    with rt.write() as s:
        first = patients.register(s, feed("H1", "HOSPA", card_holder), rt=rt)
        second = patients.register(s, feed("H2", "HOSPB", namesake), rt=rt)
        steward_joined = s.get(SourceRecord, second.record_id)
        links.set_link(s, steward_joined, first.person_id, method=LinkMethod.MANUAL, action="link")
        olga = person(given_name="Olga", family_name="Haddad", birth_date="1980-03-04", sex="F", address_line=None,
                      city=None, postal_code=None, phone=None)
        twin = patients.register(s, feed("T1", "HOSPB", olga), rt=rt)  # reaches the threshold on its own
        probe = patients.register(s, feed("P1", "HOSPA", {**olga, "health_card": "9876543217"}), rt=rt)
    with rt.read() as s:
        record = s.get(SourceRecord, probe.record_id)
        keys = patients._keys_of(record)
        full = matching.candidates_for(s, record, keys, card=rt.card)
        bounded = matching.candidates_for(s, record, keys, card=rt.card, complete=False)
    # the closer record hides the same-card conflict
    assert [(c.record.id, c.rule) for c in full] == [(twin.record_id, None), (second.record_id, None)]
    assert full[0].total >= rt.card.lower > full[1].total
    assert summary(matching.decide(bounded, card=rt.card, margin=rt.settings.review_margin)) == \
        summary(matching.decide(full, card=rt.card, margin=rt.settings.review_margin))
