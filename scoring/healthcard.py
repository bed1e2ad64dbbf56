"""Health-card number rules: one small interface per jurisdiction, Ontario's as the default.

A rule turns a raw card string into the bare number (version code dropped) when it is valid, so that
matching compares numbers only; an invalid number scores as missing and triggers no rule.
"""

from __future__ import annotations

from typing import Protocol


class HealthCardRule(Protocol):
    """What a jurisdiction must provide for its health-card numbers."""

    jurisdiction: str

    def normalize(self, raw: str) -> str | None:
        """The canonical number when `raw` is a valid card number (with or without a version code)."""
        ...


def luhn_valid(digits: str) -> bool:
    """Mod-10 (Luhn) check over all digits, the last being the check digit."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class OntarioHealthCard:
    """Ontario: 10 digits, the 10th a Luhn check digit, optionally followed by a 2-letter version
    code (which changes when a card is reissued, so it is ignored for matching)."""

    jurisdiction = "CA-ON"

    def normalize(self, raw: str) -> str | None:
        compact = "".join(c for c in raw.upper() if c.isalnum())
        number, version = compact[:10], compact[10:]
        if len(number) != 10 or not number.isdigit() or number == "0" * 10:
            return None
        if version and not (len(version) <= 2 and version.isalpha()):
            return None
        return number if luhn_valid(number) else None


DEFAULT_RULE: HealthCardRule = OntarioHealthCard()


def validate_health_card(raw: str, rule: HealthCardRule = DEFAULT_RULE) -> bool:
    """True when `raw` is a valid card number under `rule` (Ontario by default)."""
    return rule.normalize(raw) is not None
