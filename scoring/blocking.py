"""Blocking keys: the short strings under which a record is indexed so that candidates are found
without comparing every pair. Records sharing any key are candidates for scoring.

Each key is prefixed by its type so keys of different kinds never collide. The set is small, cheap
and deterministic; each key tolerates a different kind of error in the others.
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
    "db": ("birth_date",),
    "sx": ("family_name", "birth_date"),
    "nm": ("given_name", "family_name"),
    "fp": ("family_name", "postal_code"),
    "gp": ("given_name", "postal_code"),
    "ad": ("address_line",),
}


def key_kind(key: str) -> str:
    """"sx:S530|1980" -> "sx"."""
    return key.split(":", 1)[0]


def blocking_keys(record: Mapping[str, Any]) -> set[str]:
    """The record's blocking keys, at most eight, e.g. {"hc:1234567890", "sx:S530|1980", ...}."""
    given = normalize.given_name(record.get("given_name"))
    family = normalize.family_name(record.get("family_name"))
    born = normalize.birth_date(record.get("birth_date"))
    postal = normalize.postal_code(record.get("postal_code"))
    card = normalize.health_card(record.get("health_card"))
    phone = normalize.phone(record.get("phone"))
    year = born[:4] if born else None
    digits = born.replace("-", "") if born else ""
    sx_family = soundex_code(family) if family else None
    sx_given = soundex_code(given) if given else None

    keys: set[str] = set()
    if card:
        keys.add(f"hc:{card}")
    if phone:
        keys.add(f"ph:{phone[-10:]}")
    if len(digits) == 8:
        keys.add(f"db:{digits}")  # survives any name change or typo
    if sx_family and year:
        keys.add(f"sx:{sx_family}|{year}")  # survives day/month errors and given-name changes
    if sx_given and sx_family:
        # sorted so that a swapped given/family name still meets; survives any birth-date error
        first, second = sorted((sx_given, sx_family))
        keys.add(f"nm:{first}|{second}")
    if sx_family and postal:
        keys.add(f"fp:{sx_family}|{postal}")  # a household or a person with wrong/missing date and given name
    if given and postal:
        keys.add(f"gp:{given[0]}|{postal}")
    street = _street_key(normalize.address(record.get("address_line")))
    if street:
        keys.add(f"ad:{street}")  # same house: survives changes to every personal field
    return keys


def _street_key(line: str | None) -> str | None:
    """House number and the Soundex of the first street word: "12 MAIN ST" -> "12|M500"."""
    if not line:
        return None
    tokens = line.split(" ")
    number = tokens[0]
    if not number.isdigit() or len(tokens) < 2 or not tokens[1].isalpha():
        return None
    return f"{number}|{soundex_code(tokens[1])}"
