"""Blocking keys: the short strings under which a record is indexed so that candidates are found
without comparing every pair.

A record is *stored* under its `blocking_keys` and *looks up* its `probe_keys`; two records are
candidates for scoring when one's probe keys meet the other's stored keys. For most kinds the two
sets are the same key. The exception is the name key for a record without a birth date (below).

Each key is prefixed by its kind so keys of different kinds never collide. Every key but the health
card and the phone joins two pieces of evidence, so that a block is a small part of what either piece
alone would hold. A key built from one common value holds a block that is large from the start and
grows with the region's population:

* a birth date alone: about 110 people a day in a region of four million;
* a Soundex name pair alone: hundreds of people;
* a house number and street alone: the same address in every town.

Blocks of personal details still grow with the population, only far more slowly; the keys scoped to
a household or a postal code grow only as that place fills up.

Each key survives errors in the fields the others are built from, so a true pair is missed only
when it differs in nearly everything. `benchmarks/scoring/blocking_quality.py` measures that on FEBRL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scoring import normalize
from scoring.comparators import soundex_code

# The fields each kind of key is built from: pairs that meet under a key agree (roughly) on these,
# so an estimate made on those pairs alone says nothing about them (see scoring.tuning).
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "hc": ("health_card",),
    "ph": ("phone",),
    "di": ("birth_date",),  # + an initial of either name
    "dp": ("birth_date", "postal_code"),
    "dc": ("birth_date", "city"),
    "ny": ("given_name", "family_name", "birth_date"),
    "nd": ("given_name", "family_name", "birth_date"),
    "nc": ("given_name", "family_name", "city"),
    "nm": ("given_name", "family_name"),
    "n0": ("given_name", "family_name"),
    "fp": ("family_name", "postal_code"),
    "gp": ("given_name", "postal_code"),
    "ap": ("address_line", "postal_code"),
    "ai": ("address_line",),  # + an initial of either name
}


def key_kind(key: str) -> str:
    """"ny:J500|S530|1980" -> "ny"."""
    return key.split(":", 1)[0]


def blocking_keys(record: Mapping[str, Any]) -> set[str]:
    """The keys the record is stored under, e.g. {"hc:1234567890", "ny:J500|S530|1980", ...}."""
    return record_keys(record)[0]


def probe_keys(record: Mapping[str, Any]) -> set[str]:
    """The keys the record looks its candidates up by."""
    return record_keys(record)[1]


def meet(a: tuple[set[str], set[str]], b: tuple[set[str], set[str]]) -> bool:
    """Whether two records' `record_keys` make them candidates for each other, whichever came first."""
    return not a[1].isdisjoint(b[0]) or not b[1].isdisjoint(a[0])


def record_keys(record: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(stored keys, probe keys) of a record.

    * ``hc`` health card; ``ph`` phone.
    * ``di`` birth date + the initial of either name (one key per distinct initial): survives a
      change of one name (marriage, a nickname with another initial, a typo).
    * ``dp`` birth date + postal area (the first three characters), ``dc`` birth date + city:
      survive a change of both names.
    * ``ny`` / ``nd`` / ``nc``: the two names' Soundex codes (sorted, so that given and family names
      crossed over still meet) + birth year / + birth month and day / + city: ``nd`` survives a
      mistyped year on a record with no address, ``nc`` any birth-date error.
    * ``nm`` / ``n0``: the names alone, for a record without a birth date. Every record is stored
      under ``nm`` (a large block); only a record without a birth date looks ``nm`` up, and it is
      also stored under ``n0``, which a record with a birth date looks up. So a record missing its
      birth date meets the records with its names whichever of the two came first, while a record
      with a birth date never reads the large block.
    * ``fp`` family name + postal code, ``gp`` given-name initial + postal code: a household, or a
      person whose birth date is wrong.
    * ``ap`` house number and street + postal area, ``ai`` house number and street + either
      initial: the same house when the personal fields have changed.
    """
    given = normalize.given_name(record.get("given_name"))
    family = normalize.family_name(record.get("family_name"))
    born = normalize.birth_date(record.get("birth_date"))
    postal = normalize.postal_code(record.get("postal_code"))
    city = normalize.city(record.get("city"))
    card = normalize.health_card(record.get("health_card"))
    phone = normalize.phone(record.get("phone"))
    digits = born.replace("-", "") if born else ""
    if len(digits) != 8:
        digits = ""
    area = postal[:3] if postal else None
    place = soundex_code(city) if city else None
    sx_family = soundex_code(family) if family else None
    sx_given = soundex_code(given) if given else None
    initials = {name[0] for name in (given, family) if name}
    street = _street_key(normalize.address(record.get("address_line")))

    both: set[str] = set()
    if card:
        both.add(f"hc:{card}")
    if phone:
        both.add(f"ph:{phone[-10:]}")
    if digits:
        both.update(f"di:{digits}|{initial}" for initial in initials)
        if area:
            both.add(f"dp:{digits}|{area}")
        if place:
            both.add(f"dc:{digits}|{place}")
    stored: set[str] = set()
    probes: set[str] = set()
    if sx_given and sx_family:
        first, second = sorted((sx_given, sx_family))
        names = f"{first}|{second}"
        if digits:
            both.add(f"ny:{names}|{digits[:4]}")
            both.add(f"nd:{names}|{digits[4:]}")
        if place:
            both.add(f"nc:{names}|{place}")
        stored.add(f"nm:{names}")
        if digits:
            probes.add(f"n0:{names}")
        else:
            probes.add(f"nm:{names}")
            stored.add(f"n0:{names}")
    if sx_family and postal:
        both.add(f"fp:{sx_family}|{postal}")
    if given and postal:
        both.add(f"gp:{given[0]}|{postal}")
    if street:
        if area:
            both.add(f"ap:{street}|{area}")
        both.update(f"ai:{street}|{initial}" for initial in initials)
    return stored | both, probes | both


def _street_key(line: str | None) -> str | None:
    """House number and the Soundex of the first street word: "12 MAIN ST" -> "12|M500"."""
    if not line:
        return None
    tokens = line.split(" ")
    number = tokens[0]
    if not number.isdigit() or len(tokens) < 2 or not tokens[1].isalpha():
        return None
    return f"{number}|{soundex_code(tokens[1])}"
