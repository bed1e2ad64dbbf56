"""The hot path's parse of a field repetition (`hl7v2._parse_components`: hl7apy parses each shape once, and
each leaf of a parsing datatype on its own) gives exactly what hl7apy's full parse of the text gives
(`hl7v2._full_components`), failures included."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.mllp import hl7v2
from api.mllp.hl7v2 import STANDARD, Encoding
from tests.conftest import CONFORMANCE, require
from tests.mllp.support import normalise

# every field the handlers read, and a few they don't (a segment of no known structure, a field past the table)
FIELDS = [("PID", n) for n in (2, 3, 5, 6, 7, 8, 11, 13, 14, 18, 19, 30)] + [
    ("MRG", 1), ("QPD", 3), ("QPD", 4), ("QPD", 8), ("ZZZ", 2), ("PID", 60)]
VERSIONS = ["2.3.1", "2.5"]
OTHER = Encoding("|", "#", "*", "!", "$")
# leaves a real feed sends: names, codes, dates and times, numbers with leading zeros or not, blanks,
# escapes, and text that looks like the template's own placeholders
LEAVES = ["", " ", "  ", "A", "ab c", " SMITH ", "MR", "ISO", "L", "0309", "2576057", "12.5", "-3", "x12",
          "19690908", "196909", "1969", "1969-09-08", "19690908123456", "20200101120000+0500", "20201301",
          "2.16.840.1.113883.3.72.5.9.1", "X\\S\\Y", "\\T\\", "\\E\\a", "!S!", "L0L", "L12L", "\"\""]


def _both(segment: str, number: int, text: str, version: str, enc: Encoding) -> tuple[Any, Any]:
    out = []
    for parse in (hl7v2._parse_components, hl7v2._full_components):
        try:
            out.append(parse(segment, number, text, version, enc))
        except Exception as exc:  # noqa: BLE001 - both ways must fail alike
            out.append(("raised", type(exc).__name__))
    return out[0], out[1]


@st.composite
def repetitions(draw: st.DrawFn, enc: Encoding) -> str:
    comps = draw(st.lists(st.lists(st.sampled_from(LEAVES), min_size=1, max_size=4), min_size=1, max_size=9))
    text = enc.component.join(enc.subcomponent.join(subs) for subs in comps)
    if enc is not STANDARD:  # the escape and separators of the other encoding
        text = text.replace("\\", enc.escape)
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), version=st.sampled_from(VERSIONS), data=st.data())
@example(field=("PID", 13), version="2.3.1", data=None)
def test_a_repetition_parses_as_hl7apy_parses_it(field: tuple[str, int], version: str, data: Any) -> None:
    segment, number = field
    if data is None:  # a phone's NM components: hl7apy renders 0309 as 309, and so must the hot path
        texts = [(STANDARD, "^PRN^PH^^^0309^0576057")]
    else:
        enc = data.draw(st.sampled_from([STANDARD, OTHER]))
        texts = [(enc, data.draw(repetitions(enc)))]
    for enc, text in texts:
        fast, full = _both(segment, number, text, version, enc)
        assert fast == full, (segment, number, version, text)


def test_the_nm_leaves_of_a_phone_are_parsed_by_hl7apy() -> None:
    fast, full = _both("PID", 13, "^PRN^PH^^^0416^5550123", "2.5", STANDARD)
    assert fast == full == (("",), ("PRN",), ("PH",), ("",), ("",), ("416",), ("5550123",))


def test_a_shape_is_parsed_by_hl7apy_once() -> None:
    hl7v2._shape_plan.cache_clear()
    for i in range(50):
        hl7v2._parse_components("PID", 5, f"FAMILY{i}^GIVEN{i}^^^^^L", "2.5", STANDARD)
    info = hl7v2._shape_plan.cache_info()
    assert (info.misses, info.hits) == (1, 49)


def test_every_field_of_the_conformance_messages_parses_as_hl7apy_parses_it() -> None:
    directory = CONFORMANCE / "hl7v2"
    if not directory.is_dir():
        require("EMPI_REQUIRE_CONFORMANCE", f"{directory} is absent")
    checked = 0
    for path in sorted(directory.glob("*.hl7")):
        raw = normalise(path.read_bytes())
        for payload in raw.split(b"\x1c\r"):
            payload = payload.strip(b"\x0b\r\n")
            if not payload.startswith(b"MSH"):
                continue
            try:
                msg = hl7v2.split(payload)
            except hl7v2.MessageError:
                continue
            version = hl7v2._library_version(msg.version)
            for segment, number in FIELDS:
                raw_field = msg.raw_field(segment, number)
                for rep in raw_field.split(msg.enc.repetition) if raw_field and raw_field != '""' else []:
                    if rep:
                        fast, full = _both(segment, number, rep, version, msg.enc)
                        assert fast == full, (path.name, segment, number, rep)
                        checked += 1
    assert checked > 200


@pytest.mark.parametrize("version", VERSIONS)
def test_a_date_that_hl7apy_parses_keeps_its_rendering(version: str) -> None:
    for text in ("19690908", "19690908123456", "20200101120000+0500", "1969-09-08", "2020130"):
        fast, full = _both("PID", 7, text, version, STANDARD)
        assert fast == full
