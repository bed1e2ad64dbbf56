from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from scoring import blocking_keys
from tests.scoring.conftest import make_record
from tests.scoring.test_engine import _record


def _shares_a_key(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(blocking_keys(a) & blocking_keys(b))


class TestBlockingKeys:
    def test_keys_are_prefixed_and_few_when_record_is_full(self) -> None:
        keys = blocking_keys(make_record(health_card="9876543217"))
        assert 0 < len(keys) <= 8
        assert all(key[:3] in {"hc:", "ph:", "db:", "sx:", "nm:", "fp:", "gp:", "ad:"} for key in keys)
        assert {"hc:9876543217", "db:19800513", "sx:T651|1980"} <= keys

    def test_no_keys_when_record_is_empty(self) -> None:
        assert blocking_keys({}) == set()

    def test_invalid_health_card_gives_no_key(self) -> None:
        assert not any(key.startswith("hc:") for key in blocking_keys({"health_card": "9876543218"}))

    def test_candidates_meet_when_birth_date_is_mistyped(self) -> None:
        assert _shares_a_key(make_record(), make_record(birth_date="1980-05-31", phone=None))

    def test_candidates_meet_when_names_are_swapped(self) -> None:
        a = make_record(phone=None, birth_date=None, postal_code=None, address_line=None)
        b = make_record(given_name="Tremblay", family_name="Jonathan", phone=None, birth_date=None,
                        postal_code=None, address_line=None)  # fmt: skip
        assert _shares_a_key(a, b)

    def test_candidates_meet_when_family_name_changes_at_marriage(self) -> None:
        a = make_record(family_name="Gagnon", phone=None)
        b = make_record(family_name="Tremblay", phone=None, address_line="3 King Rd", postal_code="K1A 0B1")
        assert _shares_a_key(a, b)

    def test_candidates_meet_when_only_the_house_is_shared(self) -> None:
        a = make_record(given_name="Olivia", family_name="Roy", birth_date="2001-01-01", phone=None)
        b = make_record(given_name="Marc", family_name="Tremblay", birth_date="1970-07-07", phone=None)
        assert "ad:12|M140" in blocking_keys(a) & blocking_keys(b)


@settings(max_examples=200, deadline=None)
@given(record=_record)
def test_keys_are_deterministic_and_short_when_records_vary(record: dict[str, Any]) -> None:
    keys = blocking_keys(record)
    assert keys == blocking_keys(dict(record))
    assert len(keys) <= 8
    assert all(len(key) <= 40 and ":" in key for key in keys)
