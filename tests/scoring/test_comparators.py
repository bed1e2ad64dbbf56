from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring import comparators as c


class TestBirthDate:
    @pytest.mark.parametrize(
        ("a", "b", "expected"),
        [
            ("1980-05-13", "1980-05-13", c.DATE_EXACT),
            ("1980-05-03", "1980-03-05", c.DATE_TRANSPOSED),
            ("1980-05-13", "1980-05-18", c.DATE_ONE_DIGIT),
            ("1980-05-13", "1980-05-31", c.DATE_ONE_DIGIT),  # adjacent digits swapped
            ("19458030", "1945-08-30", c.DATE_ONE_DIGIT),  # swap that made an impossible month
            ("1979-12-31", "1980-12-31", c.DATE_YEAR_OFF),
            ("2001-06-01", "1991-06-01", c.DATE_YEAR_OFF),
            ("1980-05", "1980-05-13", c.DATE_PARTIAL),
            ("1980", "1980-05-13", c.DATE_PARTIAL),
            ("1960-05-13", "1980-05-13", c.DATE_DIFFERENT),  # one digit, but twenty years: a parent
            ("1980-05-13", "2006-11-02", c.DATE_DIFFERENT),
            ("1981", "1980-05-13", c.DATE_DIFFERENT),
        ],
    )
    def test_level_when_dates_differ_like_this(self, a: str, b: str, expected: float) -> None:
        assert c.birth_date(a, b) == expected
        assert c.birth_date(b, a) == expected


class TestNames:
    @pytest.mark.parametrize(
        ("a", "b"), [("BOB", "ROBERT"), ("PEGGY", "MARGARET"), ("BOB", "ROB"), ("BILL", "WILLIAM")]
    )
    def test_nickname_agrees_when_same_name(self, a: str, b: str) -> None:
        assert c.nickname(a, b) == 1.0

    def test_nickname_disagrees_when_different_names(self) -> None:
        assert c.nickname("JOHN", "MARY") == 0.0

    @pytest.mark.parametrize(
        ("a", "b", "expected"),
        [
            ("GARCIA LOPEZ", "GARCIA", 1.0),
            ("SMITH JONES", "JONES", 1.0),
            ("VANDERBERG", "VAN DERBERG", 1.0),
            ("MARY ANNE", "MARY", 1.0),
            ("SMITH", "JONES", 0.0),
            ("A B", "B", 0.0),  # a bare initial is not a surname component
        ],
    )
    def test_name_tokens_when_compound(self, a: str, b: str, expected: float) -> None:
        assert c.name_tokens(a, b) == expected

    def test_initial_agrees_only_when_one_is_a_bare_initial(self) -> None:
        assert c.initial("T", "TERI") == 1.0
        assert c.initial("TOM", "TERI") == 0.0

    def test_phonetic_agrees_when_names_sound_alike(self) -> None:
        assert c.phonetic("SMITH", "SMYTHE") == 1.0
        assert c.soundex("TOW", "TAU") == 1.0


class TestLocation:
    def test_prefix3_agrees_when_same_forward_sortation_area(self) -> None:
        assert c.prefix3("M5V2T6", "M5V3L9") == 1.0
        assert c.prefix3("M5V2T6", "K1A0B1") == 0.0

    def test_street_address_gives_nothing_when_a_line_is_only_a_house_number(self) -> None:
        assert c.street_address("9", "5") == 0.0
        assert c.street_address("12", "12 MAPLE ST") == 0.0
        assert c.street_address("12", "12") == 1.0

    def test_street_address_ranks_typo_over_neighbour(self) -> None:
        typo = c.street_address("12 MAPLE ST", "12 MAPEL ST")
        neighbour = c.street_address("12 MAPLE ST", "14 MAPLE ST")
        elsewhere = c.street_address("12 MAPLE ST", "40 KING RD")
        assert 1.0 > typo > neighbour > elsewhere

    def test_phone_local_agrees_when_area_code_differs(self) -> None:
        assert c.phone_local("4165550143", "6475550143") == 1.0


_names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ ", min_size=1, max_size=20).map(str.strip).filter(bool)


@pytest.mark.parametrize("name", sorted(set(c.COMPARATORS) - {"birth_date"}))
@given(a=_names, b=_names)
def test_comparators_are_symmetric_and_bounded_when_given_names(name: str, a: str, b: str) -> None:
    compare = c.COMPARATORS[name]
    value = compare(a, b)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(compare(b, a))
    if name not in {"initial", "prefix3"}:  # only about bare initials / codes of 3+ characters
        assert compare(a, a) == 1.0
