"""Synthetic review-queue data fed through empi.patients.register, as a real feed would.

``uncertain_pair(rt, n)`` registers a HOSPA record, then a HOSPB record of the same made-up person
with the birth year off by one, no city and no phone: the default card scores the pair 67.5, between
its thresholds (63-70), so registration opens an "uncertain" review task. Each ``n`` gets its own
family name, street, postal code and birth date, so pairs never block against each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from empi import patients
from empi.commands import Address, Demographics, PersonName, RecordKey, RegisterSourceRecord
from empi.runtime import Runtime

_SYLLABLES = ["Bra", "Cor", "Dun", "Fel", "Gar", "Hol", "Jem", "Kel", "Lor", "Mav", "Nor", "Pel", "Quen",
              "Ros", "Sal", "Tor", "Vel", "Wyn", "Yar", "Zan"]
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


def demographics(n: int, *, year_shift: int = 0, city: bool = True, phone: bool = False) -> Demographics:
    year = 1950 + (n % 50) + year_shift
    month, day = 1 + n % 12, 1 + n % 28
    postal = f"K{n % 10}A {n % 10}B{(n // 10) % 10}"
    return Demographics(
        names=[PersonName(family=family_name(n), given=_GIVEN[n % len(_GIVEN)])],
        birth_date=f"{year:04d}-{month:02d}-{day:02d}", sex="F" if n % 2 else "M",
        addresses=[Address(line1=f"{100 + n} Lantern Row", city="Brookvale" if city else None, province="ON",
                           postal_code=postal)],
        phones=[f"613555{n:04d}"] if phone else [])


def register(rt: Runtime, key: RecordKey, demo: Demographics) -> patients.FeedResult:
    with rt.write() as session:
        return patients.register(session, RegisterSourceRecord(key=key, demographics=demo, source="HIS|HOSPA"),
                                 rt=rt)


def uncertain_pair(rt: Runtime, n: int) -> Pair:
    first = RecordKey(f"A{n:05d}", "HOSPA")
    second = RecordKey(f"B{n:05d}", "HOSPB")
    a = register(rt, first, demographics(n))
    b = register(rt, second, demographics(n, year_shift=1, city=False))
    assert b.review_task_id is not None, f"pair {n} scored {b.score}, expected a review task"
    return Pair(first, second, b.review_task_id, a.person_id, b.person_id)
