"""Normalisers: turn raw demographic values into the canonical strings that comparators see.

Every normaliser takes ``object`` (a record value: str, date, int or None) and returns ``str | None``;
``None`` means "missing" for scoring. Each is idempotent (normalising a normalised value changes
nothing) and cached per value, because the same names and cities recur on every feed.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

from scoring.healthcard import DEFAULT_RULE, HealthCardRule

Normalizer = Callable[[object], "str | None"]

_CACHE = 65536
_NON_ALNUM = re.compile(r"[^A-Z0-9 ]+")
_SPACES = re.compile(r"\s+")

# Titles and generational suffixes carry no identity (birth date tells a parent from a child).
_NAME_NOISE = frozenset(
    [
        "MR",
        "MRS",
        "MS",
        "MISS",
        "MX",
        "DR",
        "PROF",
        "REV",
        "SIR",
        "DAME",
        "JR",
        "SR",
        "JNR",
        "SNR",
        "II",
        "III",
        "IV",
        "MD",
        "PHD",
        "ESQ",
    ]
)
# Surname particles are glued to the next token so "van der Berg" and "Vanderberg" agree.
_PARTICLES = frozenset(
    [
        "VAN",
        "VON",
        "DER",
        "DEN",
        "DE",
        "DEL",
        "DELA",
        "LA",
        "LE",
        "DA",
        "DI",
        "DOS",
        "DAS",
        "DU",
        "ST",
        "SAINT",
        "MAC",
        "MC",
        "O",
        "D",
    ]
)
_MISSING_TOKENS = frozenset({"", "UNKNOWN", "UNK", "NONE", "NULL", "NA", "N A", "NAN"})


def _text(value: object) -> str | None:
    """Upper-case ASCII with punctuation turned into single spaces; None when empty."""
    if value is None or isinstance(value, float):  # pandas gives NaN for a missing cell
        return None
    text = str(value)
    if not text.isascii():  # ASCII is its own NFKD form and has no combining marks
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.upper()
    text = text.replace("'", "").replace("\u2019", "")  # O'Brien -> OBRIEN
    text = _SPACES.sub(" ", _NON_ALNUM.sub(" ", text)).strip()
    return None if text in _MISSING_TOKENS else text


def _known(name: str) -> str | None:
    """None for what is left of a name once titles and numbers are dropped, when that is empty or a
    placeholder ("0:NA" -> "NA" -> None), so that normalising twice changes nothing."""
    return None if name in _MISSING_TOKENS else name


@lru_cache(maxsize=_CACHE)
def given_name(value: object) -> str | None:
    """Given or middle name: tokens without titles; "Mary-Anne" -> "MARY ANNE"."""
    text = _text(value)
    if text is None:
        return None
    tokens = [t for t in text.split(" ") if t not in _NAME_NOISE and not t.isdigit()]
    return _known(" ".join(tokens))


@lru_cache(maxsize=_CACHE)
def family_name(value: object) -> str | None:
    """Family name: tokens without titles, particles glued on: "van der Berg-Smith" -> "VANDERBERG SMITH"."""
    text = _text(value)
    if text is None:
        return None
    tokens = [t for t in text.split(" ") if t not in _NAME_NOISE and not t.isdigit()]
    while True:  # to a fixed point, so that normalising twice changes nothing ("D A" -> "DA", a particle)
        glued = _glue_particles(tokens)
        if glued == tokens:
            return _known(" ".join(tokens))
        tokens = glued


def _glue_particles(tokens: list[str]) -> list[str]:
    out: list[str] = []
    pending = ""
    for token in tokens:
        if token in _PARTICLES:
            pending += token
            continue
        out.append(pending + token)
        pending = ""
    if pending:  # a name that is only particles ("De") is a name
        out.append(pending)
    return out


_DATE_DIGITS = re.compile(r"^(\d{4})(?:-?(\d{2}))?(?:-?(\d{2}))?")


@lru_cache(maxsize=_CACHE)
def birth_date(value: object) -> str | None:
    """ISO date "YYYY-MM-DD", or partial "YYYY-MM"/"YYYY"; a full but impossible date keeps its
    digits as "YYYYMMDD" so a one-digit typo can still be recognised; anything else is None."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, float):
        return None
    text = str(value).strip()
    match = _DATE_DIGITS.match(text)
    if match is None:
        return None
    year, month, day = match.groups()
    if not 1850 <= int(year) <= 2200:
        return None
    if month is None:
        return year
    if day is None:
        return f"{year}-{month}" if 1 <= int(month) <= 12 else year
    if _valid_ymd(year, month, day):
        return f"{year}-{month}-{day}"
    return f"{year}{month}{day}"  # impossible (month 13, day 00...): kept for typo comparison


def _valid_ymd(year: str, month: str, day: str) -> bool:
    try:
        dt.date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


