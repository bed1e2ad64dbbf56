"""Synthetic records fed through empi.patients.register for the rescore and export-labels tests.

`person(n)` is an invented patient; each `n` has its own family name, street, postal code and birth
date so different `n` never block together. The tests run on the pinned small card of
tests/tuning/conftest.py (not the production card): `uncertain_pair` adds a second record with the
birth year off by one, which that card scores between its thresholds (a review task);
`linked_pair` repeats the person exactly (an automatic link).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from empi import patients
from empi.commands import Address, Demographics, FeedResult, PersonName, RecordKey, RegisterSourceRecord
from empi.runtime import Runtime
from scoring import Scorecard, save_scorecard
from scoring.scorecard import parse_scorecard

_FAMILY = ["Quillfeather", "Brambleton", "Ashgrove", "Thistledown", "Marrowby", "Fenwhistle", "Larkspurr",
           "Oakenshaw", "Pebbleford", "Ravensworth", "Silverbirch", "Tumbledown"]
_GIVEN = ["Maple", "Juniper", "Rowan", "Sorrel", "Tamsin", "Wren", "Briar", "Linden"]


def demographics(n: int, *, year_shift: int = 0) -> Demographics:
    return Demographics(
        names=[PersonName(family=_FAMILY[n % len(_FAMILY)], given=_GIVEN[n % len(_GIVEN)])],
        birth_date=f"{1940 + 3 * n + year_shift:04d}-{1 + n % 12:02d}-{1 + (5 * n) % 28:02d}",
        sex="F" if n % 2 else "M",
        addresses=[Address(line1=f"{200 + 17 * n} Lantern Row", city="Brookvale", province="ON",
                           postal_code=f"K{n % 10}B {n % 9 + 1}C{(n * 7) % 10}")],
        phones=[f"613555{1000 + n:04d}"])


def register(rt: Runtime, domain: str, ident: str, demo: Demographics) -> FeedResult:
    source = "HIS|HOSPA" if domain == "HOSPA" else "RIS|HOSPB"
    with rt.write() as session:
        return patients.register(
            session, RegisterSourceRecord(key=RecordKey(ident, domain), demographics=demo, source=source), rt=rt)


def uncertain_pair(rt: Runtime, n: int) -> tuple[FeedResult, FeedResult]:
    a = register(rt, "HOSPA", f"A{n:04d}", demographics(n))
    b = register(rt, "HOSPB", f"B{n:04d}", demographics(n, year_shift=1))
    assert b.review_task_id is not None and a.person_id != b.person_id, f"pair {n}: score {b.score}"
    return a, b


def linked_pair(rt: Runtime, n: int) -> tuple[FeedResult, FeedResult]:
    a = register(rt, "HOSPA", f"A{n:04d}", demographics(n))
    b = register(rt, "HOSPB", f"B{n:04d}", demographics(n))
    assert a.person_id == b.person_id, f"pair {n}: score {b.score}"
    return a, b


def card_with(card: Scorecard, *, version: str, upper: float, lower: float) -> Scorecard:
    data: dict[str, Any] = json.loads(json.dumps(card.raw))
    data.update(version=version, thresholds={"upper": upper, "lower": lower}, created_from="tests/tuning")
    return parse_scorecard(data)


def write_card(card: Scorecard, tmp: Path) -> Path:
    path = tmp / f"{card.id}-v{card.version}.json"
    save_scorecard(card, path)
    return path


