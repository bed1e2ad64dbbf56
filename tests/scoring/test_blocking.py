from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from scoring import blocking_keys, probe_keys, record_keys
from scoring.blocking import KEY_FIELDS, key_kind, meet
from tests.scoring.conftest import make_record
from tests.scoring.test_engine import _record


def _shares_a_key(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether `b`, fed after `a`, finds it, and `a`, fed after `b`, finds it (the same answer both ways)."""
    found = bool(probe_keys(b) & blocking_keys(a))
    assert found == bool(probe_keys(a) & blocking_keys(b)) == meet(record_keys(a), record_keys(b))
    return found


class TestBlockingKeys:
    def test_keys_are_prefixed_and_few_when_record_is_full(self) -> None:
        keys = blocking_keys(make_record(health_card="9876543217"))
        assert 0 < len(keys) <= 16
        assert {key_kind(key) for key in keys} <= set(KEY_FIELDS)
        assert {"hc:9876543217", "di:19800513|J", "di:19800513|T", "dp:19800513|M5V", "ny:J535|T651|1980",
                "nd:J535|T651|0513", "ap:12|M140|M5V"} <= keys

    def test_no_key_holds_one_common_value_alone(self) -> None:
        """A birth date, a name pair or a street alone would be a block that grows with the region."""
        keys = blocking_keys(make_record()) | probe_keys(make_record())
        assert not {key for key in keys if key_kind(key) in {"db", "sx", "ad"}}
        assert "db:19800513" not in keys and "ad:12|M140" not in keys

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
        assert "ap:12|M140|M5V" in probe_keys(b) & blocking_keys(a)

    def test_a_mistyped_birth_year_meets_on_the_names_without_any_address(self) -> None:
        a = make_record(phone=None)
        b = make_record(birth_date="1981-05-13", phone=None, address_line=None, city=None, postal_code=None)
        assert {key_kind(k) for k in probe_keys(b) & blocking_keys(a)} == {"nd"}

    def test_a_birth_date_with_another_initial_and_place_still_meets_on_the_date(self) -> None:
        a = make_record(phone=None, address_line=None)
        b = make_record(given_name="Celine", family_name="Gagnon", phone=None, address_line=None,
                        postal_code="K1A 0B1")  # fmt: skip
        assert _shares_a_key(a, b)  # the birth date and city
        assert not _shares_a_key(a, {**b, "city": "Ottawa"})  # nothing in common but the birth date


class TestRecordWithoutBirthDate:
    """Every record is stored under its names alone (``nm``); only a record without a birth date looks
    that large block up, and a record with one finds the dateless records through ``n0``."""

    def test_dated_record_never_looks_up_the_names_alone(self) -> None:
        stored, probes = record_keys(make_record())
        assert "nm:J535|T651" in stored and "nm:J535|T651" not in probes
        assert "n0:J535|T651" in probes and "n0:J535|T651" not in stored

    def test_dateless_record_looks_up_the_names_and_is_found_by_them(self) -> None:
        stored, probes = record_keys(make_record(birth_date=None))
        assert {"nm:J535|T651", "n0:J535|T651"} <= stored
        assert "nm:J535|T651" in probes and "n0:J535|T651" not in probes

    def test_records_with_and_without_a_birth_date_meet_on_names_whichever_comes_first(self) -> None:
        dated = make_record(phone=None, postal_code="K1A 0B1", address_line="8 Elm Rd", city="Ottawa")
        dateless = make_record(birth_date=None, phone=None)
        assert _shares_a_key(dated, dateless)
        assert {key_kind(k) for k in probe_keys(dated) & blocking_keys(dateless)} == {"n0"}
        assert {key_kind(k) for k in probe_keys(dateless) & blocking_keys(dated)} == {"nm"}

    def test_two_dated_records_do_not_meet_on_names_alone(self) -> None:
        a = make_record(phone=None)
        b = make_record(birth_date="1944-10-27", phone=None, postal_code="K1A 0B1", address_line="8 Elm Rd",
                        city="Ottawa")  # fmt: skip
        assert not _shares_a_key(a, b)


@settings(max_examples=200, deadline=None)
@given(record=_record)
def test_keys_are_deterministic_and_short_when_records_vary(record: dict[str, Any]) -> None:
    stored, probes = record_keys(record)
    assert (stored, probes) == record_keys(dict(record))
    assert len(stored) <= 16 and len(probes) <= 16
    assert all(len(key) <= 40 and key_kind(key) in KEY_FIELDS for key in stored | probes)
    # the only probe keys a record is not stored under are a dated record's "n0" look-ups
    assert {key for key in probes - stored if key_kind(key) != "n0"} == set()