_SEX = {"M": "M", "MALE": "M", "F": "F", "FEMALE": "F", "X": "X", "O": "X", "OTHER": "X", "A": "X"}


@lru_cache(maxsize=256)
def sex(value: object) -> str | None:
    """Administrative sex as M, F or X (other/ambiguous); unknown codes (U, N) are missing."""
    text = _text(value)
    return None if text is None else _SEX.get(text)


_CA_POSTAL = re.compile(r"^[A-Z]\d[A-Z]\d[A-Z]\d$")


@lru_cache(maxsize=_CACHE)
def postal_code(value: object) -> str | None:
    """Canadian "K1A 0B1" -> "K1A0B1"; US ZIP+4 -> its 5 digits; anything else upper alphanumerics."""
    text = _text(value)
    if text is None:
        return None
    compact = text.replace(" ", "")
    if compact.isdigit() and len(compact) == 9:
        return compact[:5]
    return compact


@lru_cache(maxsize=_CACHE)
def phone(value: object) -> str | None:
    """Digits only; North American numbers lose the leading 1; fewer than 7 digits is missing."""
    if value is None or isinstance(value, float):
        return None
    digits = "".join(c for c in str(value) if c.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits if len(digits) >= 7 else None


_STREET_WORDS = {
    "STREET": "ST", "STR": "ST", "AVENUE": "AVE", "AV": "AVE", "ROAD": "RD", "DRIVE": "DR",
    "BOULEVARD": "BLVD", "PLACE": "PL", "COURT": "CT", "CRESCENT": "CRES", "LANE": "LN",
    "TERRACE": "TER", "HIGHWAY": "HWY", "PARKWAY": "PKWY", "CIRCLE": "CIR", "SQUARE": "SQ",
    "NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W", "APARTMENT": "UNIT", "APT": "UNIT",
    "SUITE": "UNIT", "STE": "UNIT", "FLAT": "UNIT", "RUE": "RUE", "CHEMIN": "CH",
}  # fmt: skip


@lru_cache(maxsize=_CACHE)
def address(value: object) -> str | None:
    """Street address with standard abbreviations (Street -> ST, Apartment -> UNIT)."""
    text = _text(value)
    if text is None:
        return None
    return " ".join(_STREET_WORDS.get(t, t) for t in text.split(" "))


@lru_cache(maxsize=_CACHE)
def city(value: object) -> str | None:
    """City or locality: upper ASCII, "Saint"/"Ste" spelt "ST"/"STE" consistently."""
    text = _text(value)
    if text is None:
        return None
    return " ".join({"SAINT": "ST", "SAINTE": "STE", "MOUNT": "MT"}.get(t, t) for t in text.split(" "))


_PROVINCES = {
    "ONTARIO": "ON", "QUEBEC": "QC", "BRITISH COLUMBIA": "BC", "ALBERTA": "AB", "MANITOBA": "MB",
    "SASKATCHEWAN": "SK", "NOVA SCOTIA": "NS", "NEW BRUNSWICK": "NB", "NEWFOUNDLAND AND LABRADOR": "NL",
    "NEWFOUNDLAND": "NL", "PRINCE EDWARD ISLAND": "PE", "YUKON": "YT", "NORTHWEST TERRITORIES": "NT",
    "NUNAVUT": "NU", "PQ": "QC", "NFLD": "NL", "ONT": "ON",
}  # fmt: skip


@lru_cache(maxsize=1024)
def province(value: object) -> str | None:
    """Province or state as its postal abbreviation when it is a Canadian one spelt out."""
    text = _text(value)
    if text is None:
        return None
    return _PROVINCES.get(text, text)


@lru_cache(maxsize=_CACHE)
def health_card(value: object) -> str | None:
    """The health-card number alone (version code dropped) when the default rule finds it valid."""
    if value is None or isinstance(value, float):
        return None
    return DEFAULT_RULE.normalize(str(value))


def identity(value: object) -> str | None:
    """Trimmed text as given; for fields with no better normaliser."""
    text = _text(value)
    return text


NORMALIZERS: dict[str, Normalizer] = {
    "given_name": given_name,
    "family_name": family_name,
    "birth_date": birth_date,
    "sex": sex,
    "postal_code": postal_code,
    "phone": phone,
    "address": address,
    "city": city,
    "province": province,
    "health_card": health_card,
    "text": identity,
}


def register_health_card_rule(name: str, rule: HealthCardRule) -> Normalizer:
    """Make another jurisdiction's card rule available to scorecards as normaliser `name`
    (for example "health_card_bc"); the blocking key still uses the default rule."""

    @lru_cache(maxsize=_CACHE)
    def normalize(value: object) -> str | None:
        if value is None or isinstance(value, float):
            return None
        return rule.normalize(str(value))

    NORMALIZERS[name] = normalize
    return normalize
