"""Synthetic review-queue data fed through empi.patients.register, as a real feed would.

``uncertain_pair(rt, n)`` registers a HOSPA record, then a HOSPB record of the same made-up person
with the birth year off by one, no city and no phone: the default card scores the pair 67.5, between
its thresholds (63-70), so registration opens an "uncertain" review task. Each ``n`` gets its own
family name, street, postal code and birth date, so pairs never block against each other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from empi import patients
from empi.commands import Address, Demographics, FeedResult, PersonName, RecordKey, RegisterSourceRecord
from empi.runtime import Runtime

_SYLLABLES = [
    "Bra",
    "Cor",
    "Dun",
    "Fel",
    "Gar",
    "Hol",
    "Jem",
    "Kel",
    "Lor",
    "Mav",
    "Nor",
    "Pel",
    "Quen",
    "Ros",
    "Sal",
    "Tor",
    "Vel",
    "Wyn",
    "Yar",
    "Zan",
]
_ENDINGS = ["wick", "mere", "ford", "holt", "stone", "vale", "brook", "field"]
_GIVEN = ["Maple", "Juniper", "Rowan", "Sorrel", "Tamsin", "Wren", "Briar", "Linden"]


def family_name(n: int) -> str:
    return _SYLLABLES[n % len(_SYLLABLES)] + _ENDINGS[(n // len(_SYLLABLES)) % len(_ENDINGS)]


@dataclass
class Pair:
    first: RecordKey  # the record already on file (HOSPA)
    second: RecordKey  # the uncertain newcomer (HOSPB)
    task_id: int
    first_person: int
    second_person: int


def demographics(n: int, *, year_shift: int = 0, city: bool = True, phone: str | None = None) -> Demographics:
    year = 1950 + (n % 50) + year_shift
    month, day = 1 + n % 12, 1 + n % 28
    postal = f"K{n % 10}A {n % 10}B{(n // 10) % 10}"
    return Demographics(
        names=[PersonName(family=family_name(n), given=_GIVEN[n % len(_GIVEN)])],
        birth_date=f"{year:04d}-{month:02d}-{day:02d}",
        sex="F" if n % 2 else "M",
        addresses=[
            Address(
                line1=f"{100 + n} Lantern Row",
                city="Brookvale" if city else None,
                province="ON",
                postal_code=postal,
            )
        ],
        phones=[f"613555{phone}"] if phone else [],
    )


def register(rt: Runtime, key: RecordKey, demo: Demographics) -> FeedResult:
    with rt.write() as session:
        return patients.register(
            session, RegisterSourceRecord(key=key, demographics=demo, source="HIS|HOSPA"), rt=rt
        )


def uncertain_pair(rt: Runtime, n: int, *, phones: bool = False) -> Pair:
    """``phones``: both records carry a phone and the numbers differ (city kept): 67.2 points, with
    agreeing, partly agreeing, missing and disagreeing fields all on one task page."""
    first = RecordKey(f"A{n:05d}", "HOSPA")
    second = RecordKey(f"B{n:05d}", "HOSPB")
    a = register(rt, first, demographics(n, phone="0101" if phones else None))
    b = register(rt, second, demographics(n, year_shift=1, city=phones, phone="0199" if phones else None))
    assert b.review_task_id is not None, f"pair {n} scored {b.score}, expected a review task"
    return Pair(first, second, b.review_task_id, a.person_id, b.person_id)


def two_candidate_task(rt: Runtime, n: int) -> tuple[Pair, int]:
    """An uncertain pair plus a third record (NIST2010, birth year off the other way, no city) that
    scores in the review band against the newcomer too: the newcomer's task lists two candidates.
    Returns the pair and the third record's person."""
    pair = uncertain_pair(rt, n)
    third = register(rt, RecordKey(f"C{n:05d}", "NIST2010"), demographics(n, year_shift=2, city=False))
    again = register(rt, pair.second, demographics(n, year_shift=1, city=False))  # re-matched: a new task
    assert again.review_task_id is not None
    return replace(pair, task_id=again.review_task_id), third.person_id


def health_card_conflict(rt: Runtime, n: int) -> Pair:
    """Two records with the same valid health-card number whose birth date and sex both disagree:
    the health-card rule sends the pair to review as a conflict."""
    from dataclasses import replace as copy

    from empi.text import luhn_digit

    base = f"7{n:08d}"
    card = base + luhn_digit(base)
    first = RecordKey(f"HA{n:05d}", "HOSPA")
    second = RecordKey(f"HB{n:05d}", "HOSPB")
    a = register(rt, first, copy(demographics(n), health_card=card))
    other = demographics(n + 7)
    b = register(
        rt,
        second,
        copy(demographics(n), health_card=card, birth_date=other.birth_date, sex="M" if n % 2 else "F"),
    )
    assert b.review_task_id is not None, f"health-card pair {n} scored {b.score}, expected a review task"
    return Pair(first, second, b.review_task_id, a.person_id, b.person_id)
